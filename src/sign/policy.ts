// The trust policy: which keys and keyless identities are trusted for which repositories, and
// whether a signature is required there. Format and rationale: registry-spec/trust-policy.md (schema in
// registry-spec/schemas/trust-policy.schema.json). Parsing is pure: key files are read
// through the function the caller passes.
import { sha256Digest, type Digest } from '../core/digest.js';
import { EbpmError, assertNever } from '../core/errors.js';
import { canonicalJson, decodeJson, isObject, notObjectReason } from '../core/json.js';
import {
  describeIdentity,
  identityMatches,
  type CertificateIdentity,
  identityProblems,
  parseTrustedRoot,
  type KeylessTrust,
  type TrustedIdentity,
  type TrustedRoot,
} from './identity.js';
import { readPublicKey, type PublicKey, type TrustedKey } from './keys.js';
import { describeFailure, type FailureReason, type FoundFormat, type SignedBy, type Verification } from './verify.js';

/** `Requirement` of a scope: refuse unsigned, run them with a warning, or do not check. */
export type Requirement = 'require-signature' | 'warn' | 'none';
const REQUIREMENTS: readonly Requirement[] = ['require-signature', 'warn', 'none'];

/** `Scope` is one entry of the policy: a pattern and what it requires. */
export interface Scope {
  /** `*`, `local`, `registry`, `registry/namespace…` or `registry/namespace/name` */
  readonly pattern: string;
  readonly require: Requirement;
  readonly keys: readonly TrustedKey[];
  /** Keyless signers trusted here, with the root their certificates must chain to (both or neither). */
  readonly identities: readonly TrustedIdentity[];
  readonly trustedRoot?: TrustedRoot;
}

/** `TrustPolicy` is a parsed policy with its keys loaded. */
export interface TrustPolicy {
  /** sha256 of the policy's meaning (scopes, requirements, key fingerprints): formatting and key file paths do not change it, key contents do. */
  readonly digest: Digest;
  readonly scopes: readonly Scope[];
  /** Where it came from (`built-in default` or a file path), for messages. */
  readonly source: string;
}

/** Current (and only) format version. */
export const POLICY_VERSION = 1;

/**
 * `LOCAL_SCOPE` is the reserved pattern that packages run from a local path (a directory, an
 * OCI layout, a file) are matched by, and only they; a policy without it applies `*` to them
 * (registry-spec/trust-policy.md §3). No registry is named `local`: a host without a dot or a
 * port is read as a Docker Hub namespace.
 */
export const LOCAL_SCOPE = 'local';

/**
 * `DEFAULT_POLICY` applies when no policy file exists: `warn` for every registry, `none` for
 * local paths, no keys. The quick start keeps working with unsigned packages, every unsigned
 * package from a registry says so, and a developer's own builds run quietly
 * (registry-spec/trust-policy.md, "Why warn by default").
 */
export const DEFAULT_POLICY: TrustPolicy = buildPolicy(
  [
    { pattern: '*', require: 'warn', keys: [], identities: [] },
    { pattern: LOCAL_SCOPE, require: 'none', keys: [], identities: [] },
  ],
  'built-in default',
);

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/**
 * `parsePolicy` reads a policy file's bytes. Every problem is listed in one `POLICY_INVALID`
 * (`data.fields`): unknown fields, bad patterns, unknown or unreadable keys and trusted roots,
 * bad identities, `require-signature` without a key or identity. `readKeyFile(path)` returns
 * the text of a key or trusted root file (relative paths are the caller's to resolve, usually
 * against the policy file's directory).
 */
