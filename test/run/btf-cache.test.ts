// The per-boot cache of minimal kernel BTF, through the CLI on the real kernel: a first run of a
// package writes its object's minimal BTF at its end, a second loads with it; a file another
// user owns or others may write is not used, and a damaged one is removed and the kernel's BTF
// used instead. EBPM_BTF_CACHE (set by cliEnv) keeps the files in this file's sandbox.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { coreRoots, minimalBtf } from '../../src/bpf/btf-min.js';
import { parseObject } from '../../src/bpf/object.js';
import { btfCacheKey } from '../../src/kernel/btf-cache.js';
import { cliEnv, sandboxDir } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, jsonLines, ownCopy, tempDir } from './spawn.js';

const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
/** The object `sigsnoop.bpf.o` as the layout holds it, which is what a run loads. */
function layoutObject(layout: string): Uint8Array {
  const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice('sha256:'.length)));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { layers: { digest: string; annotations: Record<string, string> }[] };
  return new Uint8Array(blob(manifest.layers.find((l) => l.annotations['org.opencontainers.image.title'] === 'sigsnoop.bpf.o')!.digest));
}

/** `nobody`: another user. */
const OTHER_UID = 65534;

let dir = '';
let layout = '';
let object: Uint8Array;
let wasmLayout = '';
let wasmObject: Uint8Array;

