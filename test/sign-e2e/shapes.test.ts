// Every signature shape cosign writes (and Notation's), built byte for byte by
// test/helpers/cosign-shapes.ts and read back through the real registry, without the referrers API
// (distribution 2.8.2: the tag-schema index, written as go-containerregistry writes it) and with it
// (the proxy in front): which key signed in which shape, and that attestations and Notation
// signatures never count as signatures.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchAll } from '../../src/content/storage.js';
import { parseDigest } from '../../src/core/digest.js';
import { MAX_MANIFEST_BYTES, MEDIA_TYPE_EMPTY_JSON, parseManifest } from '../../src/core/oci.js';
import { Registry } from '../../src/registry/client.js';
import type { Repository } from '../../src/registry/repository.js';
import { MEDIA_TYPE_SIGSTORE_BUNDLE } from '../../src/sign/bundle.js';
import type { SigningKey, TrustedKey } from '../../src/sign/keys.js';
import { ARTIFACT_TYPE_COSIGN_SIGNATURE, ARTIFACT_TYPE_NOTATION } from '../../src/sign/referrer.js';
import { notationSignatures, verifyPackage } from '../../src/services/trust.js';
import {
  bundleReferrer,
  legacyTag,
  messageSignatureBundle,
  notationReferrer,
  ociReferrer,
  rekorBundleAnnotation,
  selfSignedCertificate,
  signedBundle,
  tagSchemaIndex,
} from '../helpers/cosign-shapes.js';
import { describeWith } from '../helpers/prereq.js';
import { REGISTRY_KINDS, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { plainKey, pushPackage, tempDir, trusted } from './fixtures.js';
import { OciLayout } from '../../src/store/layout.js';
import { copySignatures, signPackage } from '../../src/services/sign.js';
import { signatureTag } from '../../src/sign/payload.js';
import type { FoundFormat } from '../../src/sign/verify.js';

const SLSA = 'https://slsa.dev/provenance/v1';

for (const { kind, referrersApi } of REGISTRY_KINDS)
  describeWith(['registry'], `cosign and Notation signature shapes through the registry (${kind})`, () => shapesSuite(referrersApi));

/** The suite, against a registry with the referrers API or without it (the tag schema, written as go-containerregistry writes it). */
function shapesSuite(referrersApi: boolean): void {
  let reg: RunningRegistry;
  let alice: SigningKey;
  let bob: SigningKey;
  let trustAlice: TrustedKey[];
  beforeAll(async () => {
    reg = await startRegistry({ referrersApi });
    alice = (await plainKey()).key;
    bob = (await plainKey()).key;
    trustAlice = [trusted('alice', alice)];
  });
  afterAll(() => reg?.stop());

  const repo = (name: string): Repository => new Registry(reg.host).repository(name);
  const bytes = (s: string) => new TextEncoder().encode(s);
  const signedByAlice = (digest: string, format: FoundFormat) => ({
    verified: true,
    digest,
    signedBy: [{ format, digest, keyLabel: 'alice', fingerprint: alice.publicKey.fingerprint }],
    rejected: [],
  });

  it('verifies a legacy .sig tag written as cosign writes it, Rekor bundle annotation and all', async () => {
    const r = repo('shapes/legacy');
    const pkg = await pushPackage(r, '1.0.0', bytes('legacy shape'));
    const sig = await legacyTag(r, alice, `${reg.host}/shapes/legacy`, pkg.manifest, { rekor: true });
    expect(new TextDecoder().decode(await fetchAll(r, sig.manifest, MAX_MANIFEST_BYTES))).toBe(new TextDecoder().decode(sig.bytes));
    expect((await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice })).verification).toEqual(signedByAlice(pkg.manifest.digest, 'legacy'));
    const wrong = await verifyPackage({ source: r, subject: pkg.manifest, keys: [trusted('bob', bob)] });
    expect(wrong.verification).toMatchObject({ verified: false, reason: 'untrusted-key' });
  });

  it("finds cosign's OCI 1.1 simple-signing referrer (--registry-referrers-mode=oci-1-1) and checks it like a .sig layer", async () => {
    const r = repo('shapes/oci11');
    const pkg = await pushPackage(r, '1.0.0', bytes('oci 1.1 shape'));
    const sig = await ociReferrer(r, alice, `${reg.host}/shapes/oci11`, pkg.manifest);
    await tagSchemaIndex(r, pkg.manifest, [{ manifest: sig.manifest, configMediaType: ARTIFACT_TYPE_COSIGN_SIGNATURE }]);
    // go-containerregistry's field order, cosign's artifactType appended last (write.go referrerManifest).
    const m = JSON.parse(new TextDecoder().decode(sig.bytes));
    const l = m.layers[0];
    const rekor = JSON.stringify(l.annotations['dev.sigstore.cosign/bundle']);
    expect(new TextDecoder().decode(sig.bytes)).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
        `"config":{"mediaType":"${ARTIFACT_TYPE_COSIGN_SIGNATURE}","size":${m.config.size},"digest":"${m.config.digest}"},` +
        `"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":${l.size},"digest":"${l.digest}",` +
        `"annotations":{"dev.cosignproject.cosign/signature":"${l.annotations['dev.cosignproject.cosign/signature']}","dev.sigstore.cosign/bundle":${rekor}}}],` +
        `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":${pkg.manifest.size},"digest":"${pkg.manifest.digest}"},` +
        `"artifactType":"${ARTIFACT_TYPE_COSIGN_SIGNATURE}"}`,
    );
    const { verification, found } = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(verification).toEqual(signedByAlice(pkg.manifest.digest, 'referrer'));
    expect([found.legacy.length, found.referred.length, found.bundles.length]).toEqual([0, 1, 0]);
    expect(found.attached).toEqual([
      {
        descriptor: { mediaType: sig.manifest.mediaType, digest: sig.manifest.digest, size: sig.manifest.size },
        classified: { kind: 'signature', shape: 'simple-signing', artifactType: ARTIFACT_TYPE_COSIGN_SIGNATURE },
        signatures: found.referred,
      },
    ]);
    expect(new TextDecoder().decode(found.referred[0]!.payload)).toBe(
      `{"critical":{"identity":{"docker-reference":"${reg.host}/shapes/oci11"},"image":{"docker-manifest-digest":"${pkg.manifest.digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const wrong = await verifyPackage({ source: r, subject: pkg.manifest, keys: [trusted('bob', bob)] });
    expect(wrong.verification).toEqual({
      verified: false,
      digest: pkg.manifest.digest,
      reason: 'untrusted-key',
      detail: 'OCI 1.1 referrer signature: no trusted key verifies this signature (another signer, or altered content)',
      rejected: [
        { format: 'referrer', index: 0, reason: 'untrusted-key', detail: 'no trusted key verifies this signature (another signer, or altered content)' },
      ],
    });
  });

  it("finds cosign v3's bundle although the tag-schema index lists it as application/vnd.oci.empty.v1+json", async () => {
    const r = repo('shapes/bundle');
    const pkg = await pushPackage(r, '1.0.0', bytes('bundle shape'));
    const sig = await bundleReferrer(r, pkg.manifest, await signedBundle(alice, pkg.manifest));
    await tagSchemaIndex(r, pkg.manifest, [{ manifest: sig.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON }]);
    const layer = JSON.parse(new TextDecoder().decode(sig.bytes)).layers[0];
    expect(new TextDecoder().decode(sig.bytes)).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
        `"config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","artifactType":"${MEDIA_TYPE_SIGSTORE_BUNDLE}"},` +
        `"layers":[{"mediaType":"${MEDIA_TYPE_SIGSTORE_BUNDLE}","size":${layer.size},"digest":"${layer.digest}"}],` +
        `"annotations":{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1","org.opencontainers.image.created":"2026-01-02T03:04:05Z"},` +
        `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":${pkg.manifest.size},"digest":"${pkg.manifest.digest}"},` +
        `"artifactType":"${MEDIA_TYPE_SIGSTORE_BUNDLE}"}`,
    );
    const index = new TextDecoder().decode(await fetchAll(r, await r.resolve(`sha256-${parseDigest(pkg.manifest.digest).encoded}`), MAX_MANIFEST_BYTES));
    expect(index).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
        `{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":${sig.manifest.size},"digest":"${sig.manifest.digest}","artifactType":"${MEDIA_TYPE_EMPTY_JSON}"}]}`,
    );
    // The API lists the manifest's own artifactType; go-containerregistry's tag-schema index, the config's.
    expect((await r.referrers(pkg.manifest)).map((d) => d.artifactType)).toEqual([referrersApi ? MEDIA_TYPE_SIGSTORE_BUNDLE : MEDIA_TYPE_EMPTY_JSON]);
    const { verification, found } = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(verification).toEqual(signedByAlice(pkg.manifest.digest, 'bundle'));
    expect(found.attached.map((x) => x.classified.kind)).toEqual(['signature']);
  });

  it('verifies a bundle in the message-signature form over the manifest bytes, and refuses one over other bytes', async () => {
    const r = repo('shapes/message');
    const pkg = await pushPackage(r, '1.0.0', bytes('message signature shape'));
    const manifest = await fetchAll(r, pkg.manifest, MAX_MANIFEST_BYTES);
    const sig = await bundleReferrer(r, pkg.manifest, messageSignatureBundle(alice, manifest), { content: 'message-signature' });
    await tagSchemaIndex(r, pkg.manifest, [{ manifest: sig.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON }]);
    const { verification, found } = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(verification).toEqual(signedByAlice(pkg.manifest.digest, 'bundle'));
    expect(found.signedManifest).toEqual(manifest);
    const bobs = await verifyPackage({ source: r, subject: pkg.manifest, keys: [trusted('bob', bob)] });
    expect(bobs.verification).toMatchObject({
      verified: false,
      reason: 'untrusted-key',
      detail: `bundle signature: signed by key ${alice.publicKey.fingerprint}, which is not trusted`,
    });

    const other = await pushPackage(r, '2.0.0', bytes('another manifest'));
    const moved = await bundleReferrer(r, other.manifest, messageSignatureBundle(alice, manifest), { content: 'message-signature' });
    const claimed = await bundleReferrer(r, other.manifest, messageSignatureBundle(alice, await fetchAll(r, other.manifest, MAX_MANIFEST_BYTES), manifest), {
      content: 'message-signature',
      created: '2026-01-02T03:04:06Z',
    });
    await tagSchemaIndex(r, other.manifest, [
      { manifest: moved.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
      { manifest: claimed.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
    ]);
    const refused = await verifyPackage({ source: r, subject: other.manifest, keys: trustAlice });
    expect(refused.verification.verified).toBe(false);
    expect(refused.verification.rejected.map((x) => [x.reason, x.detail]).sort()).toEqual([
      ['bad-signature', 'signature does not verify with trusted key alice: the signed content was changed'],
      ['digest-mismatch', `message signature is for ${pkg.manifest.digest}`],
    ]);
  });

  it('copies every signature shape beside the package into a layout, where they verify offline', async () => {
    const r = repo('shapes/travel');
    const pkg = await pushPackage(r, '1.0.0', bytes('travelling shapes'));
    const manifest = await fetchAll(r, pkg.manifest, MAX_MANIFEST_BYTES);
    await legacyTag(r, alice, `${reg.host}/shapes/travel`, pkg.manifest);
    const oci = await ociReferrer(r, alice, `${reg.host}/shapes/travel`, pkg.manifest);
    const bundle = await bundleReferrer(r, pkg.manifest, await signedBundle(alice, pkg.manifest));
    const message = await bundleReferrer(r, pkg.manifest, messageSignatureBundle(alice, manifest), { content: 'message-signature' });
    await tagSchemaIndex(r, pkg.manifest, [
      { manifest: oci.manifest, configMediaType: ARTIFACT_TYPE_COSIGN_SIGNATURE },
      { manifest: bundle.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
      { manifest: message.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
    ]);
    const store = await OciLayout.open(tempDir('shapes-store-'));
    await pushPackage(store, 'travel:1.0.0', pkg.layer, pkg.config);
    expect(await copySignatures(r, store, pkg.manifest)).toEqual({ legacy: 2, bundles: 2, referrers: 3, tags: [], skipped: 0 });
    expect((await store.referrers(pkg.manifest)).map((d) => d.digest).sort()).toEqual(
      [oci.manifest.digest, bundle.manifest.digest, message.manifest.digest].sort(),
    );
    const { verification } = await verifyPackage({ source: store, subject: pkg.manifest, keys: trustAlice });
    expect(verification.verified && verification.signedBy.map((x) => x.format)).toEqual(['legacy', 'referrer', 'bundle']);
    expect(verification.rejected).toEqual([]);
  });

  it("keeps cosign's Rekor bundle annotation when a .sig manifest is merged with another", async () => {
    const r = repo('shapes/merge');
    const pkg = await pushPackage(r, '1.0.0', bytes('merged shapes'));
    await legacyTag(r, alice, `${reg.host}/shapes/merge`, pkg.manifest, { rekor: true });
    const store = await OciLayout.open(tempDir('shapes-merge-'));
    await pushPackage(store, 'merge:1.0.0', pkg.layer, pkg.config);
    await signPackage(store, pkg.manifest, bob, { format: 'legacy', repository: `${reg.host}/shapes/merge` });
    await copySignatures(r, store, pkg.manifest);
    const merged = parseManifest(await fetchAll(store, await store.resolve(signatureTag(pkg.manifest.digest)), MAX_MANIFEST_BYTES));
    expect(merged.layers.map((l) => Object.keys(l.annotations ?? {}).sort())).toEqual([
      ['dev.cosignproject.cosign/signature', 'dev.ebpm.key-hint'],
      ['dev.cosignproject.cosign/signature', 'dev.sigstore.cosign/bundle'],
    ]);
    expect(merged.layers[1]!.annotations!['dev.sigstore.cosign/bundle']).toBe(rekorBundleAnnotation());
    const { verification } = await verifyPackage({ source: store, subject: pkg.manifest, keys: trustAlice });
    expect(verification.verified).toBe(true);
  });

  it('lists attestations and Notation signatures beside the signatures, and counts neither', async () => {
    const r = repo('shapes/attached');
    const pkg = await pushPackage(r, '1.0.0', bytes('attached shapes'));
    const att = await bundleReferrer(r, pkg.manifest, await signedBundle(alice, pkg.manifest), { predicateType: SLSA });
    const cert = selfSignedCertificate('/CN=release signer/O=Example Corp');
    const jws = await notationReferrer(r, pkg.manifest, { jws: cert });
    const cose = await notationReferrer(r, pkg.manifest, { cose: bytes('\xd2\x84 not parsed') });
    await tagSchemaIndex(r, pkg.manifest, [
      { manifest: att.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
      { manifest: jws.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
      { manifest: cose.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
    ]);
    const { verification, found } = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(verification).toEqual({
      verified: false,
      digest: pkg.manifest.digest,
      reason: 'no-signature',
      detail: `${pkg.manifest.digest} has no signature`,
      rejected: [],
    });
    const byDigest = new Map(found.attached.map((x) => [x.descriptor.digest, x]));
    expect(byDigest.get(att.manifest.digest)?.classified).toMatchObject({
      kind: 'attestation',
      shape: 'bundle',
      artifactType: MEDIA_TYPE_SIGSTORE_BUNDLE,
      predicateType: SLSA,
    });
    expect(byDigest.get(jws.manifest.digest)?.classified).toMatchObject({ kind: 'notation', envelope: 'jws', artifactType: ARTIFACT_TYPE_NOTATION });
    expect(byDigest.get(cose.manifest.digest)?.classified).toMatchObject({ kind: 'notation', envelope: 'cose', artifactType: ARTIFACT_TYPE_NOTATION });
    const notation = await notationSignatures(r, found);
    expect(notation.sort((a, b) => a.envelope.localeCompare(b.envelope))).toEqual([
      { manifest: cose.manifest.digest, envelope: 'cose' },
      { manifest: jws.manifest.digest, envelope: 'jws', signer: 'CN=release signer, O=Example Corp' },
    ]);
  });
}