export function parsePolicy(bytes: Uint8Array, source: string, readKeyFile: (path: string) => string): TrustPolicy {
  const bad: string[] = [];
  const doc = decodeJson(bytes);
  if (doc === undefined || !isObject(doc.value)) throw invalid(source, [`policy: ${notObjectReason(doc)}`]);
  const root = doc.value;
  unknownFields(root, ['version', 'keys', 'trustedRoots', 'scopes'], '', bad);
  if (root.version !== POLICY_VERSION) bad.push(`version: must be ${POLICY_VERSION}`);

  const keys = new Map<string, TrustedKey>();
  const keyDoc = root.keys ?? {};
  if (!isObject(keyDoc)) bad.push('keys: not an object');
  else {
    for (const [label, spec] of Object.entries(keyDoc)) {
      const at = `keys[${JSON.stringify(label)}]`;
      if (!LABEL.test(label)) bad.push(`${at}: label must match ${LABEL.source}`);
      const key = keyFrom(spec, at, readKeyFile, bad);
      if (key !== undefined) keys.set(label, { label, publicKey: key });
    }
  }

  const roots = new Map<string, TrustedRoot>();
  const rootDoc = root.trustedRoots ?? {};
  if (!isObject(rootDoc)) bad.push('trustedRoots: not an object');
  else {
    for (const [label, spec] of Object.entries(rootDoc)) {
      const at = `trustedRoots[${JSON.stringify(label)}]`;
      if (!LABEL.test(label)) bad.push(`${at}: label must match ${LABEL.source}`);
      const trustedRoot = trustedRootFrom(spec, label, at, readKeyFile, bad);
      if (trustedRoot !== undefined) roots.set(label, trustedRoot);
    }
  }

  const scopes: Scope[] = [];
  if (!isObject(root.scopes)) bad.push('scopes: missing or not an object');
  else {
    for (const [pattern, spec] of Object.entries(root.scopes)) {
      const at = `scopes[${JSON.stringify(pattern)}]`;
      const patternProblem = checkPattern(pattern);
      if (patternProblem !== undefined) bad.push(`${at}: ${patternProblem}`);
      if (!isObject(spec)) {
        bad.push(`${at}: not an object`);
        continue;
      }
      unknownFields(spec, ['require', 'keys', 'identities', 'trustedRoot'], at, bad);
      const require = spec.require as Requirement;
      if (!REQUIREMENTS.includes(require)) bad.push(`${at}.require: must be one of ${REQUIREMENTS.join(', ')}`);
      const labels = spec.keys ?? [];
      const scopeKeys: TrustedKey[] = [];
      if (!Array.isArray(labels)) bad.push(`${at}.keys: not an array`);
      else {
        labels.forEach((l, i) => {
          const key = typeof l === 'string' ? keys.get(l) : undefined;
          if (key === undefined) bad.push(`${at}.keys[${i}]: ${typeof l === 'string' ? `no key labelled ${JSON.stringify(l)} in keys` : 'not a string'}`);
          else if (scopeKeys.includes(key)) bad.push(`${at}.keys[${i}]: ${JSON.stringify(l)} is listed twice`);
          else scopeKeys.push(key);
        });
      }
      const keyless = scopeKeyless(spec, at, roots, bad);
      const none = (v: unknown) => v === undefined || (Array.isArray(v) && v.length === 0);
      if (require === 'require-signature' && none(spec.keys) && none(spec.identities))
        bad.push(`${at}.keys: require-signature needs at least one key or identity`);
      scopes.push({ pattern, require, keys: scopeKeys, ...keyless });
    }
  }
  if (bad.length > 0) throw invalid(source, bad);
  if (!scopes.some((s) => s.pattern === '*')) scopes.push({ pattern: '*', require: 'warn', keys: [], identities: [] });
  return buildPolicy(scopes, source);
}

/**
 * `scopeFor` is the most specific scope for a repository (`registry/namespace/name`):
 * the exact name, then each shorter prefix at a `/` boundary, then `*`. `LOCAL_SCOPE` stands
 * for every local path: only the `local` scope, else `*`, matches it.
 */
export function scopeFor(policy: TrustPolicy, repository: string): Scope {
  let best: Scope | undefined;
  for (const s of policy.scopes) {
    const hit = s.pattern === '*' || repository === s.pattern || (s.pattern !== LOCAL_SCOPE && repository.startsWith(`${s.pattern}/`));
    if (hit && (best === undefined || specificity(s.pattern) > specificity(best.pattern))) best = s;
  }
  return best!; // parsePolicy always adds `*`
}

/** `trustedKeysFor` is what to hand `verifySignatures` for a repository. */
export function trustedKeysFor(policy: TrustPolicy, repository: string): readonly TrustedKey[] {
  return scopeFor(policy, repository).keys;
}

/** `keylessFor` is the trusted root and identities to hand `verifySignatures` for a repository, if its scope trusts any. */
export function keylessFor(policy: TrustPolicy, repository: string): KeylessTrust | undefined {
  const scope = scopeFor(policy, repository);
  return scope.trustedRoot === undefined ? undefined : { root: scope.trustedRoot, identities: scope.identities };
}

/** `DecisionReason` says why a decision went the way it did. */
export type DecisionReason = 'signed' | 'not-required' | FailureReason;

/**
 * `DecisionRecord` is what the store keeps beside a package: enough to show why it was admitted
 * and to re-check it when the policy changes (`isRecordCurrent`).
 */
export interface DecisionRecord {
  readonly policyDigest: Digest;
  readonly scope: string;
  readonly level: Requirement;
  readonly digest: Digest;
  readonly allow: boolean;
  readonly reason: DecisionReason;
  readonly key?: DecisionKey;
  /** RFC 3339: when the decision was first reached (the store does not record the same one again). */
  readonly checkedAt: string;
}

/**
 * `DecisionKey` is the signer that satisfied the policy: a trusted key, or for a keyless
 * signature the certificate's key, the trusted root's label and the certificate's identity.
 */
