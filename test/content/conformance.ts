// The one interface-conformance suite, run over every Target implementation (memory, OCI layout).
import { describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE_IMAGE_MANIFEST, type Descriptor } from '../../src/core/oci.js';
import { copy, copyGraph } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import {
  canDelete,
  canListReferrers,
  canListTags,
  canMount,
  canUntag,
  fetchAll,
  type Deleter,
  type ReferrerLister,
  type TagLister,
  type Target,
  type Untagger,
} from '../../src/content/storage.js';
import { ARTIFACT_TYPE, LAYER_TYPE, SIGNATURE_TYPE, caught, collect, pushArtifact } from './fixtures.js';

export type FullStore = Target & Deleter & Untagger & TagLister & ReferrerLister;

export function conformance(name: string, open: () => Promise<FullStore>): void {
  describe(`${name} conforms to Target`, () => {
    it('has the optional abilities, found by type guards', async () => {
      const s = await open();
      expect([canDelete(s), canUntag(s), canListTags(s), canListReferrers(s), canMount(s)]).toEqual([true, true, true, true, false]);
    });

    it('round-trips content byte-exact, in chunks', async () => {
      const s = await open();
      const bytes = Buffer.from('hello, ebpm\n'.repeat(1000));
      const desc: Descriptor = { mediaType: LAYER_TYPE, digest: sha256Digest(bytes), size: bytes.length };
      expect(await s.exists(desc)).toBe(false);
      await s.push(desc, [bytes.subarray(0, 5000), bytes.subarray(5000)]);
      expect(await s.exists(desc)).toBe(true);
      expect((await collect(await s.fetch(desc))).equals(bytes)).toBe(true);
      expect(Buffer.from(await fetchAll(s, desc, 1 << 20)).equals(bytes)).toBe(true);
      await s.push(desc, [bytes]); // pushing held content again succeeds
    });

    it('refuses content that does not match its descriptor and keeps none of it', async () => {
      const s = await open();
      const bytes = Buffer.from('twelve bytes');
      const good: Descriptor = { mediaType: LAYER_TYPE, digest: sha256Digest(bytes), size: 12 };
      const wrongDigest = { ...good, digest: sha256Digest(Buffer.from('other')) };
      const e1 = await caught(s.push(wrongDigest, [bytes]));
      expect(e1.code).toBe('DIGEST_MISMATCH');
      expect(e1.data).toEqual({ expected: wrongDigest.digest, actual: good.digest });
      const e2 = await caught(s.push(good, [bytes.subarray(0, 7)]));
      expect([e2.code, e2.data.expected, e2.data.actual]).toEqual(['SIZE_MISMATCH', 12, 7]);
      const e3 = await caught(s.push(good, [bytes, Buffer.from('!')]));
      expect([e3.code, e3.message]).toEqual(['SIZE_MISMATCH', `${good.digest}: got more than 12 bytes, expected 12`]);
      expect(await s.exists(good)).toBe(false);
      expect(await s.exists(wrongDigest)).toBe(false);
    });

    it('reports missing content and references as NOT_FOUND', async () => {
      const s = await open();
      const d: Descriptor = { mediaType: LAYER_TYPE, digest: sha256Digest(Buffer.from('absent')), size: 6 };
      expect((await caught(s.fetch(d).then(collect))).code).toBe('NOT_FOUND');
      expect((await caught(s.resolve('nope'))).code).toBe('NOT_FOUND');
      expect((await caught(s.untag('nope'))).code).toBe('NOT_FOUND');
      expect((await caught(s.delete(d))).code).toBe('NOT_FOUND');
    });

    it('tags, resolves by tag and digest, lists and untags', async () => {
      const s = await open();
      const a = await pushArtifact(s, ['layer-a']);
      await s.tag(a.manifest, 'sigsnoop:1.2.0');
      await s.tag(a.manifest, 'latest');
      expect(await s.tags()).toEqual(['latest', 'sigsnoop:1.2.0']);
      expect(await s.resolve('latest')).toMatchObject({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: a.manifest.digest, size: a.manifest.size });
      expect(await s.resolve(a.manifest.digest)).toEqual({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: a.manifest.digest, size: a.manifest.size });
      const b = await pushArtifact(s, ['layer-b']);
      await s.tag(b.manifest, 'latest'); // moving a tag replaces it
      expect((await s.resolve('latest')).digest).toBe(b.manifest.digest);
      await s.untag('latest');
      expect(await s.tags()).toEqual(['sigsnoop:1.2.0']);
      const bad = await caught(s.tag(a.manifest, '../etc'));
      expect([bad.code, bad.message]).toEqual(['INVALID_REFERENCE', 'invalid reference "../etc"']);
      expect((await caught(s.tag(a.manifest, a.manifest.digest))).code).toBe('INVALID_REFERENCE');
    });

    it('lists referrers by subject, filtered by artifact type', async () => {
      const s = await open();
      const a = await pushArtifact(s, ['program']);
      await s.tag(a.manifest, 'prog:1');
      const sig = await pushArtifact(s, ['signature'], { subject: a.manifest, artifactType: SIGNATURE_TYPE, annotations: { k: 'v' } });
      const other = await pushArtifact(s, ['sbom'], { subject: a.manifest });
      const all = await s.referrers(a.manifest);
      const expected = [
        { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: sig.manifest.digest, size: sig.manifest.size, artifactType: SIGNATURE_TYPE, annotations: { k: 'v' } },
        { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: other.manifest.digest, size: other.manifest.size, artifactType: ARTIFACT_TYPE },
      ].sort((x, y) => (x.digest < y.digest ? -1 : 1));
      expect(all).toEqual(expected);
      expect(await s.referrers(a.manifest, SIGNATURE_TYPE)).toEqual([expected.find((d) => d.digest === sig.manifest.digest)]);
      expect(await s.referrers(sig.manifest)).toEqual([]);
    });

    it('copies a graph both ways byte-exact, children first, skipping what is there', async () => {
      const src = new MemoryStore();
      const a = await pushArtifact(src, ['one', 'two', 'three']);
      const s = await open();
      const events: string[] = [];
      const stats = await copyGraph(src, s, a.manifest, {
        concurrency: 1,
        onCopyStart: (d) => events.push(`start ${d.mediaType}`),
        onCopyDone: (d) => events.push(`done ${d.size}`),
      });
      expect(stats).toEqual({ copied: 5, skipped: 0, mounted: 0, bytes: 2 + 3 + 3 + 5 + a.manifest.size });
      expect(events.at(-2)).toBe(`start ${MEDIA_TYPE_IMAGE_MANIFEST}`);
      expect(events.filter((e) => e.startsWith('done'))).toHaveLength(5);
      const again = await copyGraph(src, s, a.manifest);
      expect(again).toEqual({ copied: 0, skipped: 1, mounted: 0, bytes: 0 });
      const back = new MemoryStore();
      await copy(s, a.manifest.digest, back, 'round:trip');
      expect(Buffer.from(back.bytes(a.manifest)).equals(Buffer.from(a.manifestBytes))).toBe(true);
      expect(Buffer.from(back.bytes(a.layers[2]!)).toString()).toBe('three');
      expect((await back.resolve('round:trip')).digest).toBe(a.manifest.digest);
    });

    it('copies referrers when asked', async () => {
      const src = new MemoryStore();
      const a = await pushArtifact(src, ['prog']);
      await src.tag(a.manifest, 'p:1');
      const sig = await pushArtifact(src, ['sig'], { subject: a.manifest, artifactType: SIGNATURE_TYPE });
      const s = await open();
      await copy(src, 'p:1', s, 'p:1', { referrers: true, annotations: { 'dev.ebpm.source': 'mem' } });
      expect((await s.referrers(a.manifest)).map((d) => d.digest)).toEqual([sig.manifest.digest]);
      expect((await s.resolve('p:1')).annotations?.['dev.ebpm.source']).toBe('mem');
    });

    it('names the side that failed', async () => {
      const src = new MemoryStore();
      const a = await pushArtifact(src, ['truth']);
      const lying = Object.assign(Object.create(src) as MemoryStore, {
        fetch: async (d: Descriptor) => (d.digest === a.layers[0]!.digest ? [Buffer.from('lies!')] : src.fetch(d)),
      });
      const s = await open();
      const e = await caught(copyGraph(lying, s, a.manifest));
      expect(e.code).toBe('DIGEST_MISMATCH');
      expect(e.data.side).toBe('source');
      expect(e.message).toBe(`source: push ${a.layers[0]!.digest}: ${a.layers[0]!.digest}: content hashes to ${sha256Digest(Buffer.from('lies!'))}`);
      expect(await s.exists(a.layers[0]!)).toBe(false);
      expect(await s.exists(a.manifest)).toBe(false);
      const e2 = await caught(copy(src, 'missing', s, 'x'));
      expect([e2.code, e2.message, e2.data.side]).toEqual(['NOT_FOUND', 'source: resolve missing: missing: not found', 'source']);
      const ac = new AbortController();
      ac.abort();
      const fresh = await open();
      expect((await caught(copyGraph(src, fresh, a.manifest, { signal: ac.signal }))).code).toBe('ABORTED');
      expect(await fresh.exists(EMPTY_DESCRIPTOR)).toBe(false);
    });

    it('deletes content', async () => {
      const s = await open();
      const a = await pushArtifact(s, ['gone soon']);
      await s.delete(a.manifest);
      expect(await s.exists(a.manifest)).toBe(false);
      expect(await s.exists(a.layers[0]!)).toBe(true);
    });
  });
}
