/**
 * The trust policy at work (registry-spec/trust-policy.md §3–4): before `ebpm pull` stores a
 * package and before `ebpm run` loads one, `admitPackage` finds the package's signatures,
 * verifies them against the keys the policy trusts for its repository, and allows, warns or
 * refuses. Both call it at their one resolution point, with the registry (pull) or the store
 * (run, offline) as the place signatures are read from. A package run from a local path goes
 * through `admitLocal` instead: the `local` scope, signatures from its own layout, no record.
 *
 * Decision records: the store keeps one small JSON file per (repository, digest) under
 * `<store>/trust/<hex of the digest>.<16 hex of sha256(repository)>.json`, holding
 * `{"repository": …, …DecisionRecord}`. A file beside the layout, not an index annotation,
 * so that records never travel in exports (another machine's policy decided them) and are
 * written without taking the index lock. A record made under the current policy that
 * admitted a signed (or unchecked) package spares the next run the verification; a policy
 * change makes every record stale, so the package is checked again before it runs. A missing,
 * stale or unreadable record only ever costs a new check.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, parseDigest, type Digest } from '../core/digest.js';
import { EbpmError, withContext } from '../core/errors.js';
import { canonicalJson, decodeJson, isObject } from '../core/json.js';
import type { Descriptor } from '../core/oci.js';
import type { ReadOnlyTarget } from '../content/storage.js';
import type { KeylessTrust } from '../sign/identity.js';
import type { TrustedKey } from '../sign/keys.js';
import { jwsSigner, type NotationSignature } from '../sign/notation.js';
import {
  evaluate,
  isRecordCurrent,
  keylessFor,
  LOCAL_SCOPE,
  scopeFor,
  trustedKeysFor,
  type Decision,
  type DecisionRecord,
  type Requirement,
  type TrustPolicy,
} from '../sign/policy.js';
import { verifySignatures, type Verification } from '../sign/verify.js';
import type { Context } from './context.js';
// References (and semver ranges with them) load only for references: a local path's admission needs none.
import type { Resolved } from './resolve.js';
import { isUnwritable } from '../store/disk.js';
import type { OciLayout } from '../store/layout.js';
// sign.ts (signature lookups, with the copy routine) is imported where signatures are read:
// a local run under `none` reads none.
import type { FoundSignatures } from './sign.js';

/** `RECORDS_DIR` is the directory of decision records inside the store. */
export const RECORDS_DIR = 'trust';

/** `requirementFor` is what `policy` requires of a package of `repository` (or of `LOCAL_SCOPE`, for a local path). */
export function requirementFor(policy: TrustPolicy, repository: string): Requirement {
  return scopeFor(policy, repository).require;
}

export interface VerifyPackageRequest {
  /** Where the signatures are: a registry repository, the embedded registry, the store. */
  readonly source: ReadOnlyTarget;
  /** The package's manifest (or index), as its reference resolved. */
  readonly subject: Descriptor;
  readonly keys: readonly TrustedKey[];
  /** The trusted root and identities keyless signatures are checked against. */
  readonly keyless?: KeylessTrust;
  readonly signal?: AbortSignal;
}

/** `PackageVerification` is the verification and the signatures it looked at. */
export interface PackageVerification {
  readonly verification: Verification;
  readonly found: FoundSignatures;
}

/** `verifyPackage` finds the signatures `source` holds for `subject` and checks them against `keys` and `keyless` (both formats). */
export async function verifyPackage(req: VerifyPackageRequest): Promise<PackageVerification> {
  const { findSignatures } = await import('./sign.js');
  const found = await findSignatures(req.source, req.subject, req.signal);
  const verification = await verifySignatures({
    digest: req.subject.digest,
    legacy: found.legacy,
    referred: found.referred,
    bundles: found.bundles,
    trustedKeys: req.keys,
    ...(req.keyless ? { keyless: req.keyless } : {}),
    ...(found.signedManifest === undefined ? {} : { signedManifest: found.signedManifest }),
  });
  return { verification, found };
}

export interface AdmitRequest {
  /** `registry/namespace/name`: what the policy's scopes match. */
  readonly repository: string;
  readonly subject: Descriptor;
  readonly policy: TrustPolicy;
  /** Where signatures are read: the registry during a pull, the store for a stored package. */
  readonly signatures: ReadOnlyTarget;
  /** The local store (its `root`): decisions are recorded there, and a current one is reused. */
  readonly store?: { readonly root: string };
  readonly signal?: AbortSignal;
  readonly now?: Date;
  /** Called with the signatures read, when they were read (not for a reused record): pull stores them without asking again. */
  readonly onSignatures?: (found: FoundSignatures) => void;
}

