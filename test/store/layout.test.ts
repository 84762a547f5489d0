import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes, type Descriptor } from '../../src/core/oci.js';
import { copy, copyGraph } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { fetchAll, pushBytes } from '../../src/content/storage.js';
import { OciLayout } from '../../src/store/layout.js';
import { processStart } from '../../src/store/lock.js';
import { dropBroken, list, prune, remove, verifyStore } from '../../src/store/maintenance.js';
import { describeWith } from '../helpers/prereq.js';
import { LAYER_TYPE, SIGNATURE_TYPE, caught, pushArtifact } from '../content/fixtures.js';

const base = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'layout-'));
let n = 0;
const fresh = (): string => join(base, String(n++));

describe('OciLayout on disk', () => {
  it('writes a standard layout: oci-layout, index.json with ref names, read-only blobs', async () => {
    const dir = fresh();
    const l = await OciLayout.open(dir);
    expect(readFileSync(join(dir, 'oci-layout'), 'utf8')).toBe('{"imageLayoutVersion":"1.0.0"}');
    expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe(`{"manifests":[],"mediaType":"${MEDIA_TYPE_IMAGE_INDEX}","schemaVersion":2}`);
    const a = await pushArtifact(l, ['bpf object']);
    await l.tag({ ...a.manifest, annotations: { 'dev.ebpm.pulled-at': '2025-01-02T03:04:05Z' } }, 'sigsnoop:1.2.0');
    expect(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_IMAGE_INDEX,
      manifests: [
        {
          mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
          digest: a.manifest.digest,
          size: a.manifest.size,
          annotations: { 'dev.ebpm.pulled-at': '2025-01-02T03:04:05Z', 'org.opencontainers.image.ref.name': 'sigsnoop:1.2.0' },
        },
      ],
    });
    const blob = join(dir, 'blobs', 'sha256', a.manifest.digest.slice(7));
    expect(readFileSync(blob)).toEqual(Buffer.from(a.manifestBytes));
    expect(statSync(blob).mode & 0o777).toBe(0o444);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
    // Reopening sees the same tags.
    expect(await (await OciLayout.open(dir)).tags()).toEqual(['sigsnoop:1.2.0']);
  });

  it('lists its tagged entries in index order with what each tag resolves to; tags sorted', async () => {
    const l = await OciLayout.open(fresh());
    const a = await pushArtifact(l, ['a']);
    const b = await pushArtifact(l, ['b']);
    await l.tag(a.manifest, 'z:1');
    await l.tag(b.manifest, 'a:1');
    const tagged = await l.tagged();
    expect(tagged.map((t) => [t.tag, t.descriptor.digest])).toEqual([
      ['z:1', a.manifest.digest],
      ['a:1', b.manifest.digest],
    ]);
    for (const t of tagged) expect(await l.resolve(t.tag)).toEqual(t.descriptor);
    expect(await l.tags()).toEqual(['a:1', 'z:1']);
  });

  it('writes index.json only when an update changes it', async () => {
    const l = await OciLayout.open(fresh());
    const a = await pushArtifact(l, ['a']);
    await l.tag(a.manifest, 'a:1');
    const path = join(l.root, 'index.json');
    const before = statSync(path).ino;
    // Tagging again what a tag already names, and registering a known referrer, change nothing.
    await l.tag(a.manifest, 'a:1');
    expect(statSync(path).ino).toBe(before);
    const sig = await pushArtifact(l, ['signature'], { subject: a.manifest, artifactType: SIGNATURE_TYPE });
    const registered = statSync(path).ino;
    expect(registered).not.toBe(before);
    await l.registerReferrer(sig.manifest, sig.manifestBytes);
    expect(statSync(path).ino).toBe(registered);
    await l.untag('a:1');
    expect(statSync(path).ino).not.toBe(registered);
  });

  it('leaves nothing behind when a push is refused', async () => {
    const dir = fresh();
    const l = await OciLayout.open(dir);
    const bytes = Buffer.from('x'.repeat(100_000));
    await caught(l.push({ mediaType: LAYER_TYPE, digest: sha256Digest(Buffer.from('y')), size: 100_000 }, [bytes]));
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).toEqual([]);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
  });

  it('writes a blob of several writebacks byte-exact, and leaves nothing of one that fails its check at the end', async () => {
    const dir = fresh();
    const l = await OciLayout.open(dir);
    // 20 MiB in 1 MiB chunks: past two 8 MiB writebacks, with the last chunk held for the check.
    const bytes = Buffer.alloc(20 << 20);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(i, i);
    const chunks = Array.from({ length: 20 }, (_, i) => bytes.subarray(i << 20, (i + 1) << 20));
    const desc = { mediaType: LAYER_TYPE, digest: sha256Digest(bytes), size: bytes.length };
    await l.push(desc, chunks);
    expect(readFileSync(join(dir, 'blobs', 'sha256', desc.digest.slice(7))).equals(bytes)).toBe(true);
    const other = Buffer.from(bytes);
    other.writeUInt8(other.readUInt8(other.length - 1) ^ 1, other.length - 1);
    const refused = await caught(l.push({ ...desc, digest: sha256Digest(other) }, chunks));
    expect(refused.code).toBe('DIGEST_MISMATCH');
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).toEqual([desc.digest.slice(7)]);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
  });

  it('tags only complete graphs and refuses to delete what a tag uses', async () => {
    const l = await OciLayout.open(fresh());
    const mem = new MemoryStore();
    const a = await pushArtifact(mem, ['only in memory']);
    await l.push(a.manifest, [a.manifestBytes]);
    const e = await caught(l.tag(a.manifest, 'x:1'));
    expect([e.code, e.message]).toEqual(['GRAPH_INCOMPLETE', `${a.manifest.digest}: ${EMPTY_DESCRIPTOR.digest} is missing from the store`]);
    expect(await l.tags()).toEqual([]);
    const b = await pushArtifact(l, ['complete']);
    await l.tag(b.manifest, 'y:1');
    await expect(l.delete(b.layers[0]!)).rejects.toThrowWithCode('IN_USE');
  });

  it('refuses directories that are not layouts', async () => {
    const dir = fresh();
    await OciLayout.open(dir);
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    const e = await caught(OciLayout.open(dir));
    expect([e.code, e.message]).toEqual(['LAYOUT_INVALID', `${dir}: not an OCI image layout: oci-layout is not {"imageLayoutVersion":"1.0.0"}`]);
    await expect(OciLayout.open(fresh(), { create: false })).rejects.toThrowWithCode('LAYOUT_INVALID');
  });
});

