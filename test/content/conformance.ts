// The one interface-conformance suite, run over every Target implementation: the memory store,
// the OCI layout, the embedded registry's repositories and the remote Repository against a real
// registry. Tags are plain tags (`1.2.0`), the only kind a registry takes.
import { describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { EbpmError } from '../../src/core/errors.js';
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

/** What every store here offers; untagging (a registry has no such call) is checked where there is one. */
export type ConformingStore = Target & Deleter & TagLister & ReferrerLister & Partial<Untagger>;

/** Where implementations differ, each said once per implementation rather than hidden in the suite. */
export interface Profile {
  /** Has `untag` (a registry has no such call). */
  readonly untag: boolean;
  /** Has `mount` (cross-repository blob mounts of a registry). */
  readonly mount: boolean;
  /** Keeps the annotations of a tagged descriptor (a layout's index.json does; a registry's tags are bare). */
  readonly tagAnnotations: boolean;
  /** Refuses a digest as a tag (a registry takes it: a manifest put by digest). */
  readonly refusesDigestTag: boolean;
}

/** The memory store's and the OCI layout's profile. */
export const STORE_PROFILE: Profile = {
  untag: true,
  mount: false,
  tagAnnotations: true,
  refusesDigestTag: true,
};

/** `conformance` runs the suite over the stores `open` returns, a fresh empty one per call. */
export function conformance(name: string, open: () => Promise<ConformingStore>, profile: Profile = STORE_PROFILE): void {
  describe(`${name} conforms to Target`, () => {
    it('has the optional abilities, found by type guards', async () => {
      const s = await open();
      expect([canDelete(s), canUntag(s), canListTags(s), canListReferrers(s), canMount(s)]).toEqual([true, profile.untag, true, true, profile.mount]);
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
      // Implementations may put context before the message (the remote names its request).
      expect(e3.code).toBe('SIZE_MISMATCH');
      expect(e3.message.endsWith(`${good.digest}: got more than 12 bytes, expected 12`)).toBe(true);
      expect(await s.exists(good)).toBe(false);
      expect(await s.exists(wrongDigest)).toBe(false);
    });

    it('reports missing content and references', async () => {
      const s = await open();
      // The repository exists (a registry answers NAME_UNKNOWN for one that does not).
      await pushArtifact(s, ['present']);
      const d: Descriptor = { mediaType: LAYER_TYPE, digest: sha256Digest(Buffer.from('absent')), size: 6 };
      await expect(s.fetch(d).then(collect)).rejects.toThrowWithCode('NOT_FOUND');
      await expect(s.resolve('nope')).rejects.toThrowWithCode('NOT_FOUND');
      expect(await s.exists(d)).toBe(false);
      if (canUntag(s)) await expect(s.untag('nope')).rejects.toThrowWithCode('NOT_FOUND');
      await expect(s.delete(d)).rejects.toThrowWithCode('NOT_FOUND');
    });

    it('tags, resolves by tag and digest, lists and untags', async () => {
      const s = await open();
      const a = await pushArtifact(s, ['layer-a']);
      await s.tag(a.manifest, '1.2.0');
      await s.tag(a.manifest, 'latest');
      expect(await s.tags()).toEqual(['1.2.0', 'latest']);
      expect(await s.resolve('latest')).toMatchObject({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: a.manifest.digest, size: a.manifest.size });
      expect(await s.resolve(a.manifest.digest)).toEqual({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: a.manifest.digest, size: a.manifest.size });
      const b = await pushArtifact(s, ['layer-b']);
      await s.tag(b.manifest, 'latest'); // moving a tag replaces it
      expect((await s.resolve('latest')).digest).toBe(b.manifest.digest);
      if (canUntag(s)) {
        await s.untag('latest');
        expect(await s.tags()).toEqual(['1.2.0']);
      }
      const bad = await caught(s.tag(a.manifest, '../etc'));
      expect(bad.code).toBe('INVALID_REFERENCE');
      expect(bad.message).toContain('invalid reference "../etc"');
      if (profile.refusesDigestTag) await expect(s.tag(a.manifest, a.manifest.digest)).rejects.toThrowWithCode('INVALID_REFERENCE');
      else await s.tag(a.manifest, a.manifest.digest);
      expect(await s.tags()).toEqual(canUntag(s) ? ['1.2.0'] : ['1.2.0', 'latest']);
    });

    it('lists referrers by subject, filtered by artifact type', async () => {
      const s = await open();
      const a = await pushArtifact(s, ['program']);
      await s.tag(a.manifest, 'prog-1');
      const sig = await pushArtifact(s, ['signature'], { subject: a.manifest, artifactType: SIGNATURE_TYPE, annotations: { k: 'v' } });
      const other = await pushArtifact(s, ['sbom'], { subject: a.manifest });
      // In no particular order: the referrers API gives none.
      const all = (await s.referrers(a.manifest)).sort((x, y) => (x.digest < y.digest ? -1 : 1));
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
      await src.tag(a.manifest, 'p1');
      const sig = await pushArtifact(src, ['sig'], { subject: a.manifest, artifactType: SIGNATURE_TYPE });
      const s = await open();
      await copy(src, 'p1', s, 'p1', { referrers: true, annotations: { 'dev.ebpm.source': 'mem' } });
      expect((await s.referrers(a.manifest)).map((d) => d.digest)).toEqual([sig.manifest.digest]);
      expect((await s.resolve('p1')).annotations?.['dev.ebpm.source']).toBe(profile.tagAnnotations ? 'mem' : undefined);
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
      // A source that breaks mid-stream with a failure of its own, which has a cause.
      const breaking = Object.assign(Object.create(src) as MemoryStore, {
        fetch: async (d: Descriptor) => {
          if (d.digest !== a.layers[0]!.digest) return src.fetch(d);
          return (async function* () {
            yield Buffer.from('tr');
            throw new EbpmError('REGISTRY_UNREACHABLE', 'origin.invalid: connection reset', { cause: new Error('ECONNRESET') });
          })();
        },
      });
      const broken = await caught(copyGraph(breaking, s, a.manifest));
      expect([broken.code, broken.data.side, broken.message]).toEqual([
        'REGISTRY_UNREACHABLE',
        'source',
        `source: push ${a.layers[0]!.digest}: origin.invalid: connection reset`,
      ]);
      expect(await s.exists(a.layers[0]!)).toBe(false);
      const e2 = await caught(copy(src, 'missing', s, 'x'));
      expect([e2.code, e2.message, e2.data.side]).toEqual(['NOT_FOUND', 'source: resolve missing: missing: not found', 'source']);
      const ac = new AbortController();
      ac.abort();
      const fresh = await open();
      await expect(copyGraph(src, fresh, a.manifest, { signal: ac.signal })).rejects.toThrowWithCode('ABORTED');
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