export interface DecisionKey {
  readonly label: string;
  readonly fingerprint: string;
  readonly format: FoundFormat;
  readonly identity?: CertificateIdentity;
}

/** `Decision` is what run/pull act on: allow or not, and a one-line message when it matters. */
export interface Decision {
  readonly allow: boolean;
  readonly level: Requirement;
  readonly reason: DecisionReason;
  readonly key?: DecisionKey;
  /** True when allowed without a trusted signature under `warn`: tell the user. */
  readonly warn: boolean;
  /** `""` when signed or not required. */
  readonly message: string;
  readonly record: DecisionRecord;
}

/**
 * `evaluate` applies the scope of `repository` to a verification done with
 * `trustedKeysFor` and `keylessFor(policy, repository)`. Only keys and identities (under the
 * scope's trusted root) of that scope count, whatever the verification was run with. Messages name the package `name` (default `repository@digest`).
 */
export function evaluate(
  policy: TrustPolicy,
  repository: string,
  verification: Verification,
  now: Date = new Date(),
  name = `${repository}@${verification.digest}`,
): Decision {
  const scope = scopeFor(policy, repository);
  const inScope = new Map(scope.keys.map((k) => [k.publicKey.fingerprint, k.label] as const));
  const trustedHere = (s: SignedBy) =>
    s.identity === undefined
      ? inScope.has(s.fingerprint)
      : s.keyLabel === scope.trustedRoot?.label && scope.identities.some((id) => identityMatches(id, s.identity!));
  const signed = verification.verified ? verification.signedBy.find(trustedHere) : undefined;
  const key: DecisionKey | undefined = signed && {
    label: signed.identity === undefined ? inScope.get(signed.fingerprint)! : signed.keyLabel,
    fingerprint: signed.fingerprint,
    format: signed.format,
    ...(signed.identity ? { identity: signed.identity } : {}),
  };
  const failure: FailureReason = verification.verified ? 'untrusted-key' : verification.reason;
  let allow: boolean;
  let reason: DecisionReason;
  switch (scope.require) {
    case 'none':
      [allow, reason] = [true, key ? 'signed' : 'not-required'];
      break;
    case 'warn':
    case 'require-signature':
      [allow, reason] = key ? [true, 'signed'] : [scope.require === 'warn', failure];
      break;
    default:
      return assertNever(scope.require, 'requirement');
  }
  const unsigned = reason !== 'signed' && reason !== 'not-required';
  // "not signed" says it all; the other reasons name the signature that failed.
  const detail = verification.verified || verification.reason === 'no-signature' ? '' : `: ${verification.detail}`;
  const by = policy === DEFAULT_POLICY ? 'the built-in default policy' : `${scopeName(scope)} in ${policy.source}`;
  const message = unsigned ? `${name}: ${describeFailure(failure)}${detail} (${scope.require} by ${by})` : '';
  const record: DecisionRecord = {
    policyDigest: policy.digest,
    scope: scope.pattern,
    level: scope.require,
    digest: verification.digest,
    allow,
    reason,
    ...(key ? { key } : {}),
    checkedAt: now.toISOString(),
  };
  return { allow, level: scope.require, reason, ...(key ? { key } : {}), warn: allow && unsigned, message, record };
}

/** `isRecordCurrent` is false once the policy changed since the record was made: check the package again. */
export function isRecordCurrent(record: DecisionRecord, policy: TrustPolicy): boolean {
  return record.policyDigest === policy.digest;
}