describe('the store lock', () => {
  it('waits a bounded time for a live holder, and breaks a dead one', async () => {
    const dir = fresh();
    const l = await OciLayout.open(dir, { timeoutMs: 150 });
    const a = await pushArtifact(l, ['locked']);
    const lock = join(dir, 'index.json.lock');
    writeFileSync(lock, JSON.stringify({ pid: 1, start: processStart(1), token: 'init' }));
    // Bounded: a wait without end would never give this error.
    const e = await caught(l.tag(a.manifest, 'a:1'));
    expect([e.code, e.message, e.data.pid]).toEqual(['STORE_LOCKED', 'store is locked by process 1', 1]);
    writeFileSync(lock, JSON.stringify({ pid: 999_999_999, start: '1', token: 'dead' }));
    await l.tag(a.manifest, 'a:1');
    expect(await l.tags()).toEqual(['a:1']);
    expect(existsSync(lock)).toBe(false);
  });
});

describe('store maintenance', () => {
  it('lists tagged packages with their whole size and metadata', async () => {
    const l = await OciLayout.open(fresh());
    const a = await pushArtifact(l, ['12345', '1234567890'], {
      annotations: { 'org.opencontainers.image.title': 'sigsnoop', 'org.opencontainers.image.version': '1.2.0' },
    });
    await l.tag(
      { ...a.manifest, annotations: { 'dev.ebpm.pulled-at': '2025-01-01T00:00:00Z', 'dev.ebpm.source': 'localhost:5000/sigsnoop:1.2.0' } },
      'localhost:5000/sigsnoop:1.2.0',
    );
    const b = await pushArtifact(l, ['abc']);
    await l.tag(b.manifest, 'tools/execsnoop:0.1');
    expect(await list(l)).toEqual([
      {
        ref: 'localhost:5000/sigsnoop:1.2.0',
        name: 'sigsnoop',
        version: '1.2.0',
        digest: a.manifest.digest,
        mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
        artifactType: undefined,
        size: a.manifest.size + 2 + 5 + 10,
        pulledAt: '2025-01-01T00:00:00Z',
        source: 'localhost:5000/sigsnoop:1.2.0',
      },
      {
        ref: 'tools/execsnoop:0.1',
        name: 'tools/execsnoop',
        version: '0.1',
        digest: b.manifest.digest,
        mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
        artifactType: undefined,
        size: b.manifest.size + 2 + 3,
        pulledAt: undefined,
        source: undefined,
      },
    ]);
  });

  it("lists a package's referrers reading only theirs: not the packages, not others' referrers", async () => {
    const l = await OciLayout.open(fresh());
    const pkgs: Descriptor[] = [];
    const sigs: Descriptor[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await pushArtifact(l, [`package ${i}`]);
      await l.tag(p.manifest, `p${i}:1`);
      pkgs.push(p.manifest);
      sigs.push((await pushArtifact(l, [`signature ${i}`], { subject: p.manifest, artifactType: SIGNATURE_TYPE })).manifest);
    }
    const read = vi.spyOn(l, 'node');
    const digests = (ds: { digest: string }[]) => ds.map((d) => d.digest);
    expect(digests(await l.referrers(pkgs[2]!))).toEqual([sigs[2]!.digest]);
    expect(digests(read.mock.calls.map(([d]) => d))).toEqual([sigs[2]!.digest]);
    read.mockClear();
    expect(await l.referrers(sigs[0]!)).toEqual([]);
    expect(read).not.toHaveBeenCalled();
    // An entry an older ebpm wrote names no subject: it is read to see whose it is.
    const path = join(l.root, 'index.json');
    const index = JSON.parse(readFileSync(path, 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    for (const m of index.manifests) if (m.digest === sigs[4]!.digest) delete m.annotations;
    writeFileSync(path, JSON.stringify(index));
    expect(digests(await l.referrers(pkgs[2]!))).toEqual([sigs[2]!.digest]);
    expect(digests(read.mock.calls.map(([d]) => d))).toEqual([sigs[2]!.digest, sigs[4]!.digest]);
    expect(digests(await l.referrers(pkgs[4]!))).toEqual([sigs[4]!.digest]);
    // A referrer left with a tag for its only entry is listed again by the store's repair.
    const tagged = index.manifests.filter((m) => m.digest !== sigs[1]!.digest);
    writeFileSync(path, JSON.stringify({ ...index, manifests: tagged }));
    await l.tag(sigs[1]!, 'sig-of-p1');
    expect(await l.referrers(pkgs[1]!)).toEqual([]);
    expect((await verifyStore(l)).adoptedReferrers).toBe(1);
    expect(digests(await l.referrers(pkgs[1]!))).toEqual([sigs[1]!.digest]);
  });

  it('prunes what no tag reaches, keeping referrers of what is kept', async () => {
    const l = await OciLayout.open(fresh());
    const a = await pushArtifact(l, ['kept']);
    await l.tag(a.manifest, 'a:1');
    const sig = await pushArtifact(l, ['sig of a'], { subject: a.manifest, artifactType: SIGNATURE_TYPE });
    const b = await pushArtifact(l, ['dropped']);
    await l.tag(b.manifest, 'b:1');
    const sigB = await pushArtifact(l, ['sig of b'], { subject: b.manifest, artifactType: SIGNATURE_TYPE });
    await pushBytes(l, LAYER_TYPE, Buffer.from('stray'));
    expect(await prune(l)).toEqual({ removedBlobs: 1, removedPartial: 0, reclaimedBytes: 5, droppedReferrers: 0 });
    const r = await remove(l, 'b:1');
    expect(r.removed.digest).toBe(b.manifest.digest);
    expect(r.pruned).toEqual({
      removedBlobs: 4,
      removedPartial: 0,
      reclaimedBytes: b.manifest.size + 7 + sigB.manifest.size + 8,
      droppedReferrers: 1,
    });
    expect(await l.referrers(a.manifest)).toHaveLength(1);
    expect(await l.exists(sig.layers[0]!)).toBe(true);
    expect(await l.exists(b.layers[0]!)).toBe(false);
    await expect(remove(l, 'b:1')).rejects.toThrowWithCode('NOT_FOUND');
  });

  it('clears what killed writers left in ingest/ when opened to write, and keeps what live ones write', async () => {
    const dir = fresh();
    await OciLayout.open(dir);
    const ingest = join(dir, 'ingest');
    const mine = `${process.pid}.${processStart(process.pid)}.0123abcd`;
    for (const name of ['999999999.1.abcd', mine, 'other-tool.tmp', 'other-tool.old']) writeFileSync(join(ingest, name), 'partial');
    const hourAgo = new Date(Date.now() - 60 * 60 * 1000);
    utimesSync(join(ingest, 'other-tool.old'), hourAgo, hourAgo);
    await OciLayout.open(dir, { create: false });
    expect(readdirSync(ingest).sort()).toEqual([mine, '999999999.1.abcd', 'other-tool.old', 'other-tool.tmp'].sort());
    await OciLayout.open(dir);
    expect(readdirSync(ingest).sort()).toEqual([mine, 'other-tool.tmp'].sort());
  });

  it('verify removes corrupt blobs, drops incomplete entries, cleans temp files and fixes modes', async () => {
    const dir = fresh();
    const l = await OciLayout.open(dir);
    const a = await pushArtifact(l, ['will rot']);
    await l.tag(a.manifest, 'a:1');
    const b = await pushArtifact(l, ['fine']);
    await l.tag(b.manifest, 'b:1');
    const rotten = join(dir, 'blobs', 'sha256', a.layers[0]!.digest.slice(7));
    chmodSync(rotten, 0o644);
    writeFileSync(rotten, 'wont rot');
    chmodSync(join(dir, 'blobs', 'sha256', b.layers[0]!.digest.slice(7)), 0o600);
    writeFileSync(join(dir, 'ingest', '999999999.1.abcd'), 'left by a dead writer');
    writeFileSync(join(dir, 'blobs', 'sha256', 'not-a-digest'), '');
    const stats = await verifyStore(l);
    expect({ ...stats, steps: stats.steps.map((s) => s.name) }).toEqual({
      verifiedBlobs: 4,
      corruptBlobs: [a.layers[0]!.digest],
      brokenManifests: [a.manifest.digest],
      strayFiles: ['sha256:not-a-digest'],
      droppedEntries: [{ ref: 'a:1', digest: a.manifest.digest, missing: a.layers[0]!.digest }],
      adoptedReferrers: 0,
      cleanedTemp: 1,
      fixedPerms: 1,
      steps: ['cleanTemp', 'rehashBlobs', 'checkIndex', 'adoptReferrers', 'fixPerms'],
    });
    expect(await l.tags()).toEqual(['b:1']);
    const again = await verifyStore(l);
    expect([again.corruptBlobs, again.droppedEntries, again.cleanedTemp, again.fixedPerms]).toEqual([[], [], 0, 0]);
  });

  it('verify removes every manifest and index above a corrupt blob, tagged or not, so that a copy restores them', async () => {
    const dir = fresh();
    const l = await OciLayout.open(dir);
    const mem = new MemoryStore();
    const a = await pushArtifact(mem, ['stays', 'will rot']);
    const orphan = await pushArtifact(mem, ['will rot', 'orphan']);
    const index = await pushBytes(
      mem,
      MEDIA_TYPE_IMAGE_INDEX,
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [a.manifest] })),
    );
    await mem.tag(index, 'i:1');
    await copy(mem, 'i:1', l, 'i:1');
    await copyGraph(mem, l, orphan.manifest);
    const rotten = a.layers[1]!.digest;
    const path = join(dir, 'blobs', 'sha256', rotten.slice(7));
    chmodSync(path, 0o644);
    writeFileSync(path, 'will rut');
    const stats = await verifyStore(l);
    expect([stats.corruptBlobs, stats.brokenManifests, stats.droppedEntries]).toEqual([
      [rotten],
      [index.digest, a.manifest.digest, orphan.manifest.digest].sort(),
      [{ ref: 'i:1', digest: index.digest, missing: rotten }],
    ]);
    expect(await Promise.all([a.layers[0]!, orphan.layers[1]!, EMPTY_DESCRIPTOR].map((d) => l.exists(d)))).toEqual([true, true, true]);
    // Copying again is an ordinary copy: what was removed comes back, the rest is skipped.
    const stats2 = await copyGraph(mem, l, index);
    expect([stats2.copied, stats2.skipped]).toEqual([3, 2]);
    await l.tag(index, 'i:1');
    expect(await l.missingFrom(index)).toBeUndefined();
  });

  it('dropBroken removes what lost a blob outside ebpm, and only that', async () => {
    const dir = fresh();
    const l = await OciLayout.open(dir);
    const a = await pushArtifact(l, ['lost', 'kept']);
    const b = await pushArtifact(l, ['kept']);
    unlinkSync(join(dir, 'blobs', 'sha256', a.layers[0]!.digest.slice(7)));
    expect(await dropBroken(l, [a.manifest, b.manifest])).toEqual([a.manifest.digest]);
    expect([await l.exists(a.manifest), await l.exists(a.layers[1]!), await l.exists(b.manifest)]).toEqual([false, true, true]);
    expect(await dropBroken(l, [a.manifest, b.manifest])).toEqual([]);
  });
});

