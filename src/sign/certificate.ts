// Who a Fulcio (keyless) certificate names, for listing what is attached to a package: the
// identity in its subject alternative name and the OIDC issuer in Fulcio's extension. Read
// only, never trusted: verifying keyless signatures is the trust policy's business.
// Source: sigstore/fulcio `docs/oid-info.md` (1.3.6.1.4.1.57264.1.8 Issuer (V2), a DER
// UTF8String; 1.3.6.1.4.1.57264.1.1 Issuer, deprecated, the raw string).
import { X509Certificate } from 'node:crypto';

/** DER of the two issuer extension OIDs, tag and length included. */
const ISSUER_V2 = Buffer.from('060a2b0601040183bf300108', 'hex');
const ISSUER_V1 = Buffer.from('060a2b0601040183bf300101', 'hex');

/** `CertificateNames` is what a signing certificate claims: identity (SAN URI or email) and OIDC issuer. */
export interface CertificateNames {
  readonly identity?: string;
  readonly issuer?: string;
  /** The certificate's subject, its parts joined by `, ` (Fulcio certificates have none). */
  readonly subject?: string;
}

/** `certificateNames` reads a DER or PEM certificate; `undefined` when it is not one. */
export function certificateNames(cert: Uint8Array | string): CertificateNames | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  } catch {
    return undefined;
  }
  // `URI:https://github.com/…, email:…`: the first URI or email name is the signer's identity.
  const san = /(?:^|, )(?:URI|email):([^,]+)/.exec(x509.subjectAltName ?? '')?.[1];
  const issuer = extensionText(x509.raw, ISSUER_V2, true) ?? extensionText(x509.raw, ISSUER_V1, false);
  const subject = x509.subject?.split('\n').join(', ');
  return { ...(subject ? { subject } : {}), ...(san === undefined ? {} : { identity: san }), ...(issuer === undefined ? {} : { issuer }) };
}

/**
 * Finds `oid` in the certificate's DER and returns its extension value as text: the extension's
 * OCTET STRING (after an optional `critical` BOOLEAN) holds a UTF8String (`der`) or the raw text.
 */
function extensionText(raw: Buffer, oid: Buffer, der: boolean): string | undefined {
  const at = raw.indexOf(oid);
  if (at < 0) return undefined;
  let i = at + oid.length;
  if (raw[i] === 0x01) i += 2 + raw[i + 1]!;
  if (raw[i] !== 0x04) return undefined;
  let value = tlv(raw, i);
  if (value === undefined) return undefined;
  if (der) {
    if (value[0] !== 0x0c) return undefined;
    value = tlv(value, 0);
  }
  return value?.toString('utf8');
}

/** The value of the DER element at `at` (short or long length form), or `undefined` if it runs past the end. */
function tlv(b: Buffer, at: number): Buffer | undefined {
  let len = b[at + 1];
  let start = at + 2;
  if (len === undefined) return undefined;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) return undefined;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + (b[start + k] ?? 0);
    start += n;
  }
  return start + len <= b.length ? b.subarray(start, start + len) : undefined;
}
