// `ebpm import` as a transaction: every tag of an archive or none, tags the store already has
// are not moved to other content without `force`, and a damaged or killed import leaves nothing
// (its scratch copy lives in the store's `ingest/`, never in $TMPDIR).
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { exportArchive, importArchive } from '../../src/store/archive.js';
import { OciLayout } from '../../src/store/layout.js';
import { ebpm, sandbox } from '../cli/helpers.js';
import { caught, pushArtifact } from '../content/fixtures.js';

const base = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'import-'));
let n = 0;
const fresh = (): string => join(base, String(n++));
const ROOT = new URL('../..', import.meta.url).pathname;

/** `archiveOf` exports a new layout holding one artifact per tag (payload: the tag itself, or `payloads[tag]`). */
async function archiveOf(tags: string[], payloads: Record<string, string | Uint8Array> = {}): Promise<{ file: string; digests: Record<string, string> }> {
  const src = await OciLayout.open(fresh());
  const digests: Record<string, string> = {};
  for (const t of tags) {
    const a = await pushArtifact(src, [payloads[t] ?? t]);
    await src.tag(a.manifest, t);
    digests[t] = a.manifest.digest;
  }
  const file = `${fresh()}.tar`;
  await exportArchive(src, tags, file);
  return { file, digests };
}

/** `rewriteIndex` rewrites an archive's index.json with `edit`, keeping every other entry as it is. */
async function rewriteIndex(file: string, edit: (text: string) => string): Promise<string> {
  const extract = tar.extract();
  const pack = tar.pack();
  const out: Buffer[] = [];
  const packed = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) out.push(c);
  })();
  const read = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry as unknown as AsyncIterable<Buffer>) chunks.push(c);
      const body = entry.header.name === 'index.json' ? Buffer.from(edit(Buffer.concat(chunks).toString())) : Buffer.concat(chunks);
      pack.entry({ ...entry.header, size: body.byteLength }, body);
    }
    pack.finalize();
  })();
  extract.end(readFileSync(file));
  await read;
  await packed;
  const rewritten = `${fresh()}.tar`;
  writeFileSync(rewritten, Buffer.concat(out));
  return rewritten;
}

const blobCount = (layout: OciLayout): number => readdirSync(join(layout.root, 'blobs', 'sha256')).length;

describe('import, all or nothing', () => {
  it('refuses an archive with a bad tag name before tagging any of its tags', async () => {
    const { file } = await archiveOf(['a:1', 'b:2']);
    const bad = await rewriteIndex(file, (t) => t.replace('"b:2"', '"b 2"'));
    const dst = await OciLayout.open(fresh());
    const e = await caught(importArchive(bad, dst));
    expect([e.code, e.message]).toEqual(['ARCHIVE_INVALID', `import ${bad}: invalid reference "b 2"`]);
    expect(await dst.tags()).toEqual([]);
    expect(blobCount(dst)).toBe(0);
  });

  it('does not move a stored tag to other content without force, and names both digests', async () => {
    const mine = await archiveOf(['sigsnoop:1.0.0'], { 'sigsnoop:1.0.0': 'mine' });
    const theirs = await archiveOf(['other:2', 'sigsnoop:1.0.0'], { 'sigsnoop:1.0.0': 'theirs' });
    const dst = await OciLayout.open(fresh());
    await importArchive(mine.file, dst);
    const blobs = blobCount(dst);
    const e = (await caught(importArchive(theirs.file, dst))) as Awaited<ReturnType<typeof caught>> & { hint: string };
    const [held, incoming] = [mine.digests['sigsnoop:1.0.0']!, theirs.digests['sigsnoop:1.0.0']!];
    expect([e.code, e.message, e.hint]).toEqual([
      'TAG_EXISTS',
      `import ${theirs.file}: sigsnoop:1.0.0 already tags ${held.slice(0, 19)}, not ${incoming.slice(0, 19)}`,
      'pass --force to move sigsnoop:1.0.0 to the new content, or remove it first (ebpm rm)',
    ]);
    expect(e.data).toEqual({ reference: 'sigsnoop:1.0.0', existing: held, incoming });
    expect(await dst.tags()).toEqual(['sigsnoop:1.0.0']);
    expect((await dst.resolve('sigsnoop:1.0.0')).digest).toBe(held);
    expect(blobCount(dst)).toBe(blobs);

    expect((await importArchive(theirs.file, dst, { force: true })).map((x) => [x.ref, x.descriptor.digest])).toEqual([
      ['other:2', theirs.digests['other:2']],
      ['sigsnoop:1.0.0', incoming],
    ]);
    expect((await dst.resolve('sigsnoop:1.0.0')).digest).toBe(incoming);
  });

  it('imports the same content again without force', async () => {
    const { file, digests } = await archiveOf(['a:1']);
    const dst = await OciLayout.open(fresh());
    await importArchive(file, dst);
    expect((await importArchive(file, dst)).map((x) => x.descriptor.digest)).toEqual([digests['a:1']]);
  });

  it('says a truncated archive is truncated', async () => {
    const { file } = await archiveOf(['a:1'], { 'a:1': randomBytes(64 * 1024) });
    truncateSync(file, 40 * 1024);
    const dst = await OciLayout.open(fresh());
    const e = (await caught(importArchive(file, dst))) as Awaited<ReturnType<typeof caught>> & { hint: string };
    expect([e.code, e.message, e.hint]).toEqual([
      'ARCHIVE_INVALID',
      `import ${file}: the archive is truncated or corrupt`,
      'the archive is damaged or incomplete; export it again',
    ]);
    expect(await dst.tags()).toEqual([]);
    expect(readdirSync(join(dst.root, 'ingest'))).toEqual([]);
  });
});

