// src/services/sign.ts over the content interfaces: both signature formats round-trip through
// the real registry, with and without the referrers API (distribution 2.8.2 keeps the tag-schema
// fallback; the proxy in front serves the API), and an OCI layout, travel between them, and
// every tamper case is refused with its reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchAll } from '../../src/content/storage.js';
import { parseDigest } from '../../src/core/digest.js';
import { MAX_MANIFEST_BYTES, MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, parseIndex, parseManifest } from '../../src/core/oci.js';
import { Registry } from '../../src/registry/client.js';
import type { Repository } from '../../src/registry/repository.js';
import { MEDIA_TYPE_SIGSTORE_BUNDLE } from '../../src/sign/bundle.js';
import { ANNOTATION_COSIGN_SIGNATURE, ANNOTATION_EBPM_KEY_HINT, MEDIA_TYPE_SIMPLE_SIGNING, buildPayload } from '../../src/sign/payload.js';
import { verifySignatures } from '../../src/sign/verify.js';
import { copySignatures, findSignatures, signPackage } from '../../src/services/sign.js';
import { verifyPackage } from '../../src/services/trust.js';
import { OciLayout } from '../../src/store/layout.js';
import { describeWith } from '../helpers/prereq.js';
import { REGISTRY_KINDS, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { plainKey, pushPackage, tempDir, trusted, type TestPackage } from './fixtures.js';
import type { SigningKey, TrustedKey } from '../../src/sign/keys.js';

const NOW = new Date('2026-01-02T03:04:05.678Z');

for (const { kind, referrersApi } of REGISTRY_KINDS)
  describeWith(['registry'], `signatures through the registry (${kind}) and the store`, () => signatureSuite(referrersApi));

/** The suite, against a registry with the referrers API or without it (the tag schema). */
function signatureSuite(referrersApi: boolean): void {
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

  it('stores a legacy signature the way cosign does: the .sig tag, one simple-signing layer, the DER signature annotation', async () => {
    const r = repo('acme/legacy');
    const pkg = await pushPackage(r, '1.0.0', bytes('object bytes'));
    const res = await signPackage(r, pkg.manifest, alice, { format: 'legacy', repository: `${reg.host}/acme/legacy` });
    const hex = parseDigest(pkg.manifest.digest).encoded;
    expect(res).toEqual({
      format: 'legacy',
      subject: pkg.manifest,
      manifest: res.manifest,
      tag: `sha256-${hex}.sig`,
      fingerprint: alice.publicKey.fingerprint,
    });
    expect(await r.tags()).toEqual(['1.0.0', `sha256-${hex}.sig`]);
    const sig = parseManifest(await fetchAll(r, await r.resolve(`sha256-${hex}.sig`), MAX_MANIFEST_BYTES));
    expect(sig.layers).toHaveLength(1);
    const layer = sig.layers[0]!;
    expect(layer.mediaType).toBe(MEDIA_TYPE_SIMPLE_SIGNING);
    expect(Object.keys(layer.annotations ?? {}).sort()).toEqual([ANNOTATION_COSIGN_SIGNATURE, ANNOTATION_EBPM_KEY_HINT]);
    expect(layer.annotations?.[ANNOTATION_EBPM_KEY_HINT]).toBe(alice.publicKey.hint);
    const payload = await fetchAll(r, layer, 1024);
    expect(new TextDecoder().decode(payload)).toBe(
      `{"critical":{"identity":{"docker-reference":"${reg.host}/acme/legacy"},"image":{"docker-manifest-digest":"${pkg.manifest.digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const { verification } = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(verification).toEqual({
      verified: true,
      digest: pkg.manifest.digest,
      signedBy: [{ format: 'legacy', digest: pkg.manifest.digest, keyLabel: 'alice', fingerprint: alice.publicKey.fingerprint }],
      rejected: [],
    });
  });

  it('attaches a bundle as a referrer: through the API, else the referrers tag schema', async () => {
    const r = repo('acme/bundle');
    const pkg = await pushPackage(r, '1.0.0', bytes('bundle object'));
    const res = await signPackage(r, pkg.manifest, alice, { format: 'bundle', repository: `${reg.host}/acme/bundle`, now: NOW });
    const hex = parseDigest(pkg.manifest.digest).encoded;
    expect(res.tag).toBeUndefined();
    expect(await r.tags()).toEqual(referrersApi ? ['1.0.0'] : ['1.0.0', `sha256-${hex}`]);
    if (!referrersApi) {
      const fallback = parseIndex(await fetchAll(r, await r.resolve(`sha256-${hex}`), MAX_MANIFEST_BYTES), MEDIA_TYPE_IMAGE_INDEX);
      expect(fallback.manifests.map((d) => [d.digest, d.artifactType])).toEqual([[res.manifest.digest, MEDIA_TYPE_SIGSTORE_BUNDLE]]);
    }
    expect((await r.referrers(pkg.manifest)).map((d) => [d.digest, d.artifactType])).toEqual([[res.manifest.digest, MEDIA_TYPE_SIGSTORE_BUNDLE]]);
    const referrer = parseManifest(await fetchAll(r, res.manifest, MAX_MANIFEST_BYTES));
    expect(referrer.subject).toEqual(pkg.manifest);
    expect(referrer.annotations?.['org.opencontainers.image.created']).toBe('2026-01-02T03:04:05Z');
    const found = await findSignatures(r, pkg.manifest);
    expect([found.legacy.length, found.bundles.length, found.bundleManifests]).toEqual([
      0,
      1,
      [{ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: res.manifest.digest, size: res.manifest.size }],
    ]);
    const { verification } = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(verification.verified && verification.signedBy.map((s) => [s.format, s.keyLabel])).toEqual([['bundle', 'alice']]);
  });

  it('keeps earlier legacy signatures when another key signs, and says who signed what', async () => {
    const r = repo('acme/two');
    const pkg = await pushPackage(r, '2.0.0', bytes('two signers'));
    await signPackage(r, pkg.manifest, alice, { format: 'legacy', repository: `${reg.host}/acme/two` });
    await signPackage(r, pkg.manifest, bob, { format: 'legacy', repository: `${reg.host}/acme/two` });
    await signPackage(r, pkg.manifest, bob, { format: 'bundle', repository: `${reg.host}/acme/two` });
    const found = await findSignatures(r, pkg.manifest);
    expect([found.legacy.length, found.bundles.length]).toEqual([2, 1]);
    const { verification } = await verifyPackage({ source: r, subject: pkg.manifest, keys: [...trustAlice, trusted('bob', bob)] });
    expect(verification.verified && verification.signedBy.map((s) => `${s.format}:${s.keyLabel}`)).toEqual(['legacy:alice', 'legacy:bob', 'bundle:bob']);
    const onlyAlice = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(onlyAlice.verification.verified && onlyAlice.verification.rejected.map((x) => `${x.format}:${x.reason}`)).toEqual([
      'legacy:untrusted-key',
      'bundle:untrusted-key',
    ]);
  });

  it('signs in an OCI layout too, and copies signatures registry → layout → another repository unchanged', async () => {
    const r = repo('acme/travel');
    const pkg = await pushPackage(r, '1.0.0', bytes('travelling object'));
    const legacy = await signPackage(r, pkg.manifest, alice, { format: 'legacy', repository: `${reg.host}/acme/travel` });
    const bundle = await signPackage(r, pkg.manifest, alice, { format: 'bundle', repository: `${reg.host}/acme/travel` });
    const store = await OciLayout.open(tempDir('store-'));
    await pushPackage(store, 'travel:1.0.0', pkg.layer, pkg.config);
    expect(await copySignatures(r, store, pkg.manifest)).toEqual({ legacy: 1, bundles: 1, referrers: 1, tags: [], skipped: 0 });
    const hex = parseDigest(pkg.manifest.digest).encoded;
    expect(await store.tags()).toEqual([`sha256-${hex}.sig`, 'travel:1.0.0']);
    expect((await store.resolve(`sha256-${hex}.sig`)).digest).toBe(legacy.manifest.digest);
    expect((await store.referrers(pkg.manifest)).map((d) => d.digest)).toEqual([bundle.manifest.digest]);
    const local = await verifyPackage({ source: store, subject: pkg.manifest, keys: trustAlice });
    expect(local.verification.verified && local.verification.signedBy.map((s) => s.format)).toEqual(['legacy', 'bundle']);

    // A signature made in the layout joins the copied one; pushing carries both back out.
    await signPackage(store, pkg.manifest, bob, { format: 'legacy', repository: 'local/travel' });
    const other = repo('mirror/travel');
    await pushPackage(other, '1.0.0', pkg.layer, pkg.config);
    expect(await copySignatures(store, other, pkg.manifest)).toEqual({ legacy: 2, bundles: 1, referrers: 1, tags: [], skipped: 0 });
    const remote = await verifyPackage({ source: other, subject: pkg.manifest, keys: [...trustAlice, trusted('bob', bob)] });
    expect(remote.verification.verified && remote.verification.signedBy.map((s) => `${s.format}:${s.keyLabel}`)).toEqual([
      'legacy:alice',
      'legacy:bob',
      'bundle:alice',
    ]);
    // Copying again changes nothing.
    const sigTag = await other.resolve(`sha256-${hex}.sig`);
    await copySignatures(store, other, pkg.manifest);
    expect((await other.resolve(`sha256-${hex}.sig`)).digest).toBe(sigTag.digest);
    expect((await other.referrers(pkg.manifest)).length).toBe(1);
  });

  it('finds nothing for an unsigned package or an unknown repository', async () => {
    const r = repo('acme/unsigned');
    const pkg = await pushPackage(r, '1.0.0', bytes('nobody signed this'));
    const { verification, found } = await verifyPackage({ source: r, subject: pkg.manifest, keys: trustAlice });
    expect(found).toEqual({ legacy: [], referred: [], bundles: [], bundleManifests: [], referrers: [], attached: [] });
    expect(verification).toEqual({
      verified: false,
      digest: pkg.manifest.digest,
      reason: 'no-signature',
      detail: `${pkg.manifest.digest} has no signature`,
      rejected: [],
    });
    const none = await findSignatures(repo('acme/never-pushed'), pkg.manifest);
    expect(none.legacy.length + none.bundles.length).toBe(0);
  });

  describe('tampering', () => {
    let r: Repository;
    let pkg: TestPackage;
    const reasons = async (subject = pkg.manifest, keys = trustAlice) => {
      const { verification } = await verifyPackage({ source: r, subject, keys });
      return verification.verified ? 'verified' : `${verification.reason}: ${verification.rejected.map((x) => `${x.format} ${x.reason}`).join(', ')}`;
    };
    beforeAll(async () => {
      r = repo('acme/tamper');
      pkg = await pushPackage(r, '1.0.0', bytes('the real object'));
      await signPackage(r, pkg.manifest, alice, { format: 'legacy', repository: `${reg.host}/acme/tamper` });
      await signPackage(r, pkg.manifest, alice, { format: 'bundle', repository: `${reg.host}/acme/tamper` });
    });

    it('a changed layer byte or a changed config is another digest, which nobody signed', async () => {
      const layer = Buffer.from(pkg.layer);
      layer[3] = layer[3]! ^ 1;
      const changedLayer = await pushPackage(r, '1.0.0', layer, pkg.config);
      const changedConfig = await pushPackage(r, '1.0.0', pkg.layer, bytes('{"name":"pkh"}'));
      expect(changedLayer.manifest.digest).not.toBe(pkg.manifest.digest);
      expect(await reasons(changedLayer.manifest)).toBe('no-signature: ');
      expect(await reasons(changedConfig.manifest)).toBe('no-signature: ');
      expect(await reasons()).toBe('verified');
    });

    it('a signature moved to another digest is a digest mismatch, in both formats', async () => {
      const moved = await pushPackage(r, 'moved', bytes('an impostor'));
      const found = await findSignatures(r, pkg.manifest);
      // Legacy: the genuine .sig manifest re-tagged for the impostor.
      await r.tag(found.legacyManifest!, `sha256-${parseDigest(moved.manifest.digest).encoded}.sig`);
      // Bundle: the genuine bundle in a referrer whose subject is the impostor.
      const genuine = parseManifest(await fetchAll(r, found.bundleManifests[0]!, MAX_MANIFEST_BYTES));
      const { pushBytes } = await import('../../src/content/storage.js');
      const { manifestBytes } = await import('../../src/core/oci.js');
      await pushBytes(r, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes({ ...genuine, subject: moved.manifest }));
      expect(await reasons(moved.manifest)).toBe('digest-mismatch: legacy digest-mismatch, bundle digest-mismatch');
    });

    it('a truncated signature, an altered payload and another curve are refused as bad signatures', async () => {
      const { legacy } = await findSignatures(r, pkg.manifest);
      const sig = legacy[0]!;
      const check = async (s: typeof sig, keys = trustAlice) => {
        const v = await verifySignatures({ digest: pkg.manifest.digest, legacy: [s], bundles: [], trustedKeys: keys });
        return v.verified ? 'verified' : `${v.reason}: ${v.detail}`;
      };
      expect(await check({ ...sig, signature: sig.signature.slice(0, 41) })).toBe('bad-signature: legacy signature: signature is not base64');
      const short = Buffer.from(sig.signature, 'base64').subarray(0, 40).toString('base64');
      expect(await check({ ...sig, signature: short })).toBe('bad-signature: legacy signature: signature is truncated or has trailing bytes');
      const altered = buildPayload(`${reg.host}/acme/tamper`, pkg.manifest.digest, { evil: 'yes' });
      expect(await check({ ...sig, payload: altered })).toBe(
        'bad-signature: legacy signature: signature does not verify with trusted key alice: the signed content was changed',
      );

      // Signed with a P-384 key carrying alice's hint: refused before any key is tried.
      const p384 = (await plainKey('secp384r1')).key;
      const r384 = repo('acme/p384');
      const p = await pushPackage(r384, '1.0.0', pkg.layer, pkg.config);
      await signPackage(r384, p.manifest, { privateKey: p384.privateKey, publicKey: alice.publicKey }, { format: 'legacy', repository: 'x' });
      const v = await verifyPackage({ source: r384, subject: p.manifest, keys: trustAlice });
      expect(v.verification.verified ? 'verified' : v.verification.detail).toBe('legacy signature: signature is not on curve P-256 (r or s out of range)');
    });

    it('rewritten signature layers in the registry fail without breaking the package', async () => {
      const r2 = repo('acme/rewritten');
      const p = await pushPackage(r2, '1.0.0', bytes('rewritten'));
      const good = await signPackage(r2, p.manifest, alice, { format: 'legacy', repository: 'x' });
      const manifest = parseManifest(await fetchAll(r2, good.manifest, MAX_MANIFEST_BYTES));
      const layer = manifest.layers[0]!;
      const truncated = {
        ...layer,
        annotations: { ...layer.annotations, [ANNOTATION_COSIGN_SIGNATURE]: layer.annotations![ANNOTATION_COSIGN_SIGNATURE]!.slice(0, -8) },
      };
      const { pushBytes } = await import('../../src/content/storage.js');
      const { manifestBytes } = await import('../../src/core/oci.js');
      const bad = await pushBytes(r2, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes({ ...manifest, layers: [truncated] }));
      await r2.tag(bad, good.tag!);
      const v = await verifyPackage({ source: r2, subject: p.manifest, keys: trustAlice });
      expect(v.verification.verified ? 'verified' : `${v.verification.reason}: ${v.verification.detail}`).toBe(
        'bad-signature: legacy signature: signature is truncated or has trailing bytes',
      );
    });
  });
}
