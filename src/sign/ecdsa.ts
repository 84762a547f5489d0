// ECDSA P-256 / SHA-256 signatures as cosign makes them: ASN.1 DER `SEQUENCE { r INTEGER,
// s INTEGER }` (sigstore/sigstore `pkg/signature/ecdsa.go`: `ecdsa.SignASN1`), base64 in
// annotations. The shape is checked before any key is tried, so a truncated signature or
// one made on another curve is reported as such instead of as "signed by someone else".
import { sign, verify, type KeyObject } from 'node:crypto';
import { decodeBase64Strict } from './pem.js';

/** Order n of the P-256 group (SEC 2 v2 §2.4.2). Valid r and s lie in [1, n-1]. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** `signMessage` signs sha256(message) and returns the DER signature, base64 (std, padded). */
export function signMessage(privateKey: KeyObject, message: Uint8Array): string {
  return sign('sha256', message, privateKey).toString('base64');
}

/**
 * `verifyMessage` checks a base64 DER signature over sha256(message). A signature that is not
 * well-formed (see `signatureProblem`) is false, never an exception.
 */
export function verifyMessage(publicKey: KeyObject, message: Uint8Array, signatureB64: string): boolean {
  const der = decodeSignature(signatureB64);
  return typeof der !== 'string' && verify('sha256', message, publicKey, der);
}

/** `signatureProblem` says why a base64 signature cannot be a P-256 ECDSA DER signature, or `undefined`. */
export function signatureProblem(signatureB64: string): string | undefined {
  const der = decodeSignature(signatureB64);
  return typeof der === 'string' ? der : undefined;
}

/** Decodes and checks a signature: the DER bytes, or a problem. */
function decodeSignature(signatureB64: string): Buffer | string {
  const der = decodeBase64Strict(signatureB64);
  if (der === undefined || der.length === 0) return 'signature is not base64';
  return derProblem(der) ?? der;
}

/** Strict DER (X.690 §10): definite minimal lengths, minimal positive integers, no trailing bytes. */
function derProblem(der: Buffer): string | undefined {
  let at = 0;
  const length = (): number | undefined => {
    const first = der[at++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    if (first !== 0x81) return undefined; // ECDSA signatures up to P-521 never exceed 255 bytes
    const n = der[at++];
    return n !== undefined && n >= 0x80 ? n : undefined;
  };
  const integer = (): bigint | string => {
    if (der[at++] !== 0x02) return 'expected an integer';
    const len = length();
    if (len === undefined || len === 0 || at + len > der.length) return 'truncated integer';
    const bytes = der.subarray(at, at + len);
    at += len;
    if (bytes[0]! & 0x80) return 'negative integer';
    if (len > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) return 'non-minimal integer';
    return BigInt(`0x${bytes.toString('hex')}`);
  };
  if (der[at++] !== 0x30) return 'signature is not a DER sequence';
  const seqLen = length();
  if (seqLen === undefined || at + seqLen !== der.length) return 'signature is truncated or has trailing bytes';
  const r = integer();
  if (typeof r === 'string') return `signature r: ${r}`;
  const s = integer();
  if (typeof s === 'string') return `signature s: ${s}`;
  if (at !== der.length) return 'signature has trailing bytes';
  if (r < 1n || r >= P256_N || s < 1n || s >= P256_N) return 'signature is not on curve P-256 (r or s out of range)';
  return undefined;
}
