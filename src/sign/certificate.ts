// Who a Fulcio (keyless) certificate was issued to: the identity in its subject alternative name
// and the OIDC issuer in Fulcio's extension. One reader, for the keyless check (on the
// certificate `@sigstore/verify` verified) and for listings (on a certificate as found, unchecked).
// Source: sigstore/fulcio `docs/oid-info.md` (1.3.6.1.4.1.57264.1.8 Issuer (V2), a DER
// UTF8String; 1.3.6.1.4.1.57264.1.1 Issuer, deprecated, the raw string). `@sigstore/core` is
// imported where a certificate is read, as the other sigstore libraries are (bundle.ts says why).
import type { X509Certificate } from '@sigstore/core';
import type { CertificateIdentity } from './identity.js';

const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';

/** `fulcioIdentity` is the identity a parsed Fulcio certificate names (`''` for a part it lacks). */
export function fulcioIdentity(cert: X509Certificate): CertificateIdentity {
  const v2 = cert.extension(OID_FULCIO_ISSUER_V2)?.valueObj.subs[0]?.value;
  const issuer = v2 !== undefined ? v2.toString('utf8') : (cert.extension(OID_FULCIO_ISSUER_V1)?.value.toString('utf8') ?? '');
  return { subject: cert.subjectAltName ?? '', issuer };
}

/** `claimedIdentity` reads a DER or PEM certificate, unchecked; `undefined` when it is not one. */
export async function claimedIdentity(cert: Uint8Array | string): Promise<CertificateIdentity | undefined> {
  const { X509Certificate: Certificate } = (await import('@sigstore/core')).default;
  try {
    return fulcioIdentity(Certificate.parse(typeof cert === 'string' ? cert : Buffer.from(cert)));
  } catch {
    return undefined;
  }
}
