import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildSync } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '../../src/store/layout.js';
import { verifyStore } from '../../src/store/maintenance.js';

const base = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'crash-'));
const writer = join(base, 'writer.mjs');

beforeAll(() => {
  buildSync({
    entryPoints: [new URL('./writer.ts', import.meta.url).pathname],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: writer,
    logLevel: 'error',
  });
});

interface Writer {
  child: ChildProcess;
  /** Settles when the writer has tagged its first artifact (or exited before that). */
  firstTagged: Promise<void>;
  exit: Promise<{ code: number | null; stderr: string }>;
}

function start(dir: string, id: number, count: number): Writer {
  const child = spawn(process.execPath, [writer, dir, String(id), String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const firstTagged = new Promise<void>((resolve) => {
    child.stdout!.on('data', () => resolve());
    child.on('exit', () => resolve());
  });
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { child, firstTagged, exit };
}

describe('the store under crashes and concurrency', () => {
  it('stays consistent when writers are killed with SIGKILL at random moments', async () => {
    const dir = join(base, 'killed');
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    // Kill at a random moment after each writer's first artifact, not on a bare timer: a loaded
    // machine may not even have started Node within a fixed delay.
    for (let i = 0; i < 22; i++) {
      const ws = [start(dir, 2 * i, 0), start(dir, 2 * i + 1, 0)];
      await Promise.all(ws.map((w) => w.firstTagged));
      await sleep(rand(150));
      for (const w of ws) w.child.kill('SIGKILL');
      for (const w of ws) expect((await w.exit).code).toBe(null);
    }
    const layout = await OciLayout.open(dir);
    const tagsBefore = await layout.tags();
    // At least w<id>-0 of all 44 writers, plus `shared` and `common-0`.
    expect(tagsBefore).toEqual(expect.arrayContaining([...Array.from({ length: 44 }, (_, id) => `w${id}-0`), 'shared', 'common-0']));
    const stats = await verifyStore(layout);
    expect([stats.corruptBlobs, stats.strayFiles, stats.droppedEntries]).toEqual([[], [], []]);
    expect(await layout.tags()).toEqual(tagsBefore);
    // A second writer carries on, breaking whatever stale lock the last kill left.
    const next = start(dir, 99, 3);
    expect(await next.exit).toEqual({ code: 0, stderr: '' });
    expect(await layout.tags()).toEqual(expect.arrayContaining(['w99-0', 'w99-1', 'w99-2', 'shared']));
    const after = await verifyStore(layout);
    expect([after.corruptBlobs, after.droppedEntries, after.cleanedTemp]).toEqual([[], [], 0]);
  }, 60_000);

  it('keeps every tag when eight writers tag different and the same refs at once', async () => {
    const dir = join(base, 'eight');
    const ws = Array.from({ length: 8 }, (_, id) => start(dir, id, 4));
    for (const w of ws) expect(await w.exit).toEqual({ code: 0, stderr: '' });
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
    const refs = index.manifests.map((d) => d.annotations['org.opencontainers.image.ref.name']);
    const expected = [
      ...Array.from({ length: 8 }, (_, id) => Array.from({ length: 4 }, (_, i) => `w${id}-${i}`)).flat(),
      'shared',
      'common-0',
      'common-1',
      'common-2',
    ].sort();
    expect([...refs].sort()).toEqual(expected);
    const stats = await verifyStore(await OciLayout.open(dir));
    expect([stats.corruptBlobs, stats.droppedEntries, stats.cleanedTemp, stats.verifiedBlobs]).toEqual([[], [], 0, 1 + 1 + 32 * 2]);
  }, 60_000);
});