describe('a killed import', () => {
  it('leaves its scratch copy in the store, where the next write removes it, and nothing in $TMPDIR', async () => {
    const big = randomBytes(8 << 20);
    const { file } = await archiveOf(['big:1'], { 'big:1': big });
    const store = fresh();
    const tmp = fresh();
    mkdirSync(tmp);
    const fifo = `${fresh()}.fifo`;
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [join(ROOT, 'bin/ebpm.js'), 'import', fifo], {
      env: { PATH: process.env.PATH, HOME: fresh(), TMPDIR: tmp, EBPM_STORE: store, EBPM_CONFIG: join(fresh(), 'config.json') },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    // A FIFO paces the import: once 6 of the archive's 8 MiB have gone into the pipe (64 KiB
    // deep), the child is inside the big blob, writing its scratch copy.
    const pipe = await open(fifo, 'w');
    await pipe.write(readFileSync(file).subarray(0, 6 << 20));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    await pipe.close().catch(() => undefined);
    const [left] = readdirSync(join(store, 'ingest'));
    expect(readdirSync(join(store, 'ingest', left!, 'blobs', 'sha256'))).toContain(createHash('sha256').update(big).digest('hex'));

    const next = await archiveOf(['small:1']);
    await importArchive(next.file, await OciLayout.open(store));
    expect(readdirSync(join(store, 'ingest'))).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    expect(existsSync(join(store, 'index.json'))).toBe(true);
  });
});

describe('ebpm import', () => {
  it('exits 1 naming the tag it will not move, and moves it with --force', async () => {
    const sb = sandbox();
    const mine = await archiveOf(['sigsnoop:1.0.0'], { 'sigsnoop:1.0.0': 'mine' });
    const theirs = await archiveOf(['sigsnoop:1.0.0'], { 'sigsnoop:1.0.0': 'theirs' });
    const [held, incoming] = [mine.digests['sigsnoop:1.0.0']!, theirs.digests['sigsnoop:1.0.0']!];
    expect(await ebpm(['import', mine.file], sb.env)).toEqual({ code: 0, out: `imported sigsnoop:1.0.0 ${held}\n`, err: '' });
    expect(await ebpm(['import', theirs.file], sb.env)).toEqual({
      code: 1,
      out: '',
      err:
        `error: import ${theirs.file}: sigsnoop:1.0.0 already tags ${held.slice(0, 19)}, not ${incoming.slice(0, 19)}\n` +
        'hint: pass --force to move sigsnoop:1.0.0 to the new content, or remove it first (ebpm rm)\n',
    });
    expect(await ebpm(['import', theirs.file, '--force'], sb.env)).toEqual({ code: 0, out: `imported sigsnoop:1.0.0 ${incoming}\n`, err: '' });
  });
});
