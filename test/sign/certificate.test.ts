import { describe, expect, it } from 'vitest';
import { certificateNames } from '../../src/sign/certificate.js';
import { fixture } from './helpers.js';

describe('certificateNames', () => {
  it("reads the identity and OIDC issuer of cosign's keyless test bundle certificate", () => {
    const bundle = JSON.parse(fixture('cosign-oci-attestation.sigstore.json'));
    const der = Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64');
    expect(certificateNames(der)).toEqual({ identity: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' });
  });

  it('is undefined for bytes that are not a certificate', () => {
    expect(certificateNames(new TextEncoder().encode('not a certificate'))).toBeUndefined();
  });
});
