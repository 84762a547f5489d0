import { createHash, verify } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/core/oci.js';
import { bundleReferrerManifest, checkBundle, signBundle, signStatement } from '../../src/sign/bundle.js';
import { classifyReferrer } from '../../src/sign/referrer.js';
import { readPrivateKey, readPublicKey, type SigningKey, type TrustedKey } from '../../src/sign/keys.js';
import { fixture } from './helpers.js';

const DIGEST = 'sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6';
const HEX = DIGEST.slice('sha256:'.length);
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let key: SigningKey;
beforeAll(async () => {
  key = await readPrivateKey(fixture('cosign-pemsigstorekey.key'), 'hello');
});

describe('signing', () => {
  it('signs the in-toto statement cosign v3 signs for an image', async () => {
    expect(new TextDecoder().decode(signStatement(DIGEST))).toBe(
      `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${HEX}"},"annotations":{}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`,
    );
    expect(JSON.parse(new TextDecoder().decode(signStatement(DIGEST, { by: 'ci' }))).subject[0].annotations).toEqual({ by: 'ci' });
  });

  it('writes a v0.3 bundle: DSSE over the statement, the key hint, no tlog entry; the signature covers the DSSE PAE', async () => {
    const bundle = JSON.parse(new TextDecoder().decode(await signBundle(key, DIGEST)));
    expect(bundle.mediaType).toBe(BUNDLE_TYPE);
    expect(bundle.verificationMaterial).toEqual({ publicKey: { hint: key.publicKey.hint }, timestampVerificationData: {} });
    const env = bundle.dsseEnvelope;
    expect(env.payloadType).toBe('application/vnd.in-toto+json');
    const payload = Buffer.from(env.payload, 'base64');
    expect(payload.equals(Buffer.from(signStatement(DIGEST)))).toBe(true);
    expect(env.signatures).toHaveLength(1);
    const pae = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} `), payload]);
    expect(verify('sha256', pae, key.publicKey.key, Buffer.from(env.signatures[0].sig, 'base64'))).toBe(true);
  });
});

describe('referrer manifest', () => {
  const subject = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: DIGEST, size: 1234, annotations: { x: 'y' } };

  it('is what cosign WriteReferrer pushes: artifactType, empty config, one layer, subject, annotations', async () => {
    const bundle = await signBundle(key, DIGEST);
    const built = bundleReferrerManifest(subject, bundle, new Date('2026-11-25T05:00:00.123Z'));
    expect(built.manifest).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: BUNDLE_TYPE,
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        artifactType: BUNDLE_TYPE,
        digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
        size: 2,
      },
      layers: [{ mediaType: BUNDLE_TYPE, digest: sha256(bundle), size: bundle.length }],
      subject: { mediaType: subject.mediaType, digest: DIGEST, size: 1234 },
      annotations: {
        'org.opencontainers.image.created': '2026-11-25T05:00:00Z',
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
      },
    });
    expect(built.blobs.map((b) => [b.descriptor.digest, new TextDecoder().decode(b.bytes)])).toEqual([
      ['sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', '{}'],
      [sha256(bundle), new TextDecoder().decode(bundle)],
    ]);
    expect(built.descriptor).toEqual({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: BUNDLE_TYPE,
      digest: sha256(built.bytes),
      size: built.bytes.length,
    });
    const parsed = parseManifest(built.bytes, 'application/vnd.oci.image.manifest.v1+json');
    expect(classifyReferrer(parsed)).toEqual({ kind: 'signature', shape: 'bundle', artifactType: BUNDLE_TYPE, layer: built.manifest.layers[0] });
  });
});

describe('upstream vector: sigstore-js v1.dsse.withPublicKey ("hello, world!", key-1)', () => {
  const bundle = new TextEncoder().encode(fixture('sigstore-js-dsse-with-public-key.json'));
  const pub = readPublicKey(fixture('sigstore-js-key-1.pub'));
  const asKey1: TrustedKey[] = [{ label: 'key-1', publicKey: { ...pub, hint: 'key-1' } }];

  it('verifies its signature with @sigstore/verify, then refuses it as not an image signature', async () => {
    // Reaching the statement check proves the DSSE signature verified (tlog entries are ignored offline).
    expect(await checkBundle(bundle, DIGEST, asKey1)).toEqual({ ok: false, reason: 'bad-signature', detail: 'dsse payload type "text/plain" is not in-toto' });
  });

  it('fails the signature once its payload changes', async () => {
    const doc = JSON.parse(new TextDecoder().decode(bundle));
    doc.dsseEnvelope.payload = Buffer.from('hello, world?').toString('base64');
    expect(await checkBundle(new TextEncoder().encode(JSON.stringify(doc)), DIGEST, asKey1)).toEqual({
      ok: false,
      reason: 'bad-signature',
      detail: 'signature does not verify with trusted key key-1: the signed content was changed',
    });
  });

  it('matches keys by hint: key-1 is not the hint of its SPKI', async () => {
    expect(await checkBundle(bundle, DIGEST, [{ label: 'k', publicKey: pub }])).toEqual({
      ok: false,
      reason: 'untrusted-key',
      detail: 'signed by key key-1, which is not trusted',
    });
  });
});
