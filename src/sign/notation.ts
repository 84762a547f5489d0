// Notary Project signatures are recognised, not verified: `ebpm verify` says who signed with
// Notation rather than "not signed". The JWS envelope is JSON serialisation with the signing
// certificate chain, leaf first, in the unprotected header's `x5c` (base64 DER, RFC 7515 §4.1.6).
// Source: notaryproject/specifications `specs/signature-envelope-jws.md`.
import { X509Certificate } from 'node:crypto';
import { decodeJson, isObject } from '../core/json.js';

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
    return new X509Certificate(Buffer.from(leaf, 'base64')).subject.split('\n').join(', ');
  } catch {
    return undefined;
  }
}
