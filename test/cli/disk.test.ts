// A full disk and a read-only store, on a real small tmpfs: every command that writes says so in
// one line with a hint (exit 1, not "a bug in ebpm"), rm and prune still free space on a full
// disk (the store keeps a reserve for their lock and index), and a read-only store still runs
// what it holds, recording nothing.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, packageLayout, sandbox, type BuiltPackage } from './helpers.js';

const NO_SPACE_HINT = 'hint: free space there: `ebpm prune` removes what no stored package uses, `ebpm rm <ref>` a stored package';
const READ_ONLY_HINT = 'hint: remount it read-write, or point EBPM_STORE at a writable directory; run still works from a read-only store';

/** `fill` writes a file in `dir` until the filesystem is full. */
function fill(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // What is left is less than a page: not even a lock file's content fits.
  const s = statfsSync(dir);
  expect(s.bavail).toBe(0);
}

describeWith(['root', 'clang'], 'a full disk and a read-only store', () => {
  const sb = sandbox();
  const mounts: string[] = [];
  let small: BuiltPackage;
  let big: BuiltPackage;

  const mount = (name: string): string => {
    const dir = join(sb.root, name);
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir]);
    mounts.push(dir);
    return dir;
  };

  beforeAll(async () => {
    small = await packageLayout(join(sb.root, 'src', 'small'), { name: 'small', version: '1.0.0' });
    big = await packageLayout(join(sb.root, 'src', 'big'), { name: 'big', version: '1.0.0', payload: randomBytes(4 << 20) });
    for (const p of [small, big]) expect((await ebpm(['push', p.dir], sb.env)).code).toBe(0);
  });
  afterAll(() => {
    for (const dir of mounts) execFileSync('umount', [dir]);
  });

  it('pull, tag, import, export and verify say the disk is full; prune and rm free space on it', async () => {
    const disk = mount('full');
    const store = join(disk, 'store');
    const env = { ...sb.env, EBPM_STORE: store };
    expect((await ebpm(['pull', 'small:1.0.0'], env)).code).toBe(0);
    expect(readdirSync(store)).toContain('reserve');
    const archive = join(sb.root, 'big.tar');
    const elsewhere = { ...sb.env, EBPM_STORE: join(sb.root, 'other-store') };
    expect((await ebpm(['pull', 'big:1.0.0'], elsewhere)).code).toBe(0);
    expect((await ebpm(['export', 'big:1.0.0', archive], elsewhere)).code).toBe(0);
    fill(disk);

    const pulled = await ebpm(['pull', 'big:1.0.0'], env);
    // The first blob the copy writes is the one that does not fit.
    const blob = /push (sha256:[0-9a-f]{64}):/.exec(pulled.err)?.[1];
    expect(big.blobs.has(blob!)).toBe(true);
    expect(pulled).toEqual({ code: 1, out: '', err: `error: pull big:1.0.0: destination: push ${blob}: no space left on ${store}\n${NO_SPACE_HINT}\n` });
    const tagged = await ebpm(['tag', 'small:1.0.0', 'other:1'], env);
    expect(tagged).toEqual({ code: 1, out: '', err: `error: tag small:1.0.0: no space left on ${store}\n${NO_SPACE_HINT}\n` });
    const imported = await ebpm(['import', archive], env);
    expect(imported).toEqual({ code: 1, out: '', err: `error: import ${archive}: no space left on ${store}\n${NO_SPACE_HINT}\n` });
    const exported = await ebpm(['export', 'small:1.0.0', join(disk, 'small.tar')], env);
    expect(exported).toEqual({ code: 1, out: '', err: `error: export ${join(disk, 'small.tar')}: no space left on ${disk}\n${NO_SPACE_HINT}\n` });
    expect(readdirSync(disk).sort()).toEqual(['filler', 'store']);
    const verified = await ebpm(['verify'], env);
    expect(verified).toEqual({ code: 1, out: '', err: `error: no space left on ${store}\n${NO_SPACE_HINT}\n` });

    // Not even the lock file fits: prune and rm give up the store's reserve for their lock and
    // index, then take it back (prune frees nothing here, so the disk is as full as before).
    const pruned = await ebpm(['prune', '--json'], env);
    expect([pruned.code, JSON.parse(pruned.out)]).toEqual([0, { removedBlobs: 0, removedPartial: 0, reclaimedBytes: 0, droppedReferrers: 0 }]);
    expect(readdirSync(store)).toContain('reserve');
    expect(statfsSync(disk).bavail).toBe(0);
    const removed = await ebpm(['rm', 'small:1.0.0', '--json'], env);
    expect([removed.code, JSON.parse(removed.out)]).toEqual([
      0,
      [
        {
          reference: 'local.invalid/small:1.0.0',
          digest: small.digest,
          pruned: { removedBlobs: small.blobs.size, removedPartial: 0, reclaimedBytes: small.size, droppedReferrers: 0 },
        },
      ],
    ]);
    expect(readdirSync(join(store, 'blobs', 'sha256'))).toEqual([]);
    expect(readdirSync(join(store, 'ingest'))).toEqual([]);
  });

  it('a read-only store runs what it holds, recording nothing, and refuses writes with one line', async () => {
    const disk = mount('read-only');
    const store = join(disk, 'store');
    const env = { ...sb.env, EBPM_STORE: store };
    expect((await ebpm(['pull', 'small:1.0.0'], env)).code).toBe(0);
    rmSync(join(store, 'trust'), { recursive: true, force: true });
    execFileSync('mount', ['-o', 'remount,ro', disk]);

    // `run --help` resolves the stored package and admits it, as a run does, before printing its flags.
    const ran = await ebpm(['run', 'small:1.0.0', '--help'], env);
    expect([ran.code, ran.err, ran.out.split('\n')[0]]).toEqual([0, '', 'usage: ebpm run small:1.0.0 [flags]']);
    expect(existsSync(join(store, 'trust'))).toBe(false);

    const pulled = await ebpm(['pull', 'big:1.0.0'], env);
    const blob = /push (sha256:[0-9a-f]{64}):/.exec(pulled.err)?.[1];
    expect(big.blobs.has(blob!)).toBe(true);
    expect(pulled).toEqual({
      code: 1,
      out: '',
      err: `error: pull big:1.0.0: destination: push ${blob}: ${store} is on a read-only file system\n${READ_ONLY_HINT}\n`,
    });
    const tagged = await ebpm(['tag', 'small:1.0.0', 'other:1'], env);
    expect(tagged).toEqual({ code: 1, out: '', err: `error: tag small:1.0.0: ${store} is on a read-only file system\n${READ_ONLY_HINT}\n` });
  });
});
