// The registry client against a registry WITH the OCI 1.1 referrers API (docker-registry 2.8.2
// behind test/helpers/referrers-proxy.ts): referrers are listed through the API, and a push the
// registry answers with `OCI-Subject` leaves the referrers tag schema alone. The proxy's own
// answers are checked on the wire against distribution-spec v1.1.1 §"Listing Referrers".
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from 'undici';
import { copy, copyGraph } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { pushBytes } from '../../src/content/storage.js';
import { EMPTY_DESCRIPTOR, manifestBytes, MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, type Descriptor, type ImageManifest } from '../../src/core/oci.js';
import { describeWith } from '../helpers/prereq.js';
import { startReferrersProxy } from '../helpers/referrers-proxy.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { artifact, bytesOf, registry } from './fixtures.js';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM = 'application/spdx+json';

describeWith(['registry'], 'registry client against a registry with the referrers API', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ referrersApi: true });
  });
  afterAll(() => reg?.stop());

  const get = async (path: string) => {
    const res = await request(`${reg.url}${path}`, { headers: { accept: MEDIA_TYPE_IMAGE_INDEX } });
    return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as unknown };
  };

  it('lists referrers through the API and never writes the tag schema', async () => {
    const subject = await artifact(bytesOf(256, 'api subject'));
    const repo = registry(reg.host).repository('ebpm/api');
    await copy(subject.store, subject.manifest.digest, repo, 'v1');
    expect(await repo.referrers(subject.manifest)).toEqual([]);

    const sig = await artifact(bytesOf(80, 'api signature'), { subject: subject.manifest, artifactType: BUNDLE, annotations: { 'dev.ebpm.note': 'sig' } });
    const sbom = await artifact(bytesOf(90, 'api sbom'), { subject: subject.manifest, artifactType: SBOM });
    await Promise.all([copyGraph(sig.store, repo, sig.manifest), copyGraph(sbom.store, repo, sbom.manifest)]);

    const fresh = registry(reg.host).repository('ebpm/api');
    const all = await fresh.referrers(subject.manifest);
    expect(all).toEqual(
      [
        {
          mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
          digest: sig.manifest.digest,
          size: sig.manifest.size,
          artifactType: BUNDLE,
          annotations: { 'dev.ebpm.note': 'sig' },
        },
        { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: sbom.manifest.digest, size: sbom.manifest.size, artifactType: SBOM },
      ].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
    );
    expect(await fresh.referrers(subject.manifest, SBOM)).toEqual([
      { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: sbom.manifest.digest, size: sbom.manifest.size, artifactType: SBOM },
    ]);
    // The registry answered OCI-Subject, so no `sha256-<hex>` index was written.
    expect(await fresh.tags()).toEqual(['v1']);

    const back = new MemoryStore();
    await copyGraph(fresh, back, subject.manifest, { referrers: true });
    expect((await back.referrers(subject.manifest)).map((d) => d.digest).sort()).toEqual([sig.manifest.digest, sbom.manifest.digest].sort());

    await fresh.delete(sbom.manifest);
    expect((await fresh.referrers(subject.manifest)).map((d) => d.digest)).toEqual([sig.manifest.digest]);
  });

  it('answers on the wire as the spec says: OCI-Subject on push, 200 with an empty index, the filter header', async () => {
    const subject = await artifact(bytesOf(64, 'wire subject'));
    const repo = registry(reg.host).repository('ebpm/wire');
    await copy(subject.store, subject.manifest.digest, repo, 'v1');
    const sbom = await artifact(bytesOf(32, 'wire sbom'), { subject: subject.manifest, artifactType: SBOM });
    await copyGraph(sbom.store, repo, sbom.manifest, { concurrency: 1 });
    const put = await request(`${reg.url}/v2/ebpm/wire/manifests/${sbom.manifest.digest}`, {
      method: 'PUT',
      headers: { 'content-type': MEDIA_TYPE_IMAGE_MANIFEST },
      body: sbom.manifestBytes,
    });
    await put.body.dump();
    expect([put.statusCode, put.headers['oci-subject']]).toEqual([201, subject.manifest.digest]);

    const unknown = await get(`/v2/ebpm/wire/referrers/sha256:${'0'.repeat(64)}`);
    expect([unknown.status, unknown.headers['content-type'], unknown.body]).toEqual([
      200,
      MEDIA_TYPE_IMAGE_INDEX,
      { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [] },
    ]);
    const filtered = await get(`/v2/ebpm/wire/referrers/${subject.manifest.digest}?artifactType=${encodeURIComponent(BUNDLE)}`);
    expect([filtered.status, filtered.headers['oci-filters-applied'], filtered.body]).toEqual([
      200,
      'artifactType',
      { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [] },
    ]);
    const plain = await get(`/v2/ebpm/wire/referrers/${subject.manifest.digest}`);
    expect([plain.headers['oci-filters-applied'], (plain.body as { manifests: unknown[] }).manifests.length]).toEqual([undefined, 1]);

    // A manifest without `artifactType` is listed under its config's media type (v1.1.1).
    const bare: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config: EMPTY_DESCRIPTOR, layers: [], subject: subject.manifest };
    const bareDesc = await pushBytes(repo, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes(bare));
    const both = await get(`/v2/ebpm/wire/referrers/${subject.manifest.digest}`);
    expect((both.body as { manifests: Descriptor[] }).manifests.find((d) => d.digest === bareDesc.digest)).toEqual({
      mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
      digest: bareDesc.digest,
      size: bareDesc.size,
      artifactType: EMPTY_DESCRIPTOR.mediaType,
    });
  });

  it('asks for credentials the way the registry does, then lists', async () => {
    const locked = await startRegistry({ auth: 'htpasswd', users: { alice: 'wonderland-pw' }, referrersApi: true });
    try {
      const credentials = async () => ({ kind: 'basic' as const, username: 'alice', password: 'wonderland-pw' });
      const repo = registry(locked.host, { credentials }).repository('team/api');
      const subject = await artifact(bytesOf(40, 'locked subject'));
      const sig = await artifact(bytesOf(20, 'locked sig'), { subject: subject.manifest, artifactType: BUNDLE });
      await copy(subject.store, subject.manifest.digest, repo, 'v1');
      await copyGraph(sig.store, repo, sig.manifest);
      const anonymous = await request(`${locked.url}/v2/team/api/referrers/${subject.manifest.digest}`);
      await anonymous.body.dump();
      expect([anonymous.statusCode, String(anonymous.headers['www-authenticate']).startsWith('Basic ')]).toEqual([401, true]);
      const fresh = registry(locked.host, { credentials }).repository('team/api');
      expect((await fresh.referrers(subject.manifest)).map((d) => d.digest)).toEqual([sig.manifest.digest]);
      expect(await fresh.tags()).toEqual(['v1']);
    } finally {
      await locked.stop();
    }
  });

  it('finds referrers pushed to the registry before the API was in front of it', async () => {
    const bare = await startRegistry();
    try {
      const subject = await artifact(bytesOf(48, 'earlier subject'));
      const sig = await artifact(bytesOf(16, 'earlier sig'), { subject: subject.manifest, artifactType: BUNDLE });
      const repo = registry(bare.host).repository('ebpm/earlier');
      await copy(subject.store, subject.manifest.digest, repo, 'v1');
      await copyGraph(sig.store, repo, sig.manifest);
      const proxy = await startReferrersProxy(bare.url, bare.dataDir);
      try {
        const via = registry(proxy.host).repository('ebpm/earlier');
        expect((await via.referrers(subject.manifest)).map((d) => [d.digest, d.artifactType])).toEqual([[sig.manifest.digest, BUNDLE]]);
        expect(proxy.listed).toEqual([`ebpm/earlier@${subject.manifest.digest}`]);
      } finally {
        await proxy.stop();
      }
    } finally {
      await bare.stop();
    }
  });
});
