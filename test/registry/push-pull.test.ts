import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copy, copyGraph } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { pushBytes } from '../../src/content/storage.js';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST } from '../../src/core/oci.js';
import { referrersTag } from '../../src/registry/referrers.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { ARTIFACT_TYPE, artifact, bytesOf, collect, LAYER_TYPE, registry, rejection } from './fixtures.js';

describeWith(['registry'], 'registry client against docker-registry 2.8.2', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(() => reg?.stop());

  it('pushes and pulls an artifact byte-exact, by tag and by digest', async () => {
    const a = await artifact(bytesOf(100_000, 'roundtrip'));
    const repo = registry(reg.host).repository('ebpm/roundtrip');
    const tagged = await copy(a.store, a.manifest.digest, repo, '1.0.0');
    expect(tagged.digest).toBe(a.manifest.digest);
    expect(await repo.resolve('1.0.0')).toEqual({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: a.manifest.digest, size: a.manifestBytes.byteLength });

    const back = new MemoryStore();
    const root = await copy(repo, '1.0.0', back, 'pulled');
    expect(root.digest).toBe(a.manifest.digest);
    expect(Buffer.from(back.bytes(a.manifest)).equals(a.manifestBytes)).toBe(true);
    expect(Buffer.from(back.bytes(a.layer)).equals(a.layerBytes)).toBe(true);
    expect((await collect(await repo.fetch(a.layer))).equals(a.layerBytes)).toBe(true);
    const byDigest = await repo.fetchReference(a.manifest.digest);
    expect(Buffer.from(byDigest.bytes).equals(a.manifestBytes)).toBe(true);
    expect(await repo.exists(a.layer)).toBe(true);
    expect(await repo.exists(a.manifest)).toBe(true);
  });

  it('uploads a multi-MiB blob in chunks, following each new Location', async () => {
    const layerBytes = bytesOf(5 * 1024 * 1024 + 123, 'chunked');
    const a = await artifact(layerBytes);
    const lines: string[] = [];
    const repo = registry(reg.host, { chunkThreshold: 1 << 20, chunkSize: 1 << 20, debug: (l) => lines.push(l) }).repository('ebpm/chunked');
    await copyGraph(a.store, repo, a.manifest);
    const patches = lines.filter((l) => l.startsWith('> PATCH'));
    expect(patches).toHaveLength(6);
    // Every PATCH went to a distinct session URL (2.8.2 renews `_state` each time).
    expect(new Set(patches.map((l) => l.split(' ')[2])).size).toBe(6);
    expect((await collect(await repo.fetch(a.layer))).equals(layerBytes)).toBe(true);
  });

  it('mounts a blob from another repository instead of uploading it', async () => {
    const a = await artifact(bytesOf(4096, 'mount'));
    const r = registry(reg.host);
    await copyGraph(a.store, r.repository('ebpm/mount-src'), a.manifest);
    const dst = r.repository('ebpm/mount-dst');
    expect(await dst.exists(a.layer)).toBe(false);
    expect(await dst.mount(a.layer, 'ebpm/mount-src')).toBe(true);
    expect(await dst.exists(a.layer)).toBe(true);
    // Nothing to mount from: the registry opens a session, which is cancelled.
    const other = await artifact(bytesOf(10, 'nowhere'));
    expect(await dst.mount(other.layer, 'ebpm/mount-src')).toBe(false);
    // copyGraph uses the ability when asked to.
    const mounted: string[] = [];
    await copyGraph(a.store, r.repository('ebpm/mount-third'), a.manifest, { mountFrom: 'ebpm/mount-src', onMounted: (d) => mounted.push(d.digest) });
    expect(mounted.sort()).toEqual([EMPTY_DESCRIPTOR.digest, a.layer.digest].sort());
  });

  it('lists tags sorted although 2.8.2 answers them unsorted', async () => {
    const a = await artifact(bytesOf(64, 'tags'));
    const repo = registry(reg.host).repository('ebpm/tags');
    await copyGraph(a.store, repo, a.manifest);
    for (const t of ['2.0.0', '1.10.0', 'latest', '1.2.0', '1.2.0_build.7']) await repo.tag(a.manifest, t);
    expect(await repo.tags()).toEqual(['1.10.0', '1.2.0', '1.2.0_build.7', '2.0.0', 'latest']);
    const e = await rejection(registry(reg.host).repository('ebpm/no-such-repo').tags());
    expect([e.code, e.data?.registryCode]).toEqual(['NOT_FOUND', 'NAME_UNKNOWN']);
    expect(e.message).toBe(`list tags of ebpm/no-such-repo: ${reg.host}: repository ebpm/no-such-repo not found: repository name not known to registry`);
    expect(e.hint).toBe(`no such repository on ${reg.host}; check the name, or push to create it`);
  });

  it('pages through _catalog with its relative Link headers', async () => {
    const a = await artifact(bytesOf(32, 'catalog'));
    const r = registry(reg.host, { pageSize: 2 });
    for (const name of ['cat/c', 'cat/a', 'cat/e', 'cat/b', 'cat/d']) await copyGraph(a.store, r.repository(name), a.manifest);
    const lines: string[] = [];
    const names = await registry(reg.host, { pageSize: 2, debug: (l) => lines.push(l) }).catalog();
    expect(names.filter((n) => n.startsWith('cat/'))).toEqual(['cat/a', 'cat/b', 'cat/c', 'cat/d', 'cat/e']);
    expect(lines.filter((l) => l.startsWith('> GET') && l.includes('/v2/_catalog')).length).toBeGreaterThanOrEqual(3);
    const e = await rejection(registry(reg.host, { pageSize: 2, maxPages: 2 }).catalog());
    expect(e.code).toBe('TOO_MANY_PAGES');
  });

  it('keeps the referrers tag schema for a manifest with a subject and lists it', async () => {
    const subject = await artifact(bytesOf(256, 'subject'));
    const r = registry(reg.host);
    const repo = r.repository('ebpm/referrers');
    await copy(subject.store, subject.manifest.digest, repo, 'v1');
    expect(await repo.referrers(subject.manifest)).toEqual([]);

    const sig = await artifact(bytesOf(80, 'signature'), {
      subject: subject.manifest,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      annotations: { 'dev.ebpm.note': 'sig' },
    });
    const sbom = await artifact(bytesOf(90, 'sbom'), { subject: subject.manifest, artifactType: 'application/spdx+json' });
    await Promise.all([copyGraph(sig.store, repo, sig.manifest), copyGraph(sbom.store, repo, sbom.manifest)]);
    // Pushing again must not duplicate the entry.
    await repo.push(sig.manifest, [sig.manifestBytes]);

    const fresh = registry(reg.host).repository('ebpm/referrers');
    const all = await fresh.referrers(subject.manifest);
    expect(all.map((d) => d.digest).sort()).toEqual([sig.manifest.digest, sbom.manifest.digest].sort());
    expect(all.find((d) => d.digest === sig.manifest.digest)).toEqual({
      mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
      digest: sig.manifest.digest,
      size: sig.manifest.size,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      annotations: { 'dev.ebpm.note': 'sig' },
    });
    expect(await fresh.referrers(subject.manifest, 'application/spdx+json')).toEqual([
      { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: sbom.manifest.digest, size: sbom.manifest.size, artifactType: 'application/spdx+json' },
    ]);
    const index = await fresh.resolve(referrersTag(subject.manifest.digest));
    expect(index.mediaType).toBe(MEDIA_TYPE_IMAGE_INDEX);
    expect(await fresh.tags()).toEqual([referrersTag(subject.manifest.digest), 'v1']);

    // copy with referrers carries them to another repository.
    const back = new MemoryStore();
    await copyGraph(fresh, back, subject.manifest, { referrers: true });
    expect((await back.referrers(subject.manifest)).map((d) => d.digest).sort()).toEqual([sig.manifest.digest, sbom.manifest.digest].sort());

    // Deleting a referrer takes it out of the index.
    await fresh.delete(sbom.manifest);
    expect((await fresh.referrers(subject.manifest)).map((d) => d.digest)).toEqual([sig.manifest.digest]);
  });

  it('deletes manifests and blobs, then reports them unknown', async () => {
    const a = await artifact(bytesOf(512, 'delete'));
    const repo = registry(reg.host).repository('ebpm/delete');
    await copy(a.store, a.manifest.digest, repo, '1.0.0');
    await repo.delete(a.manifest);
    expect(await repo.exists(a.manifest)).toBe(false);
    // A HEAD's 404 has no body: the code is the contract's, and no registry code comes with it.
    const gone = await rejection(repo.resolve('1.0.0'));
    expect([gone.code, gone.data?.registryCode, gone.message]).toEqual([
      'NOT_FOUND',
      undefined,
      `resolve ebpm/delete:1.0.0: ${reg.host}: manifest ebpm/delete:1.0.0 not found`,
    ]);
    const again = await rejection(repo.delete(a.manifest));
    expect([again.code, again.data?.registryCode, again.message]).toEqual([
      'NOT_FOUND',
      'MANIFEST_UNKNOWN',
      `delete ${a.manifest.digest}: ${reg.host}: manifest ebpm/delete@${a.manifest.digest} not found`,
    ]);
    await repo.delete(a.layer);
    expect(await repo.exists(a.layer)).toBe(false);
    const e = await rejection(repo.delete(a.layer));
    // The Deleter contract's code (content/storage.ts), the registry's kept beside it.
    expect([e.code, e.data?.registryCode]).toEqual(['NOT_FOUND', 'BLOB_UNKNOWN']);
    expect(e.message).toBe(`delete ${a.layer.digest}: ${reg.host}: blob ebpm/delete@${a.layer.digest} not found: blob unknown to registry`);
    expect(e.hint).toBe('the registry does not hold this blob; push it first');
    const f = await rejection(repo.fetch(a.layer));
    expect([f.code, f.data?.registryCode, f.message]).toEqual([
      'NOT_FOUND',
      'BLOB_UNKNOWN',
      `fetch ${a.layer.digest}: ${reg.host}: blob ebpm/delete@${a.layer.digest} not found: blob unknown to registry`,
    ]);
  });

  it('refuses content that does not match its descriptor and leaves nothing in the registry', async () => {
    const a = await artifact(bytesOf(2048, 'mismatch'));
    const repo = registry(reg.host).repository('ebpm/mismatch');
    const lying = { ...a.layer, digest: `sha256:${'0'.repeat(64)}` };
    const e = await rejection(repo.push(lying, [a.layerBytes]));
    expect(e.code).toBe('DIGEST_MISMATCH');
    expect(await repo.exists(lying)).toBe(false);
    expect(await repo.exists(a.layer)).toBe(false);
    const short = await rejection(repo.push({ ...a.layer, size: a.layer.size + 1 }, [a.layerBytes]));
    expect(short.code).toBe('SIZE_MISMATCH');
    const chunked = registry(reg.host, { chunkThreshold: 512, chunkSize: 512 }).repository('ebpm/mismatch');
    await expect(chunked.push(lying, [a.layerBytes])).rejects.toThrowWithCode('DIGEST_MISMATCH');
    expect(await chunked.exists(a.layer)).toBe(false);
    // The registry's blob store never received the content (upload sessions are cancelled).
    const hex = a.layer.digest.slice('sha256:'.length);
    expect(existsSync(join(reg.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex))).toBe(false);
    // A manifest that is not valid JSON is refused before any request.
    const bad = await pushBytes(new MemoryStore(), MEDIA_TYPE_IMAGE_MANIFEST, Buffer.from('{"schemaVersion":2'));
    const m = await rejection(repo.push(bad, [Buffer.from('{"schemaVersion":2')]));
    expect(m.code).toBe('MANIFEST_INVALID');
  });

  it('pushes a manifest under its tag in one PUT, kept by digest too, checked as a push by digest is', async () => {
    const a = await artifact(bytesOf(3000, 'by-reference'));
    const lines: string[] = [];
    const repo = registry(reg.host, { debug: (l) => lines.push(l) }).repository('ebpm/by-reference');
    await copyGraph(a.store, repo, a.layer);
    await copyGraph(a.store, repo, { mediaType: EMPTY_DESCRIPTOR.mediaType, digest: EMPTY_DESCRIPTOR.digest, size: EMPTY_DESCRIPTOR.size });
    lines.length = 0;
    await repo.pushReference(a.manifest, [a.manifestBytes], '2.0.0');
    expect(lines.filter((l) => l.startsWith('> ')).map((l) => l.split(' ').slice(1, 3).join(' '))).toEqual([
      `PUT http://${reg.host}/v2/ebpm/by-reference/manifests/2.0.0`,
    ]);
    expect(await repo.resolve('2.0.0')).toEqual({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: a.manifest.digest, size: a.manifestBytes.byteLength });
    expect(Buffer.from((await repo.fetchReference(a.manifest.digest)).bytes).equals(a.manifestBytes)).toBe(true);
    // Other bytes than the descriptor's are refused before any request, as by `push`.
    lines.length = 0;
    const lying = await rejection(repo.pushReference({ ...a.manifest, digest: `sha256:${'1'.repeat(64)}` }, [a.manifestBytes], '2.0.1'));
    expect([lying.code, lines]).toEqual(['DIGEST_MISMATCH', []]);
    const blob = await rejection(repo.pushReference(a.layer, [a.layerBytes], '2.0.2'));
    expect([blob.code, blob.message]).toEqual([
      'INVALID_REFERENCE',
      `tag ebpm/by-reference:2.0.2: ${reg.host}: cannot tag ${LAYER_TYPE}: only manifests and indexes take tags`,
    ]);
    expect((await rejection(repo.pushReference(a.manifest, [a.manifestBytes], 'bad tag'))).code).toBe('INVALID_REFERENCE');
  });

  it('names the missing blob when a manifest is pushed before its layers', async () => {
    const a = await artifact(bytesOf(100, 'orphan'));
    const repo = registry(reg.host).repository('ebpm/orphan');
    const e = await rejection(repo.push(a.manifest, [a.manifestBytes]));
    expect(e.code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(e.hint).toBe('push the blobs a manifest names (config and layers) before the manifest');
    expect(e.message).toBe(`push ${a.manifest.digest}: ${reg.host}: manifest blob unknown: blob unknown to registry`);
  });

  it('gives resolution errors with context and code', async () => {
    const repo = registry(reg.host).repository('ebpm/roundtrip');
    const e = await rejection(repo.resolve('9.9.9'));
    expect([e.code, e.message, e.hint]).toEqual([
      'NOT_FOUND',
      `resolve ebpm/roundtrip:9.9.9: ${reg.host}: manifest ebpm/roundtrip:9.9.9 not found`,
      'no such tag or digest in this repository; check the reference',
    ]);
    // A GET has a body: the registry's code is kept (2.8.2 says MANIFEST_UNKNOWN for a repository nobody pushed to).
    const none = await rejection(registry(reg.host).repository('ebpm/nowhere').fetchReference('1.0.0'));
    expect([none.code, none.data?.registryCode, none.message]).toEqual([
      'NOT_FOUND',
      'MANIFEST_UNKNOWN',
      `fetch ebpm/nowhere:1.0.0: ${reg.host}: manifest ebpm/nowhere:1.0.0 not found`,
    ]);
    const bad = await rejection(repo.resolve('bad tag'));
    expect(bad.code).toBe('INVALID_REFERENCE');
    await expect(registry(reg.host).ping()).resolves.toBeUndefined();
  });

  it('artifact type and layer type survive the round trip', async () => {
    const repo = registry(reg.host).repository('ebpm/roundtrip');
    const { bytes } = await repo.fetchReference('1.0.0');
    const m = JSON.parse(Buffer.from(bytes).toString()) as { artifactType: string; layers: Array<{ mediaType: string }> };
    expect(m.artifactType).toBe(ARTIFACT_TYPE);
    expect(m.layers[0]!.mediaType).toBe(LAYER_TYPE);
  });
});
