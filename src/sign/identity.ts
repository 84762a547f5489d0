// Keyless signers: the identity a Fulcio certificate names (its SAN and the OIDC issuer
// extension), the identities a policy or `ebpm verify` trusts, and the sigstore trusted root
// (`trusted_root.json`) the certificate must chain to. Pure: the root's bytes come from the
// caller, and its cryptographic material is only built when a bundle is checked (bundle.ts).
import { sha256Digest, type Digest } from '../core/digest.js';
import { decodeJson, isObject } from '../core/json.js';

/** `CertificateIdentity` is who a certificate was issued to: SAN (URI or email) and OIDC issuer. */
export interface CertificateIdentity {
  readonly subject: string;
  readonly issuer: string;
}

/**
 * `TrustedIdentity` is one identity a scope trusts, as cosign's `--certificate-identity[-regexp]`
 * and `--certificate-oidc-issuer[-regexp]`: each side exact or a regular expression. As in
 * cosign (Go's `regexp.MatchString`), an expression is not anchored: write `^…$` to match the
 * whole value.
 */
export type TrustedIdentity = {
  readonly subject?: string;
  readonly subjectRegExp?: string;
  readonly issuer?: string;
  readonly issuerRegExp?: string;
};

/** `TrustedRoot` is a parsed `trusted_root.json` with the label it is known by. */
export interface TrustedRoot {
  readonly label: string;
  /** The sigstore TrustedRoot JSON document, structurally checked. */
  readonly doc: Readonly<Record<string, unknown>>;
  /** sha256 of the file: the policy's digest changes when the root does. */
  readonly digest: Digest;
}

/** `KeylessTrust` is what keyless bundles are checked against: a root and the identities trusted under it. */
export interface KeylessTrust {
  readonly root: TrustedRoot;
  readonly identities: readonly TrustedIdentity[];
}

const ROOT_LISTS = ['certificateAuthorities', 'tlogs', 'ctlogs', 'timestampAuthorities'] as const;

/**
 * `parseTrustedRoot` reads a `trusted_root.json`: a JSON object whose authority lists, where
 * present, are arrays, with at least one certificate authority. Problems are returned as
 * strings (the caller names the file or field); the certificates and keys inside are checked
 * when the root is first used.
 */
export function parseTrustedRoot(bytes: Uint8Array, label: string): TrustedRoot | string {
  const doc = decodeJson(bytes)?.value;
  if (!isObject(doc)) return 'not a sigstore trusted root (a json object)';
  const notArrays = ROOT_LISTS.filter((k) => doc[k] !== undefined && !Array.isArray(doc[k]));
  if (notArrays.length > 0) return `not a sigstore trusted root: ${notArrays.join(', ')} not an array`;
  if (!Array.isArray(doc.certificateAuthorities) || doc.certificateAuthorities.length === 0) {
    return 'trusted root has no certificateAuthorities: it cannot verify a Fulcio certificate';
  }
  return { label, doc, digest: sha256Digest(bytes) };
}

/**
 * `identityProblems` checks one identity as the policy file or the flags give it: exactly one
 * of `subject`/`subjectRegExp` and of `issuer`/`issuerRegExp` (cosign requires both sides for
 * keyless verification), non-empty strings, expressions that compile.
 */
export function identityProblems(id: Readonly<Record<string, unknown>>): string[] {
  const bad: string[] = [];
  for (const [exact, re] of [
    ['subject', 'subjectRegExp'],
    ['issuer', 'issuerRegExp'],
  ] as const) {
    if ((id[exact] === undefined) === (id[re] === undefined)) bad.push(`needs exactly one of ${exact}, ${re}`);
    for (const k of [exact, re]) {
      const v = id[k];
      if (v === undefined) continue;
      if (typeof v !== 'string' || v === '') bad.push(`${k}: not a non-empty string`);
      else if (k === re) {
        try {
          new RegExp(v, 'u');
        } catch (e) {
          bad.push(`${k}: ${(e as Error).message}`);
        }
      }
    }
  }
  return bad;
}

/** `identityMatches` tells whether a certificate's identity is one `id` trusts. */
export function identityMatches(id: TrustedIdentity, found: CertificateIdentity): boolean {
  return side(id.subject, id.subjectRegExp, found.subject) && side(id.issuer, id.issuerRegExp, found.issuer);
}

/** `describeIdentity` renders a wanted identity for messages: `subject "…", issuer ~ /…/`. */
export function describeIdentity(id: TrustedIdentity): string {
  const one = (name: string, exact?: string, re?: string) => (exact !== undefined ? `${name} ${JSON.stringify(exact)}` : `${name} ~ /${re}/`);
  return `${one('subject', id.subject, id.subjectRegExp)}, ${one('issuer', id.issuer, id.issuerRegExp)}`;
}

/** `describeFound` renders a certificate's identity for messages. */
export function describeFound(found: CertificateIdentity): string {
  return `subject ${JSON.stringify(found.subject)}, issuer ${JSON.stringify(found.issuer)}`;
}

function side(exact: string | undefined, re: string | undefined, value: string): boolean {
  return exact !== undefined ? exact === value : new RegExp(re!, 'u').test(value);
}
