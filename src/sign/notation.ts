// Notary Project signatures are recognised, not verified: `ebpm verify` says who signed with
// Notation rather than "not signed". The JWS envelope is JSON serialisation with the signing
// certificate chain, leaf first, in the unprotected header's `x5c` (base64 DER, RFC 7515 §4.1.6).
// Source: notaryproject/specifications `specs/signature-envelope-jws.md`.
import { decodeJson, isObject } from '../core/json.js';
import { X509Certificate } from 'node:crypto';

/**
 * `jwsSigner` is the subject of the signing certificate of a Notation JWS envelope
 * (`CN=…, O=…` as the certificate lists it), or `undefined` when the bytes are not such an
 * envelope. Nothing here is checked: the name is what the envelope claims.
 */
export function jwsSigner(envelope: Uint8Array): string | undefined {
  const doc = decodeJson(envelope)?.value;
  const header = isObject(doc) ? doc.header : undefined;
  const chain = isObject(header) ? header.x5c : undefined;
  const leaf = Array.isArray(chain) ? chain[0] : undefined;
  if (typeof leaf !== 'string') return undefined;
  try {
    return new X509Certificate(Buffer.from(leaf, 'base64')).subject.split('\n').join(', ') || undefined;
  } catch {
    return undefined;
  }
}

/** `NotationSignature` is a Notation signature found beside a package: its envelope format and, for JWS, the claimed signer. */
export interface NotationSignature {
  /** The referrer manifest holding it. */
  readonly manifest: string;
  readonly envelope: 'jws' | 'cose' | 'unknown';
  readonly signer?: string;
}

/** `NOT_VERIFIED_NOTATION` says why a Notation signature does not count. */
export const NOT_VERIFIED_NOTATION = 'not verified: ebpm verifies cosign and sigstore signatures';

/** `describeNotation` is the line `ebpm verify` shows instead of "not signed": `signed with Notation by <subject>; not verified: …`. */
export function describeNotation(signatures: readonly NotationSignature[]): string {
  const who = signatures.map((s) =>
    s.signer !== undefined
      ? `by ${s.signer}`
      : s.envelope === 'cose'
        ? '(COSE envelope)'
        : `(${s.envelope === 'jws' ? 'JWS envelope without a certificate' : 'unknown envelope'})`,
  );
  return `signed with Notation ${[...new Set(who)].join(' and ')}; ${NOT_VERIFIED_NOTATION}`;
}
