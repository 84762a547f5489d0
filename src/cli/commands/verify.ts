/**
 * `ebpm verify` has two meanings, told apart by the reference:
 * - `ebpm verify <ref> [--key k.pub]... [--certificate-identity[-regexp] … --certificate-oidc-issuer[-regexp] … --trusted-root f]`:
 *   check the package's signatures (both formats), from the local store when it holds the
 *   package (offline), else from its registry; with the given public keys and keyless identity
 *   (cosign's flag names), or else with those the trust policy names for its repository. Says
 *   who signed what; a package no given or trusted signer signed exits 3. With `--list`: every
 *   signature, attestation, SBOM and Notation signature attached, as a tree (exit 0).
 * - `ebpm verify` (no reference): re-hash the local store and repair it by pulling again
 *   what was dropped (services/store.ts `verifyAndRepair`).
 */
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { describeNotation } from '../../sign/notation.js';
import { describeFailure, formatName } from '../../sign/verify.js';
import type { KeylessTrust, TrustedIdentity } from '../../sign/identity.js';
import { identityProblems } from '../../sign/identity.js';
import type { SignedBy } from '../../sign/verify.js';
import { listAttached, type AttachedItem, type AttachedListing } from '../../api/attached.js';
import { readTrustedKeyFile, readTrustedRootFile } from '../../api/sign.js';
import { verifyAndRepair } from '../../api/store.js';
import { verifyReference, type ReferenceVerification } from '../../api/trust.js';
import { context, VERBOSE_FLAG, writeJson, writeLines } from '../dist.js';
import { resolve } from 'node:path';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  key: { type: 'string', multiple: true, default: [], valueName: '<cosign.pub>', description: "a signer's public key" },
  'certificate-identity': { type: 'string', valueName: '<san>', description: "the keyless signer's identity (its certificate's subject alternative name)" },
  'certificate-identity-regexp': { type: 'string', valueName: '<regexp>', description: "a regular expression the keyless signer's identity matches" },
  'certificate-oidc-issuer': { type: 'string', valueName: '<issuer>', description: 'the OIDC issuer of the keyless identity' },
  'certificate-oidc-issuer-regexp': { type: 'string', valueName: '<regexp>', description: 'a regular expression the OIDC issuer matches' },
  'trusted-root': {
    type: 'string',
    valueName: '<trusted_root.json>',
    description: 'the sigstore trusted root keyless signatures are checked against, offline',
  },
  list: {
    type: 'boolean',
    default: false,
    description: 'list every signature, attestation, SBOM and Notation signature attached, its signer and whether it is trusted',
  },
} as const satisfies Flags;

const cmd: Command = {
  name: 'verify',
  summary:
    "With a reference: check its signatures (--key files and --certificate-identity, else the trust policy's keys and identities), offline when stored; --list shows everything attached. Without: re-hash and repair the local store.",
  usage:
    'ebpm verify <reference> [--key <cosign.pub>]... [--certificate-identity[-regexp] <san> --certificate-oidc-issuer[-regexp] <issuer> --trusted-root <trusted_root.json>] [--list] [--json] | ebpm verify [--json]',
  flags: FLAGS,
  examples: [
    'ebpm verify sigsnoop:1.2.0 --key cosign.pub',
    'ebpm verify ghcr.io/me/sigsnoop:1.2.0 --certificate-identity me@example.com --certificate-oidc-issuer https://accounts.google.com --trusted-root trusted_root.json',
    'ebpm verify sigsnoop:1.2.0 --list',
    'ebpm verify',
  ],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    const identity = identityFlags(values);
    if (positionals.length > 1) throw new EbpmError('USAGE', 'verify: expected at most one reference', { hint: `usage: ${cmd.usage}` });
    const ctx = await context(io, values.verbose);
    if (positionals.length === 0) {
      if (values.key.length > 0) throw new EbpmError('USAGE', 'verify: --key needs a reference to check', { hint: 'ebpm verify <reference> --key cosign.pub' });
      if (values.list) throw new EbpmError('USAGE', 'verify: --list needs a reference', { hint: 'ebpm verify <reference> --list' });
      if (identity !== undefined || values['trusted-root'] !== undefined) {
        throw new EbpmError('USAGE', 'verify: --certificate-identity and --trusted-root need a reference to check', { hint: KEYLESS_HINT });
      }
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
    const keyless = await keylessFlags(identity, values['trusted-root'], io.cwd);
    const given = { policy: await ctx.trustPolicy(), ...(keys ? { keys } : {}), ...(keyless ? { keyless } : {}) };
    if (values.list) {
      const listing = await listAttached(ctx, positionals[0]!, given);
      if (values.json) writeJson(io, listing);
      else writeLines(io, listingLines(listing));
      return 0;
    }
    const r = await verifyReference(ctx, positionals[0]!, given);
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
            ? "check that the key is the signer's public key or the identity is the signer's, or sign the package (ebpm sign)"
            : "pass the signer's public key with --key or its identity with --certificate-identity, or list it in the trust policy",
        data: { reason: v.reason, digest: r.subject.digest, repository: r.repository },
      });
    }
    writeLines(io, [
      `verified ${at} (from the ${r.from}${r.keys === 'policy' ? ', keys of the trust policy' : ''})`,
      ...v.signedBy.map((s) => `  signed by ${signer(s)}, ${formatName(s.format)} signature`),
      ...v.rejected.map((x) => `  ignored ${formatName(x.format)} signature: ${x.reason}: ${x.detail}`),
    ]);
    return 0;
  },
};

