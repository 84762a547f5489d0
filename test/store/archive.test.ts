import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { copy } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { exportArchive, importArchive } from '../../src/store/archive.js';
import { OciLayout } from '../../src/store/layout.js';
import { describeWith } from '../helpers/prereq.js';
import { SIGNATURE_TYPE, caught, pushArtifact } from '../content/fixtures.js';

const base = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'archive-'));
let n = 0;
const fresh = (): string => join(base, String(n++));

async function source(): Promise<{ layout: OciLayout; digest: string; sig: string; bytes: Uint8Array }> {
  const layout = await OciLayout.open(fresh());
  const a = await pushArtifact(layout, ['bpf', 'wasm']);
  await layout.tag({ ...a.manifest, annotations: { 'dev.ebpm.pulled-at': '2025-01-01T00:00:00Z' } }, 'sigsnoop:1.0.0');
  const sig = await pushArtifact(layout, ['signature'], { subject: a.manifest, artifactType: SIGNATURE_TYPE });
  const b = await pushArtifact(layout, ['other']);
  await layout.tag(b.manifest, 'other:2');
  return { layout, digest: a.manifest.digest, sig: sig.manifest.digest, bytes: a.manifestBytes };
}

async function tarOf(entries: { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string }[]): Promise<string> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', ...(e.linkname === undefined ? {} : { linkname: e.linkname }) }, e.body ?? '');
  pack.finalize();
  await done;
  const file = join(fresh() + '.tar');
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}

const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('export and import archives', () => {
  it('round-trips refs with their referrers, deterministically', async () => {
    const { layout, digest, sig, bytes } = await source();
    const file = fresh() + '.tar';
    const exported = await exportArchive(layout, ['sigsnoop:1.0.0'], file);
    expect(exported.map((e) => [e.ref, e.descriptor.digest, e.descriptor.annotations])).toEqual([['sigsnoop:1.0.0', digest, undefined]]);
    const again = fresh() + '.tar';
    await exportArchive(layout, ['sigsnoop:1.0.0'], again);
    expect(sha(again)).toBe(sha(file));
    const dst = await OciLayout.open(fresh());
    const imported = await importArchive(file, dst);
    expect(imported.map((e) => e.ref)).toEqual(['sigsnoop:1.0.0']);
    expect(await dst.tags()).toEqual(['sigsnoop:1.0.0']);
    const mem = new MemoryStore();
    await copy(dst, 'sigsnoop:1.0.0', mem, 'x');
    expect(Buffer.from(mem.bytes({ digest })).equals(Buffer.from(bytes))).toBe(true);
    expect((await dst.referrers({ mediaType: '', digest, size: 0 })).map((d) => d.digest)).toEqual([sig]);
  });

  it('leaves no file behind when export fails', async () => {
    const { layout } = await source();
    const file = fresh() + '.tar';
    await expect(exportArchive(layout, ['missing:1'], file)).rejects.toThrowWithCode('NOT_FOUND');
    expect(existsSync(file)).toBe(false);
  });

  const hex = 'a'.repeat(64);
  const hostile: [string, Parameters<typeof tarOf>[0], string, string][] = [
    ['parent paths', [{ name: '../x', body: 'x' }], 'ARCHIVE_UNSAFE', 'entry "../x": path escapes the layout'],
    ['absolute paths', [{ name: '/etc/x', body: 'x' }], 'ARCHIVE_UNSAFE', 'entry "/etc/x": path escapes the layout'],
    ['nested parent paths', [{ name: 'blobs/sha256/../../../x', body: 'x' }], 'ARCHIVE_UNSAFE', 'entry "blobs/sha256/../../../x": path escapes the layout'],
    [
      'symlinks',
      [
        { name: 'blobs', type: 'directory' },
        { name: `blobs/sha256`, type: 'symlink', linkname: '/etc' },
      ],
      'ARCHIVE_UNSAFE',
      'entry "blobs/sha256": symlink entries are not allowed',
    ],
    [
      'hardlinks',
      [{ name: `blobs/sha256/${hex}`, type: 'link', linkname: '/etc/passwd' }],
      'ARCHIVE_UNSAFE',
      `entry "blobs/sha256/${hex}": link entries are not allowed`,
    ],
    ['stray files', [{ name: 'ingest/x', body: 'x' }], 'ARCHIVE_UNSAFE', 'entry "ingest/x": not part of an OCI layout'],
    [
      'blobs that do not match their name',
      [{ name: `blobs/sha256/${hex}`, body: 'not a' }],
      'ARCHIVE_INVALID',
      `sha256:${hex}: content hashes to ${sha256Digest(Buffer.from('not a'))}`,
    ],
  ];

  for (const [what, entries, code, message] of hostile) {
    it(`refuses ${what}, leaving nothing behind`, async () => {
      const file = await tarOf(entries);
      const dst = await OciLayout.open(fresh());
      const e = await caught(importArchive(file, dst));
      expect(e.code).toBe(code);
      expect(e.message).toBe(`import ${file}: ${message}`);
      expect(await dst.tags()).toEqual([]);
      expect(readdirSync(join(dst.root, 'blobs', 'sha256'))).toEqual([]);
      expect(readdirSync(join(dst.root, 'ingest'))).toEqual([]);
    });
  }

  it('refuses a blob whose bytes hash to another name', async () => {
    const body = 'hello';
    const wrong = sha256Digest(Buffer.from('other')).slice(7);
    const file = await tarOf([{ name: `blobs/sha256/${wrong}`, body }]);
    const e = await caught(importArchive(file, await OciLayout.open(fresh())));
    expect([e.code, e.data.code, e.data.expected]).toEqual(['ARCHIVE_INVALID', 'DIGEST_MISMATCH', `sha256:${wrong}`]);
  });

  it('refuses archives whose graphs are incomplete', async () => {
    const { layout } = await source();
    const file = fresh() + '.tar';
    await exportArchive(layout, ['other:2'], file);
    // Rebuild the tar without its layer blob.
    const extract = tar.extract();
    const kept: Parameters<typeof tarOf>[0] = [];
    const input = readFileSync(file);
    const done = (async () => {
      for await (const entry of extract) {
        const chunks: Buffer[] = [];
        for await (const c of entry as unknown as AsyncIterable<Buffer>) chunks.push(c);
        if (!(entry.header.type === 'file' && chunks.length > 0 && Buffer.concat(chunks).toString() === 'other')) {
          kept.push({ name: entry.header.name, type: entry.header.type as 'file', body: Buffer.concat(chunks).toString('latin1') });
        }
      }
    })();
    extract.end(input);
    await done;
    const broken = await tarOf(kept);
    const e = await caught(importArchive(broken, await OciLayout.open(fresh())));
    expect(e.code).toBe('ARCHIVE_INVALID');
    expect(e.message).toMatch(/is missing$/);
  });
});

describeWith(['skopeo'], 'archives and skopeo', () => {
  it('skopeo reads an exported archive as oci-archive', async () => {
    const { layout, bytes } = await source();
    const file = fresh() + '.tar';
    await exportArchive(layout, ['sigsnoop:1.0.0'], file);
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${file}:sigsnoop:1.0.0`]);
    expect(raw.equals(Buffer.from(bytes))).toBe(true);
  });
});
