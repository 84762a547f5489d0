// The CLI as separate processes (bundled with esbuild into a temp directory, as scripts/build.mjs
// does): kill -9 in the middle of a pull, and eight concurrent pulls into one store.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { bytesOf } from '../registry/fixtures.js';
import { blobFiles, ebpm, ingestFiles, json, packageLayout, sandbox, storeRefs, type BuiltPackage, type Sandbox } from './helpers.js';

const REPO = new URL('../..', import.meta.url).pathname;

function run(bin: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { child, done };
}

describeWith(['registry', 'clang'], 'ebpm as processes', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let bin: string;
  let pub: Sandbox;
  const pkgs: BuiltPackage[] = [];

  beforeAll(async () => {
    pub = sandbox();
    bin = join(pub.root, 'bundle', 'ebpm.mjs');
    await build({
      entryPoints: { ebpm: join(REPO, 'src/cli/bin.ts') },
      outdir: join(pub.root, 'bundle'),
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      splitting: true,
      jsx: 'automatic',
      external: ['*.node', 'react-devtools-core'],
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: 'silent',
    });
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    const env = { ...pub.env, EBPM_REGISTRY: `${reg.host}/ebpm` };
    for (const name of ['big', 'alpha', 'beta', 'gamma', 'delta']) {
      const p = await packageLayout(join(pub.root, name), { name, version: '1.0.0', payload: bytesOf(name === 'big' ? 8 << 20 : 4096, name) });
      expect((await ebpm(['push', p.dir], env)).code).toBe(0);
      pkgs.push(p);
    }
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  it('leaves a consistent store when killed with SIGKILL in the middle of a pull', async () => {
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/ebpm` });
    const big = pkgs[0]!;
    const payload = [...big.blobs].find(([, b]) => b.byteLength === 8 << 20)![0];
    proxy.add({ method: 'GET', path: `/v2/ebpm/big/blobs/${payload}`, fault: { kind: 'stall', ms: 600_000, phase: 'body' } });
    const p = run(bin, ['pull', 'big@1'], sb.env);
    // Kill once the payload's body is stalled (for longer than any test runs) and its temp file is
    // the one left: every other blob but the manifest (written last) is stored, and ingest/ is not empty.
    const others = [...big.blobs.keys()].filter((d) => d !== payload && d !== big.digest);
    const othersStored = () => others.every((d) => blobFiles(sb.store).includes(d));
    while (
      !proxy.log.some((l) => l.fault === 'stall') ||
      !existsSync(join(sb.store, 'index.json')) ||
      !othersStored() ||
      readdirSync(join(sb.store, 'ingest')).length === 0
    ) {
      await new Promise((r) => setTimeout(r, 20)); // a poll interval: only the condition ends the wait
    }
    p.child.kill('SIGKILL');
    expect((await p.done).signal).toBe('SIGKILL');
    expect(storeRefs(sb.store)).toEqual([]);
    // The killed writer's temp files (blobs in flight; up to the copy's concurrency of 3).
    const leftovers = ingestFiles(sb.store).length;
    expect(leftovers).toBeGreaterThanOrEqual(1);
    expect(leftovers).toBeLessThanOrEqual(3);
    proxy.reset();
    // Any command that opens the store to write clears the dead writer's temp files.
    expect(await ebpm(['ls', '--json'], sb.env)).toEqual({ code: 0, err: '', out: '[]\n' });
    expect(ingestFiles(sb.store)).toEqual([]);
    const verified = await json<{ cleanedTemp: number; corruptBlobs: string[]; droppedEntries: unknown[] }>(['verify'], sb.env);
    expect([verified.cleanedTemp, verified.corruptBlobs, verified.droppedEntries]).toEqual([0, [], []]);
    const again = run(bin, ['pull', 'big@1'], sb.env);
    const r = await again.done;
    expect([r.code, r.err]).toEqual([0, '']);
    // Blobs finished before the kill were kept (verified); the stalled payload and the manifest move again.
    const m = new RegExp(`^pulled ${proxy.host}/ebpm/big:1\\.0\\.0 ${big.digest} \\(([2-4]) blobs, (\\d+) bytes\\)\n$`).exec(r.out);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(8 << 20);
    expect(blobFiles(sb.store)).toEqual([...big.blobs.keys()].sort());
  });

  it('runs eight concurrent pulls of the same and of different packages into one consistent store', async () => {
    const sb = sandbox({ EBPM_REGISTRY: `${reg.host}/ebpm` });
    const names = ['alpha', 'alpha', 'alpha', 'alpha', 'beta', 'gamma', 'delta', 'beta'];
    const results = await Promise.all(names.map((n) => run(bin, ['pull', `${n}@1`], sb.env).done));
    for (const r of results) expect([r.code, r.err]).toEqual([0, '']);
    expect(storeRefs(sb.store)).toEqual(['alpha', 'beta', 'delta', 'gamma'].map((n) => `${reg.host}/ebpm/${n}:1.0.0`));
    const held = new Set(pkgs.slice(1).flatMap((p) => [...p.blobs.keys()]));
    expect(blobFiles(sb.store)).toEqual([...held].sort());
    expect(ingestFiles(sb.store)).toEqual([]);
    const verified = await json<{ verifiedBlobs: number; corruptBlobs: string[]; droppedEntries: unknown[] }>(['verify'], sb.env);
    expect([verified.verifiedBlobs, verified.corruptBlobs, verified.droppedEntries]).toEqual([held.size, [], []]);
  });
});