const KEYLESS_HINT =
  'ebpm verify <reference> --certificate-identity <san> --certificate-oidc-issuer <issuer> --trusted-root trusted_root.json (or the -regexp forms)';

const FLAG_OF: Readonly<Record<string, string>> = {
  subject: '--certificate-identity',
  subjectRegExp: '--certificate-identity-regexp',
  issuer: '--certificate-oidc-issuer',
  issuerRegExp: '--certificate-oidc-issuer-regexp',
};

/** The identity the `--certificate-*` flags give, checked as the policy checks one; `undefined` without any. */
function identityFlags(values: Record<string, unknown>): TrustedIdentity | undefined {
  const id = Object.fromEntries(
    Object.entries(FLAG_OF).flatMap(([field, flag]) => (values[flag.slice(2)] === undefined ? [] : [[field, values[flag.slice(2)]]])),
  );
  if (Object.keys(id).length === 0) return undefined;
  const problems = identityProblems(id);
  if (problems.length > 0) {
    const named = problems.map((p) => p.replace(/\b(subjectRegExp|issuerRegExp|subject|issuer)\b/g, (f) => FLAG_OF[f]!));
    throw new EbpmError('USAGE', `verify: ${named.join('; ')}`, { hint: KEYLESS_HINT });
  }
  return id as TrustedIdentity;
}

/** `--trusted-root` and the identity flags go together: keyless verification is offline, against a given root. */
async function keylessFlags(identity: TrustedIdentity | undefined, rootPath: string | undefined, cwd: string): Promise<KeylessTrust | undefined> {
  if (identity === undefined && rootPath === undefined) return undefined;
  if (rootPath === undefined)
    throw new EbpmError('USAGE', 'verify: --certificate-identity needs --trusted-root (ebpm verifies keyless signatures offline)', { hint: KEYLESS_HINT });
  if (identity === undefined)
    throw new EbpmError('USAGE', 'verify: --trusted-root needs --certificate-identity and --certificate-oidc-issuer', { hint: KEYLESS_HINT });
  return { root: await readTrustedRootFile(resolve(cwd, rootPath)), identities: [identity] };
}

/** Who signed: a key by label and fingerprint, a keyless signer by identity, certificate key and root. */
function signer(s: SignedBy): string {
  if (s.identity === undefined) return `${s.keyLabel} (key ${s.fingerprint})`;
  return `${s.identity.subject} (issuer ${s.identity.issuer}, key ${s.fingerprint}, trusted root ${s.keyLabel})`;
}

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
  const who = s.key ? `key ${s.key}` : s.identity ? `${s.identity}${s.issuer ? ` (issuer ${s.issuer})` : ''}` : s.subject ? s.subject : undefined;
  const t = item.trust;
  const verdict = t.status === 'trusted' ? `trusted (${t.key})` : t.status === 'not-verified' ? t.detail : `${describeFailure(t.status)}: ${t.detail}`;
  return `${item.kind} (${where}${what ? `, ${what}` : ''})${who ? `, ${who}` : ''}: ${verdict}`;
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