describeWith(['root', 'btf', 'clang', 'native', 'wasi'], 'the minimal BTF cache of ebpm run', () => {
  beforeAll(() => {
    dir = tempDir();
    // Program names of its own: other test files load sigsnoop at the same time.
    const sigsnoop = ownCopy('sigsnoop', dir, 'sig_trace', 'bc_sig_trace');
    expect(ebpmSync(['build', sigsnoop]).code).toBe(0);
    layout = join(sigsnoop, 'out');
    object = layoutObject(layout);
    const wasm = join(dir, 'wasm', 'sigsnoop');
    cpSync(join(REPO, 'examples', 'sigsnoop'), wasm, { recursive: true, filter: (src) => !src.endsWith('/out') });
    writeFileSync(join(wasm, 'sigsnoop.bpf.c'), readFileSync(join(wasm, 'sigsnoop.bpf.c'), 'utf8').replaceAll('sig_trace', 'bw_sig_trace'));
    expect(ebpmSync(['build', wasm]).code).toBe(0);
    wasmLayout = join(wasm, 'out');
    wasmObject = layoutObject(wasmLayout);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A sandbox of its own, whose cache directory for this boot is `boot`, and the object's file in it. */
  function sandbox() {
    const env = cliEnv(sandboxDir('btf-cache-'), { EBPM_TRACE_STARTUP: '1' });
    const boot = join(env.EBPM_BTF_CACHE!, BOOT_ID);
    return { env, boot, file: join(boot, `${btfCacheKey(object)}.btf`) };
  }

  /** What the run must write: the object's minimal BTF of this kernel. */
  function expected(): Uint8Array {
    const roots = coreRoots(parseObject(object));
    if ('refused' in roots) throw new Error(roots.refused);
    const min = minimalBtf(readFileSync('/sys/kernel/btf/vmlinux'), roots);
    if ('refused' in min) throw new Error(min.refused);
    return min.btf;
  }

  /** sigsnoop of this process's signals until attached, a SIGTERM to a child, then SIGINT: that signal's event. */
  async function signalRun(env: Record<string, string>) {
    const run = ebpm(['run', layout, '--json', '--filtered-pid', String(process.pid)], { env });
    await run.waitFor(/: attached bc_sig_trace \(tracepoint\/signal\/signal_generate\)\n/);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await gone;
    await run.untilStdout(/\n/);
    run.child.kill('SIGINT');
    const r = await run.exited();
    return {
      code: r.code,
      // The SIGINT this process sends the run may be an event too.
      events: jsonLines(r.stdout)
        .filter((e) => e.tpid === child.pid)
        .map(({ pid, tpid, sig, comm }) => ({ pid, tpid, sig, comm })),
      cached: /^phase btf-cached \d+\.\d$/m.test(r.stderr),
      child: child.pid,
      stderr: r.stderr,
    };
  }

  it('a first run writes the minimal BTF at its end, named by the object, and a second loads with it', async () => {
    const { env, boot, file } = sandbox();
    const first = await signalRun(env);
    expect(first).toMatchObject({ code: 130, events: [{ pid: process.pid, tpid: first.child, sig: 15, comm: 'node' }], cached: false });
    expect(readdirSync(boot)).toEqual([`${btfCacheKey(object)}.btf`]);
    expect(statSync(env.EBPM_BTF_CACHE!).mode & 0o777).toBe(0o700);
    expect(statSync(boot).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(new Uint8Array(readFileSync(file))).toEqual(expected());
    const second = await signalRun(env);
    expect(second).toMatchObject({ code: 130, events: [{ pid: process.pid, tpid: second.child, sig: 15, comm: 'node' }], cached: true });
  }, 60_000);

  it('does not use a file another user owns or others may write, and replaces it with its own', async () => {
    for (const plant of [(f: string) => chownSync(f, OTHER_UID, OTHER_UID), (f: string) => chmodSync(f, 0o620)]) {
      const { env, boot, file } = sandbox();
      await signalRun(env);
      writeFileSync(file, 'planted');
      plant(file);
      const r = await signalRun(env);
      expect(r).toMatchObject({ code: 130, events: [{ pid: process.pid, tpid: r.child, sig: 15, comm: 'node' }], cached: false });
      expect(readdirSync(boot)).toEqual([`${btfCacheKey(object)}.btf`]);
      expect({ uid: statSync(file).uid, mode: statSync(file).mode & 0o777 }).toEqual({ uid: 0, mode: 0o600 });
      expect(new Uint8Array(readFileSync(file))).toEqual(expected());
    }
  }, 60_000);

  it('does not use a cache directory others may write', async () => {
    const { env, file } = sandbox();
    await signalRun(env);
    chmodSync(env.EBPM_BTF_CACHE!, 0o777);
    const r = await signalRun(env);
    expect(r).toMatchObject({ code: 130, events: [{ pid: process.pid, tpid: r.child, sig: 15, comm: 'node' }], cached: false });
    expect(existsSync(file)).toBe(true);
  }, 60_000);

  it('removes a damaged file it loaded with, and loads against the kernel BTF', async () => {
    const { env, file } = sandbox();
    await signalRun(env);
    writeFileSync(file, 'damaged');
    const r = await signalRun(env);
    expect(r).toMatchObject({ code: 130, events: [{ pid: process.pid, tpid: r.child, sig: 15, comm: 'node' }], cached: true });
    expect(existsSync(file)).toBe(false);
    // Nothing of the failed load is said.
    expect(r.stderr.replace(/^phase .*\n/gm, '')).toMatch(
      /^sigsnoop 1\.2\.0: attached bc_sig_trace \(tracepoint\/signal\/signal_generate\)\nsigsnoop: [12] events, 0 lost \(stopped: SIGINT\)\n$/,
    );
  }, 60_000);

  it("a Wasm guest's objects load with the cache too", async () => {
    const { env, boot } = sandbox();
    const guestRun = async () => {
      const run = ebpm(['run', wasmLayout], { env });
      await run.waitFor(/running and waiting/);
      const child = spawn('sleep', ['30'], { stdio: 'ignore' });
      child.kill('SIGTERM');
      await run.untilStdout(new RegExp(`"tpid":${child.pid},`));
      run.child.kill('SIGINT');
      const r = await run.exited();
      return { code: r.code, event: r.stdout.includes(`"tpid":${child.pid},"sig":15,`), cached: /^phase btf-cached \d+\.\d$/m.test(r.stderr) };
    };
    expect(await guestRun()).toEqual({ code: 130, event: true, cached: false });
    expect(readdirSync(boot)).toEqual([`${btfCacheKey(wasmObject)}.btf`]);
    expect(await guestRun()).toEqual({ code: 130, event: true, cached: true });
  }, 60_000);
});