describeWith(['skopeo'], 'skopeo interoperability', () => {
  it('skopeo reads a layout ebpm wrote, byte-exact, and ebpm reads one skopeo wrote', async () => {
    const ours = fresh();
    const l = await OciLayout.open(ours);
    const mem = new MemoryStore();
    const a = await pushArtifact(mem, ['program bytes', Buffer.alloc(70_000, 7)], { annotations: { 'org.opencontainers.image.version': '1.0.0' } });
    await mem.tag(a.manifest, '1.0.0');
    await copy(mem, '1.0.0', l, 'demo:1.0.0');
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${ours}:demo:1.0.0`]);
    expect(raw.equals(Buffer.from(a.manifestBytes))).toBe(true);
    const theirs = fresh();
    execFileSync('skopeo', ['copy', '-q', `oci:${ours}:demo:1.0.0`, `oci:${theirs}:copied`], { stdio: 'pipe' });
    const t = await OciLayout.open(theirs, { create: false });
    const root = await t.resolve('copied');
    expect(root.digest).toBe(a.manifest.digest);
    const back = new MemoryStore();
    await copy(t, 'copied', back, 'back');
    expect(Buffer.from(back.bytes(a.layers[1]!)).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(Buffer.from(await fetchAll(t, root, 1 << 20)).equals(Buffer.from(manifestBytes(JSON.parse(raw.toString()))))).toBe(true);
    // And ebpm writes into the layout skopeo made, keeping its tag.
    await copy(mem, '1.0.0', t, 'second');
    expect(await t.tags()).toEqual(['copied', 'second']);
  });
});
