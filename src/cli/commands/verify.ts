/**
 * `ebpm verify` has two meanings, told apart by the reference:
 * - `ebpm verify <ref> [--key k.pub]...`: check the package's signatures (both formats), from
 *   the local store when it holds the package (offline), else from its registry; with the
 *   given public keys, or else with the keys the trust policy names for its repository. Says
 *   who signed what; a package no given or trusted key signed exits 3. With `--list`: every
 *   signature, attestation, SBOM and Notation signature attached, as a tree (exit 0).
 * - `ebpm verify` (no reference): re-hash the local store and repair it by pulling again
 *   what was dropped (services/store.ts `verifyAndRepair`).
 */
import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { describeNotation } from '../../sign/notation.js';
import { describeFailure } from '../../sign/verify.js';
import { readTrustedKeyFile } from '../../services/sign.js';
import { listAttached, type AttachedItem, type AttachedListing } from '../../services/attached.js';
import { verifyAndRepair } from '../../services/store.js';
import { verifyReference, type ReferenceVerification } from '../../services/trust.js';
import { context, VERBOSE_FLAG, writeJson, writeLines } from '../dist.js';
import { resolve } from 'node:path';

const cmd: Command = {
  name: 'verify',
  summary:
    "With a reference: check its signatures (--key files, else the trust policy's keys), offline when stored. Without: re-hash and repair the local store.",
  usage: 'ebpm verify <reference> [--key <cosign.pub>]... [--list] [--json] | ebpm verify [--json]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, {
      ...JSON_FLAG,
      ...VERBOSE_FLAG,
      key: { type: 'string', multiple: true, default: [] },
      list: { type: 'boolean', default: false },
    });
    if (positionals.length > 1) throw new EbpmError('USAGE', 'verify: expected at most one reference', { hint: `usage: ${cmd.usage}` });
    const ctx = await context(io, values.verbose);
    if (positionals.length === 0) {
      if (values.key.length > 0) throw new EbpmError('USAGE', 'verify: --key needs a reference to check', { hint: 'ebpm verify <reference> --key cosign.pub' });
      if (values.list) throw new EbpmError('USAGE', 'verify: --list needs a reference', { hint: 'ebpm verify <reference> --list' });
      const r = await verifyAndRepair(ctx, { repair: true });
      if (values.json) writeJson(io, r);
      else {
        writeLines(io, [
          `verified ${r.verifiedBlobs} blobs in ${ctx.storePath}`,
          ...r.corruptBlobs.map((d) => `removed corrupt blob ${d}`),
          ...r.repaired.map((ref) => `pulled again ${ref}`),
          ...r.unrepaired.map((u) => `could not repair ${u.ref}: ${u.reason}`),
        ]);
      }
      return r.unrepaired.length > 0 ? 1 : 0;
    }
    const keys = values.key.length === 0 ? undefined : await Promise.all(values.key.map((k) => readTrustedKeyFile(resolve(io.cwd, k))));
    if (values.list) {
      const listing = await listAttached(ctx, positionals[0]!, { policy: await ctx.trustPolicy(), ...(keys ? { keys } : {}) });
      if (values.json) writeJson(io, listing);
      else writeLines(io, listingLines(listing));
      return 0;
    }
    const r = await verifyReference(ctx, positionals[0]!, { policy: await ctx.trustPolicy(), ...(keys ? { keys } : {}) });
    if (values.json) {
      writeJson(io, jsonReport(r));
      return r.verification.verified ? 0 : 3;
    }
    const v = r.verification;
    const at = `${r.repository}@${r.subject.digest}`;
    if (!v.verified) {
      // A package only Notation signed is not "not signed": say who signed it, and why that does not count.
      const why = v.reason === 'no-signature' && r.notation.length > 0 ? describeNotation(r.notation) : `${describeFailure(v.reason)}: ${v.detail}`;
      throw new EbpmError('SIGNATURE_NOT_VERIFIED', `verify ${positionals[0]}: ${at}: ${why}`, {
        hint:
          r.keys === 'given'
            ? "check that the key is the signer's public key, or sign the package (ebpm sign)"
            : "pass the signer's public key with --key, or list it in the trust policy",
        data: { reason: v.reason, digest: r.subject.digest, repository: r.repository },
      });
    }
    writeLines(io, [
      `verified ${at} (from the ${r.from}${r.keys === 'policy' ? ', keys of the trust policy' : ''})`,
      ...v.signedBy.map((s) => `  signed by ${s.keyLabel} (key ${s.fingerprint}), ${s.format} signature`),
      ...v.rejected.map((x) => `  ignored ${x.format} signature: ${x.reason}: ${x.detail}`),
    ]);
    return 0;
  },
};

/** The `--list` tree: the package, then one line per attached item (kind, where, signer, verdict). */
function listingLines(l: AttachedListing): string[] {
  const head = `${l.repository}@${l.digest} (from the ${l.from}${l.keys === 'policy' ? ', keys of the trust policy' : ''})`;
  if (l.items.length === 0) return [head, '└── nothing attached'];
  return [head, ...l.items.map((item, i) => `${i === l.items.length - 1 ? '└──' : '├──'} ${itemLine(item)}`)];
}

function itemLine(item: AttachedItem): string {
  const where = item.shape === 'legacy-tag' ? `legacy tag ${item.tag}` : `${item.shape === 'bundle' ? 'bundle referrer' : 'OCI 1.1 referrer'} ${item.manifest}`;
  const what =
    item.predicateType ??
    (item.envelope !== undefined ? `${item.envelope === 'unknown' ? 'unknown' : item.envelope.toUpperCase()} envelope` : undefined) ??
    (item.kind === 'sbom' || item.kind === 'other' ? item.artifactType : undefined);
  const s = item.signer;
  const signer = s.key ? `key ${s.key}` : s.identity ? `${s.identity}${s.issuer ? ` (issuer ${s.issuer})` : ''}` : s.subject ? s.subject : undefined;
  const t = item.trust;
  const verdict = t.status === 'trusted' ? `trusted (${t.key})` : t.status === 'not-verified' ? t.detail : `${describeFailure(t.status)}: ${t.detail}`;
  return `${item.kind} (${where}${what ? `, ${what}` : ''})${signer ? `, ${signer}` : ''}: ${verdict}`;
}

function jsonReport(r: ReferenceVerification): unknown {
  const v = r.verification;
  return {
    repository: r.repository,
    reference: r.reference,
    digest: r.subject.digest,
    from: r.from,
    keys: r.keys,
    verified: v.verified,
    ...(v.verified ? { signedBy: v.signedBy } : { reason: v.reason, detail: v.detail }),
    rejected: v.rejected,
    notation: r.notation,
  };
}

export default cmd;