function buildPolicy(scopes: Scope[], source: string): TrustPolicy {
  // Keyless fields only where a scope has them: the digests of policies without them, and so
  // their decision records, stay what they were.
  const meaning = scopes
    .map((s) => ({
      pattern: s.pattern,
      require: s.require,
      keys: s.keys.map((k) => k.publicKey.hint).sort(),
      ...(s.trustedRoot ? { trustedRoot: s.trustedRoot.digest, identities: s.identities.map(describeIdentity).sort() } : {}),
    }))
    .sort((a, b) => (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
  return { digest: sha256Digest(new TextEncoder().encode(canonicalJson({ version: POLICY_VERSION, scopes: meaning }))), scopes, source };
}

function keyFrom(spec: unknown, at: string, readKeyFile: (path: string) => string, bad: string[]): PublicKey | undefined {
  if (!isObject(spec)) {
    bad.push(`${at}: not an object`);
    return undefined;
  }
  unknownFields(spec, ['path', 'pem'], at, bad);
  const { path, pem } = spec;
  if ((path === undefined) === (pem === undefined)) {
    bad.push(`${at}: needs exactly one of path, pem`);
    return undefined;
  }
  let text: string;
  if (path !== undefined) {
    if (typeof path !== 'string' || path === '') {
      bad.push(`${at}.path: not a non-empty string`);
      return undefined;
    }
    try {
      text = readKeyFile(path);
    } catch (e) {
      bad.push(`${at}.path: cannot read ${path}: ${(e as { code?: string }).code ?? (e as Error).message}`);
      return undefined;
    }
  } else if (typeof pem !== 'string') {
    bad.push(`${at}.pem: not a string`);
    return undefined;
  } else text = pem;
  try {
    return readPublicKey(text);
  } catch (e) {
    bad.push(`${at}${path !== undefined ? '.path' : '.pem'}: ${(e as Error).message}`);
    return undefined;
  }
}

function trustedRootFrom(spec: unknown, label: string, at: string, readFile: (path: string) => string, bad: string[]): TrustedRoot | undefined {
  if (!isObject(spec)) {
    bad.push(`${at}: not an object`);
    return undefined;
  }
  unknownFields(spec, ['path'], at, bad);
  if (typeof spec.path !== 'string' || spec.path === '') {
    bad.push(`${at}.path: not a non-empty string`);
    return undefined;
  }
  let text: string;
  try {
    text = readFile(spec.path);
  } catch (e) {
    bad.push(`${at}.path: cannot read ${spec.path}: ${(e as { code?: string }).code ?? (e as Error).message}`);
    return undefined;
  }
  const parsed = parseTrustedRoot(new TextEncoder().encode(text), label);
  if (typeof parsed === 'string') bad.push(`${at}.path: ${parsed}`);
  return typeof parsed === 'string' ? undefined : parsed;
}

/** A scope's `identities` and `trustedRoot`: both or neither. */
function scopeKeyless(
  spec: Record<string, unknown>,
  at: string,
  roots: ReadonlyMap<string, TrustedRoot>,
  bad: string[],
): Pick<Scope, 'identities' | 'trustedRoot'> {
  const identities: TrustedIdentity[] = [];
  const list = spec.identities ?? [];
  if (!Array.isArray(list)) bad.push(`${at}.identities: not an array`);
  else {
    list.forEach((id, i) => {
      if (!isObject(id)) {
        bad.push(`${at}.identities[${i}]: not an object`);
        return;
      }
      unknownFields(id, ['subject', 'subjectRegExp', 'issuer', 'issuerRegExp'], `${at}.identities[${i}]`, bad);
      const problems = identityProblems(id);
      for (const p of problems) bad.push(`${at}.identities[${i}]: ${p}`);
      if (problems.length === 0) identities.push(id as TrustedIdentity);
    });
  }
  const label = spec.trustedRoot;
  if (label === undefined) {
    if (Array.isArray(list) && list.length > 0) bad.push(`${at}.trustedRoot: identities need a trusted root (a label in trustedRoots)`);
    return { identities: [] };
  }
  const trustedRoot = typeof label === 'string' ? roots.get(label) : undefined;
  if (trustedRoot === undefined) {
    bad.push(`${at}.trustedRoot: ${typeof label === 'string' ? `no trusted root labelled ${JSON.stringify(label)} in trustedRoots` : 'not a string'}`);
  } else if (Array.isArray(list) && list.length === 0) bad.push(`${at}.identities: a trusted root without identities trusts no signer`);
  return trustedRoot === undefined ? { identities } : { identities, trustedRoot };
}

function checkPattern(pattern: string): string | undefined {
  if (pattern === '*' || pattern === LOCAL_SCOPE) return undefined;
  const [host, ...path] = pattern.split('/');
  if (!HOST.test(host!)) return 'pattern must be "*", "local" or registry[/namespace…[/name]]';
  if (host === LOCAL_SCOPE) return '"local" is reserved for local paths: it has no repositories';
  const badComponent = path.find((c) => !COMPONENT.test(c));
  if (badComponent !== undefined) return `pattern component ${JSON.stringify(badComponent)} is not a valid repository name component`;
  return undefined;
}

/** `*` < `registry` < `registry/ns` < `registry/ns/name`; `local` beats `*`, the only other scope it competes with. */
function specificity(pattern: string): number {
  return pattern === '*' ? 0 : pattern.split('/').length;
}

function scopeName(scope: Scope): string {
  return scope.pattern === '*' ? 'the default scope' : `scope ${scope.pattern}`;
}

function unknownFields(o: Record<string, unknown>, known: readonly string[], at: string, bad: string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) bad.push(`${at === '' ? '' : `${at}.`}${k}: unknown field`);
}

function invalid(source: string, problems: readonly string[]): EbpmError {
  return new EbpmError('POLICY_INVALID', `trust policy ${source}: ${problems.join('; ')}`, {
    hint: 'fix the file; a trust policy holds version (1), keys, trustedRoots and scopes',
    data: { fields: problems, source },
  });
}