/** `Admission` is an allowed package's decision; `warn` decisions carry the line to show. */
export interface Admission {
  readonly repository: string;
  readonly decision: Decision;
  /** A record made under the current policy was reused: no signature was read. */
  readonly cached: boolean;
  /** Present when signatures were checked now. */
  readonly verification?: Verification;
}

/**
 * `admitPackage` applies the trust policy to `subject` before anything of it is stored or
 * loaded. It reuses a current record that admitted the package signed (or under `none`);
 * otherwise it verifies the signatures `signatures` holds, evaluates the policy and records
 * the decision in `store`. A refused package is `TRUST_REFUSED`, one line naming the package,
 * its digest and why (`data.reason`: `no-signature`, `untrusted-key`, `digest-mismatch`,
 * `bad-signature`); an allowed one is returned with `decision.warn` set when the user must be
 * told it is not signed by a trusted key.
 */
export async function admitPackage(req: AdmitRequest): Promise<Admission> {
  const { repository, subject, policy } = req;
  let record: StoredRecord | undefined;
  if (req.store !== undefined) {
    record = readRecord(req.store.root, repository, subject.digest);
    if (record !== undefined && isRecordCurrent(record, policy) && record.allow && (record.reason === 'signed' || record.reason === 'not-required')) {
      const decision: Decision = {
        allow: true,
        level: record.level,
        reason: record.reason,
        ...(record.key ? { key: record.key } : {}),
        warn: false,
        message: '',
        record,
      };
      return { repository, decision, cached: true };
    }
  }
  const { verification, found } = await verifyPackage({
    source: req.signatures,
    subject,
    keys: trustedKeysFor(policy, repository),
    ...withKeyless(keylessFor(policy, repository)),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  req.onSignatures?.(found);
  const decision = evaluate(policy, repository, verification, req.now);
  // The same decision as recorded (an unsigned package under `warn`, checked on every run) is not written again.
  if (req.store !== undefined && !sameDecision(record, decision.record)) await writeRecord(req.store.root, repository, decision.record);
  if (!decision.allow) {
    throw new EbpmError('TRUST_REFUSED', `refused ${decision.message}`, {
      hint: `sign it with a trusted key (ebpm sign <ref> --key <key>), or trust its signer's public key or certificate identity in ${policy.source === 'built-in default' ? 'the trust policy' : policy.source}`,
      data: { repository, digest: subject.digest, reason: decision.reason, scope: decision.record.scope, policy: policy.source },
    });
  }
  return { repository, decision, cached: false, verification };
}

export interface LocalAdmitRequest {
  /** The path as the user gave it: messages name the package by it. */
  readonly path: string;
  readonly policy: TrustPolicy;
  /** What a signature must sign: the manifest a layout's tag names, a file's own sha256. */
  readonly digest: Digest;
  /** The layout the package is read from, which holds its signatures too (`.sig` tags, referrers); a file or a package directory holds none. */
  readonly layout?: { readonly target: ReadOnlyTarget; readonly subject: Descriptor };
  readonly signal?: AbortSignal;
}

/**
 * `admitLocal` applies the policy's `local` scope (else `*`) to a package run from a local
 * path, before anything of it is loaded: `TRUST_REFUSED` as `admitPackage` refuses, or the
 * admission, with `decision.warn` set when the user must be told. No decision is recorded: a
 * path's content can change between two runs.
 */
export async function admitLocal(req: LocalAdmitRequest): Promise<Admission> {
  const keys = trustedKeysFor(req.policy, LOCAL_SCOPE);
  const keyless = withKeyless(keylessFor(req.policy, LOCAL_SCOPE));
  const verification = req.layout
    ? (await verifyPackage({ source: req.layout.target, subject: req.layout.subject, keys, ...keyless, ...(req.signal ? { signal: req.signal } : {}) }))
        .verification
    : await verifySignatures({ digest: req.digest, legacy: [], bundles: [], trustedKeys: keys });
  const decision = evaluate(req.policy, LOCAL_SCOPE, verification, undefined, req.layout ? `${req.path}@${req.digest}` : req.path);
  if (!decision.allow) {
    const scope = `give local paths a "local" scope in ${req.policy.source}`;
    throw new EbpmError('TRUST_REFUSED', `refused ${decision.message}`, {
      hint: req.layout
        ? `sign it with a trusted key (export a signed package with its signatures), or ${scope}`
        : `a file or a package directory carries no signature: run a signed OCI layout, or ${scope}`,
      data: { path: req.path, digest: req.digest, reason: decision.reason, scope: decision.record.scope, policy: req.policy.source },
    });
  }
  return { repository: LOCAL_SCOPE, decision, cached: false, verification };
}

/** Whether `stored` records the decision `decision` is, whenever each was reached. */
function sameDecision(stored: StoredRecord | undefined, decision: DecisionRecord): boolean {
  if (stored === undefined) return false;
  const { repository: _, checkedAt: __, ...was } = stored;
  const { checkedAt: ___, ...now } = decision;
  return canonicalJson(was) === canonicalJson(now);
}

/** `StoredRecord` is a decision record as the store keeps it: with the repository it applies to. */
export interface StoredRecord extends DecisionRecord {
  readonly repository: string;
}

/** `recordPath` is the file holding the decision for `repository` and `digest` in the store at `root`. */
export function recordPath(root: string, repository: string, digest: Digest): string {
  const { encoded } = parseDigest(digest);
  const repo = createHash('sha256').update(repository).digest('hex').slice(0, 16);
  return join(root, RECORDS_DIR, `${encoded}.${repo}.json`);
}

/**
 * `readRecord` returns the stored decision for `repository` and `digest`, or `undefined` when
 * there is none or it is not one ebpm wrote for them (a damaged file is simply checked again).
 * Read synchronously: on a stored run's path, the one thread-pool call would start libuv's pool
 * of four threads for a file of a few hundred bytes.
 */
export function readRecord(root: string, repository: string, digest: Digest): StoredRecord | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(recordPath(root, repository, digest));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const doc = decodeJson(bytes)?.value;
  if (!isObject(doc)) return undefined;
  const key = doc.key;
  const keyOk =
    key === undefined ||
    (isObject(key) &&
      typeof key.label === 'string' &&
      typeof key.fingerprint === 'string' &&
      (key.format === 'legacy' || key.format === 'bundle' || key.format === 'referrer') &&
      (key.identity === undefined || (isObject(key.identity) && typeof key.identity.subject === 'string' && typeof key.identity.issuer === 'string')));
  const ok =
    doc.repository === repository &&
    doc.digest === digest &&
    isDigest(doc.policyDigest) &&
    typeof doc.scope === 'string' &&
    (doc.level === 'require-signature' || doc.level === 'warn' || doc.level === 'none') &&
    typeof doc.allow === 'boolean' &&
    ['signed', 'not-required', 'no-signature', 'untrusted-key', 'digest-mismatch', 'bad-signature'].includes(doc.reason as string) &&
    typeof doc.checkedAt === 'string' &&
    keyOk;
  return ok ? (doc as unknown as StoredRecord) : undefined;
}

/**
 * `writeRecord` replaces the record atomically (temp file, then rename), so readers never see
 * half of one. A store that takes no writes (read-only, full) records nothing: a missing record
 * only costs a new check next time.
 */
export async function writeRecord(root: string, repository: string, record: DecisionRecord): Promise<void> {
  const path = recordPath(root, repository, record.digest);
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // Not recursive: on a read-only file system, a recursive mkdir fails with ENOENT instead of EROFS.
    await mkdir(join(root, RECORDS_DIR)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    await writeFile(tmp, JSON.stringify({ repository, ...record }) + '\n', { mode: 0o644, flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (!isUnwritable(e)) throw e;
  }
}

/** `ReferenceVerification` is what `ebpm verify <ref>` reports. */
export interface ReferenceVerification {
  /** `registry/namespace/name` */
  readonly repository: string;
  /** The store's name for the package, or the reference as resolved at the registry. */
  readonly reference: string;
  readonly subject: Descriptor;
  /** Where the package and its signatures were read: the local store (offline) or its registry. */
  readonly from: 'store' | 'registry';
  /** Which signers counted: the `--key` files and `--certificate-*` identities, or the trust policy's for the repository. */
  readonly keys: 'given' | 'policy';
  readonly verification: Verification;
  /** The policy's decision, when the policy's keys were used. */
  readonly decision?: Decision;
  /** Notation signatures beside the package: recognised, never verified. */
  readonly notation: readonly NotationSignature[];
}

/** `LocatedPackage` is a user reference found where its signatures are read from. */
export interface LocatedPackage {
  /** `registry/namespace/name` */
  readonly repository: string;
  readonly resolved: Resolved;
  /** Where the package and its signatures are read: the local store (offline) or its registry. */
  readonly from: 'store' | 'registry';
  readonly source: ReadOnlyTarget;
}

/** `locatePackage` finds the package `input` names in the store when it holds it (no network), else at its registry. */
export async function locatePackage(ctx: Context, input: string, signal?: AbortSignal): Promise<LocatedPackage> {
  const [{ storedRepository }, { openRepository, parseUserReference, resolveRemote, resolveStored }] = await Promise.all([
    import('./sign.js'),
    import('./resolve.js'),
  ]);
  const ref = parseUserReference(ctx, input);
  const repository = `${ref.registry}/${ref.repository}`;
  const store = await ctx.store();
  const opts = signal === undefined ? {} : { signal };
  const stored = await resolveStored(store, ref, opts);
  if (stored !== undefined) return { repository, from: 'store', source: storedRepository(store, repository), resolved: stored };
  try {
    return { repository, from: 'registry', source: await openRepository(ctx, ref), resolved: await resolveRemote(ctx, ref, opts) };
  } catch (e) {
    throw await (await import('./guess.js')).withStoredGuess(ctx, input, e);
  }
}

/**
 * `verifyReference` checks the signatures of the package `input` names (`locatePackage`): with
 * the given keys and keyless identities, or else (neither given) with those the trust policy
 * names for the repository. It reports; it neither refuses nor records.
 */
export async function verifyReference(
  ctx: Context,
  input: string,
  opts: { keys?: readonly TrustedKey[]; keyless?: KeylessTrust; policy: TrustPolicy; signal?: AbortSignal },
): Promise<ReferenceVerification> {
  try {
    const where = await locatePackage(ctx, input, opts.signal);
    const repository = where.repository;
    const signal = opts.signal === undefined ? {} : { signal: opts.signal };
    const given = opts.keys !== undefined || opts.keyless !== undefined;
    const keys = given ? (opts.keys ?? []) : trustedKeysFor(opts.policy, repository);
    const keyless = withKeyless(given ? opts.keyless : keylessFor(opts.policy, repository));
    const { verification, found } = await verifyPackage({ source: where.source, subject: where.resolved.descriptor, keys, ...keyless, ...signal });
    const notation = await notationSignatures(where.source, found, opts.signal);
    const base = { repository, reference: where.resolved.storeRef, subject: where.resolved.descriptor, from: where.from, verification, notation };
    return given ? { ...base, keys: 'given' } : { ...base, keys: 'policy', decision: evaluate(opts.policy, repository, verification) };
  } catch (e) {
    throw withContext(`verify ${input}`, e);
  }
}

function withKeyless(keyless: KeylessTrust | undefined): { keyless?: KeylessTrust } {
  return keyless === undefined ? {} : { keyless };
}

/** `notationSignatures` reads the Notation signatures among `found`'s attached referrers, with the signer their JWS envelope names. */
export async function notationSignatures(source: ReadOnlyTarget, found: FoundSignatures, signal?: AbortSignal): Promise<NotationSignature[]> {
  const { referrerContent } = await import('./sign.js');
  const out: NotationSignature[] = [];
  for (const r of found.attached) {
    if (r.classified.kind !== 'notation') continue;
    const envelope = r.classified.envelope;
    const content = envelope === 'jws' ? await referrerContent(source, r, signal) : undefined;
    const signer = content === undefined ? undefined : jwsSigner(content);
    const manifest = r.descriptor.digest;
    out.push(signer === undefined ? { manifest, envelope } : { manifest, envelope, signer });
  }
  return out;
}

/**
 * `admitResolved` is `admitPackage` as pull and run call it, for a resolved reference: the
 * signatures are read from its registry (`'registry'`, before anything is stored) or from a
 * store holding it (offline). The decision is recorded in the context's store, except when the
 * package is read from another one (the sudo user's store, which root only reads).
 */
export async function admitResolved(
  ctx: Context,
  r: Resolved,
  from: 'registry' | OciLayout,
  signal?: AbortSignal,
  onSignatures?: (found: FoundSignatures) => void,
): Promise<Admission> {
  const repository = `${r.ref.registry}/${r.ref.repository}`;
  const store = await ctx.store();
  const signatures =
    from === 'registry' ? await (await import('./resolve.js')).openRepository(ctx, r.ref) : (await import('./sign.js')).storedRepository(from, repository);
  const own = from === 'registry' || from.root === store.root;
  return admitPackage({
    repository,
    subject: r.descriptor,
    policy: await ctx.trustPolicy(),
    signatures,
    ...(own ? { store } : {}),
    ...(signal ? { signal } : {}),
    ...(onSignatures ? { onSignatures } : {}),
  });
}
