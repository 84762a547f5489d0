import { describe, expect, it } from 'vitest';
import { claimedIdentity } from '../../src/sign/certificate.js';
import { fixture } from './helpers.js';

describe('claimedIdentity', () => {
  it("reads the identity and OIDC issuer of cosign's keyless test bundle certificate, DER or PEM", async () => {
    const bundle = JSON.parse(fixture('cosign-oci-attestation.sigstore.json'));
    const der = Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64');
    const want = { subject: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' };
    expect(await claimedIdentity(der)).toEqual(want);
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    expect(await claimedIdentity(pem)).toEqual(want);
  });

  it('is undefined for bytes that are not a certificate', async () => {
    expect(await claimedIdentity(new TextEncoder().encode('not a certificate'))).toBeUndefined();
  });
});
