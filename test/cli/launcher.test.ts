// bin/ebpm.js as users start it: a command (`ebpm run`, `ebpm ls`, `ebpm push`) from its start-up
// snapshot when the node on PATH built it, the ESM bundle otherwise (no snapshot, a snapshot
// stamped for another node or an upgraded one), with the same output and start-up phases either
// way; `--version` without node.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO } from '../helpers/objects.js';
import { ebpm as inProcess, packageLayout, sandbox } from './helpers.js';
import { formatBytes } from '../../src/cli/format.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry } from '../helpers/registry.js';
import { defaultCliEnv, runEbpm } from '../helpers/cli.js';
import { BIN, ebpmSync, ownCopy, sender, tempDir } from '../run/spawn.js';

const TITLE = 'sigsnoop 1.2.0: attached ln_sig_trace (tracepoint/signal/signal_generate)\n';

let dir = '';
let layout = '';

/** `install` is a copy of the built CLI (launcher, package.json, dist/; the addon linked) in `under` (default: the suite's directory), for a test to spoil. */
function install(name: string, under = dir): { bin: string; dist: string } {
  const root = join(under, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  cpSync(BIN, join(root, 'bin', 'ebpm.js'));
  cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
  cpSync(join(REPO, 'dist'), join(root, 'dist'), { recursive: true, preserveTimestamps: true });
  symlinkSync(join(REPO, 'native'), join(root, 'native'));
  return { bin: join(root, 'bin', 'ebpm.js'), dist: join(root, 'dist') };
}

/** `traceOne` runs `argv` on one signal from a sender of its own; its output, and whether that process started from the snapshot. */
async function traceOne(
  argv: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string; snapshot: boolean; sender: number }> {
  const target = spawn('sleep', ['3600']);
  const send = sender(dir, target.pid!, [28]);
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, [...args, 'run', layout, '-p', String(send.pid), '-s', '28', '--json', '--max-events', '1'], {
    env: { ...defaultCliEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const attached = new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('attached')) resolve();
    }),
  );
  const code = new Promise<number | null>((resolve) => child.on('close', resolve));
  await Promise.race([attached, code]);
  const snapshot = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').includes('--snapshot-blob');
  send.stdin!.end('go\n');
  const exit = await code;
  target.kill('SIGKILL');
  return { code: exit, stdout, stderr, snapshot, sender: send.pid! };
}

/** What one signal prints, whichever way the run started. */
function expectOneEvent(r: Awaited<ReturnType<typeof traceOne>>): void {
  expect(r.stderr).toBe(`${TITLE}sigsnoop: 1 events, 0 lost (stopped: max-events)\n`);
  expect(r.code).toBe(0);
  const event = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(event).toMatchObject({ pid: r.sender, sig: 28, ret: 0, comm: 'ebpm-sigsend' });
  expect(r.stdout).toBe(`${JSON.stringify(event)}\n`);
}

describeWith(['root', 'btf', 'clang', 'native'], 'the launcher', () => {
  beforeAll(() => {
    dir = tempDir();
    const pkg = ownCopy('sigsnoop', dir, 'sig_trace', 'ln_sig_trace');
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts ebpm run from the snapshot, printing what the ESM bundle prints', async () => {
    const fromSnapshot = await traceOne([BIN]);
    expect(fromSnapshot.snapshot).toBe(true);
    expectOneEvent(fromSnapshot);
    const fromBundle = await traceOne([process.execPath, BIN]);
    expect(fromBundle.snapshot).toBe(false);
    expectOneEvent(fromBundle);
  });

  it('traces the same start-up phases from the snapshot as from the ESM bundle', async () => {
    const phases = (stderr: string) => [...stderr.matchAll(/^phase (\S+) \d+\.\d$/gm)].map((m) => m[1]);
    // A first run leaves the object's minimal BTF in the sandbox's cache: the traced runs load with it.
    await traceOne([BIN]);
    const all = ['node', 'bundle', 'command', 'resolve', 'plan', 'btf-cached', 'addon', 'open', 'load', 'attach', 'event'];
    const fromSnapshot = await traceOne([BIN], { EBPM_TRACE_STARTUP: '1' });
    expect(fromSnapshot.snapshot).toBe(true);
    expect(phases(fromSnapshot.stderr)).toEqual(all);
    const fromBundle = await traceOne([process.execPath, BIN], { EBPM_TRACE_STARTUP: '1' });
    expect(phases(fromBundle.stderr)).toEqual(all);
  });

  it('finds its snapshot through a link to it, as npm installs it', async () => {
    const { bin } = install('linked');
    const link = join(dir, 'ebpm');
    symlinkSync(bin, link);
    const r = await traceOne([link]);
    expect(r.snapshot).toBe(true);
    expectOneEvent(r);
  });

  it('runs the ESM bundle when the snapshot is missing', async () => {
    const { bin, dist } = install('no-blob');
    rmSync(join(dist, 'ebpm.blob'));
    const r = await traceOne([bin]);
    expect(r.snapshot).toBe(false);
    expectOneEvent(r);
  });

  it('runs the ESM bundle when the node on PATH was replaced since the snapshot was built', async () => {
    // An upgrade in place: the same path, another file's modification time.
    const { bin, dist } = install('upgraded');
    const stamp = join(dist, 'ebpm.blob.node');
    const built = statSync(stamp).mtime;
    utimesSync(stamp, built, new Date(built.getTime() - 86_400_000));
    const r = await traceOne([bin]);
    expect(r.snapshot).toBe(false);
    expectOneEvent(r);
  });

  it('runs the ESM bundle when the snapshot was built by another node', async () => {
    const { bin, dist } = install('other-node');
    const stamp = join(dist, 'ebpm.blob.node');
    const built = statSync(stamp).mtime;
    writeFileSync(stamp, '/opt/node-v22/bin/node\n');
    utimesSync(stamp, built, built);
    const r = await traceOne([bin]);
    expect(r.snapshot).toBe(false);
    expectOneEvent(r);
  });

  it("takes the node EBPM_NODE names instead of PATH's, as the agent starts its runs", async () => {
    const r = await traceOne([BIN], { EBPM_NODE: process.execPath, PATH: '/nonexistent' });
    expect(r.snapshot).toBe(true);
    expectOneEvent(r);
  });

  it("lists the store from ls's own snapshot as the ESM bundle does, its errors and help too", async () => {
    const sb = sandbox();
    const pkg = await packageLayout(join(sb.root, 'pkg'), { name: 'lister', version: '1.0.0' });
    expect((await inProcess(['push', pkg.dir], sb.env)).code).toBe(0);
    expect((await inProcess(['pull', 'lister'], sb.env)).code).toBe(0);
    // An install with neither the run's snapshot nor the ESM bundle: only ls's snapshot can answer.
    const { bin, dist } = install('ls-only');
    rmSync(join(dist, 'ebpm.blob'));
    rmSync(join(dist, 'ebpm.mjs'));
    const fromSnapshot = ebpmSync(['ls'], { env: sb.env, bin });
    const size = formatBytes(pkg.size).replace('.', '\\.');
    const row = `local\\.invalid/lister:latest +lister +1\\.0\\.0 +${pkg.digest.slice(0, 19)} +${size} +(just now|\\d+ [a-z]+ ago)`;
    expect(fromSnapshot).toMatchObject({ code: 0, stderr: '' });
    expect(fromSnapshot.stdout).toMatch(new RegExp(`^REFERENCE +NAME +VERSION +DIGEST +SIZE +PULLED\\n${row}\\n$`));
    // The age may have moved on between the two runs.
    const ageless = (r: { stdout: string }) => ({ ...r, stdout: r.stdout.replace(/(just now|\d+ [a-z]+ ago)\n$/, '') });
    expect(ageless(ebpmSync(['ls'], { env: sb.env, prefix: [process.execPath] }))).toEqual(ageless(fromSnapshot));
    for (const args of [
      ['ls', '--help'],
      ['ls', '--bogus'],
      ['ls', '-q', '--json'],
      ['ls', '-q', 'list*'],
    ]) {
      expect({ args, ...ebpmSync(args, { env: sb.env, bin }) }).toEqual({ args, ...ebpmSync(args, { env: sb.env, prefix: [process.execPath] }) });
    }
    // Anything else needs what this install lacks.
    const tag = ebpmSync(['tag', 'lister', 'lister:2'], { env: sb.env, bin });
    expect([tag.code, tag.stderr.includes(`Cannot find module '${join(dist, 'ebpm.mjs')}'`)]).toEqual([1, true]);
  });

  it('loads what the snapshot leaves out from the lazy bundle, with its code cache, without it or with one V8 refuses', async () => {
    const sb = sandbox();
    const pkg = await packageLayout(join(sb.root, 'pkg'), { name: 'tagger', version: '1.0.0' });
    expect((await inProcess(['push', pkg.dir], sb.env)).code).toBe(0);
    // Neither `pull` nor `tag` is in the snapshot: each process's first import of one loads the lazy bundle.
    const installs = { cached: install('lazy-cached'), uncached: install('lazy-uncached'), refused: install('lazy-refused') };
    rmSync(join(installs.uncached.dist, 'ebpm-lazy.cache'));
    writeFileSync(join(installs.refused.dist, 'ebpm-lazy.cache'), Buffer.alloc(statSync(join(installs.cached.dist, 'ebpm-lazy.cache')).size, 7));
    const pulled = ebpmSync(['pull', 'tagger:1.0.0'], { env: sb.env, bin: installs.refused.bin });
    expect(pulled).toEqual({ code: 0, stdout: `pulled local.invalid/tagger:1.0.0 ${pkg.digest} (3 blobs, ${pkg.size} bytes)\n`, stderr: '' });
    for (const [name, { bin }] of Object.entries(installs)) {
      const tagged = ebpmSync(['tag', 'tagger:1.0.0', `tagger:${name}`], { env: sb.env, bin });
      expect({ name, ...tagged }).toEqual({ name, code: 0, stdout: `tagged local.invalid/tagger:${name} ${pkg.digest}\n`, stderr: '' });
    }
    const fromBundle = ebpmSync(['tag', 'tagger:nosuch', 'tagger:2.0.0'], { env: sb.env, prefix: [process.execPath] });
    expect(fromBundle).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: tag tagger:nosuch: local.invalid/tagger:nosuch: not in the local store\nhint: see what is stored with `ebpm ls`, or pull it first\n',
    });
    for (const { bin } of Object.values(installs)) expect(ebpmSync(['tag', 'tagger:nosuch', 'tagger:2.0.0'], { env: sb.env, bin })).toEqual(fromBundle);
  });

  it('gives every process started from the snapshot its own identity: concurrent tags all land', async () => {
    // The snapshot's build stores a sample package, and the store's lock keeps who holds it. Were
    // that the build's pid in every process, each would take another's live lock for a leak of
    // its own, break it, and the last writer's index.json would drop the others' tags.
    const sb = sandbox();
    const pkg = await packageLayout(join(sb.root, 'pkg'), { name: 'tagged', version: '1.0.0' });
    expect((await inProcess(['push', pkg.dir], sb.env)).code).toBe(0);
    expect((await inProcess(['pull', 'tagged:1.0.0'], sb.env)).code).toBe(0);
    const tags = Array.from({ length: 12 }, (_, i) => `t${i}`);
    const runs = await Promise.all(tags.map((t) => runEbpm(['tag', 'tagged:1.0.0', `tagged:${t}`], { env: sb.env })));
    expect(runs.map((r) => r.code)).toEqual(tags.map(() => 0));
    const listed = ebpmSync(['ls', '-q', 'tagged'], { env: sb.env });
    expect(listed.stdout.split('\n').filter(Boolean).sort()).toEqual(['local.invalid/tagged:1.0.0', ...tags.map((t) => `local.invalid/tagged:${t}`)].sort());
  });

  it("has code caches that V8 takes in a node started with the stamp's V8 flags, as every command starts", () => {
    const dist = join(REPO, 'dist');
    const [node, flags] = readFileSync(join(dist, 'ebpm.blob.node'), 'utf8').split('\n');
    expect(node).toBe(realpathSync(process.execPath));
    expect(flags).toBe('--no-rehash-snapshot --no-sparkplug --liftoff-only');
    const check = `const { readFileSync } = require('node:fs');
const { Script } = require('node:vm');
const dist = process.argv[1];
console.log([['chunks/ebpm-lazy.cjs', 'ebpm-lazy.cache'], ['runtime-worker.cjs', 'runtime-worker.cache']]
  .map(([js, cache]) => js + ' ' + new Script(readFileSync(dist + '/' + js, 'utf8'), { filename: dist + '/' + js, cachedData: readFileSync(dist + '/' + cache) }).cachedDataRejected)
  .join('\\n'));`;
    const taken = execFileSync(process.execPath, [...flags!.split(' '), '-e', check, dist], { encoding: 'utf8' });
    expect(taken).toBe('chunks/ebpm-lazy.cjs false\nruntime-worker.cjs false\n');
    // Without the flags V8 refuses them: the check can tell.
    expect(execFileSync(process.execPath, ['-e', check, dist], { encoding: 'utf8' })).toBe('chunks/ebpm-lazy.cjs true\nruntime-worker.cjs true\n');
  });

  it('prints --version without node, as the CLI itself does', () => {
    expect(ebpmSync(['--version'], { env: { PATH: '/nonexistent' } })).toEqual({ code: 0, stdout: 'ebpm 0.1.0\n', stderr: '' });
    expect(ebpmSync(['-V'], { env: { PATH: '/nonexistent' } })).toEqual({ code: 0, stdout: 'ebpm 0.1.0\n', stderr: '' });
    expect(ebpmSync(['--version'], { prefix: [process.execPath] })).toEqual({ code: 0, stdout: 'ebpm 0.1.0\n', stderr: '' });
  });
});

describeWith(['registry', 'clang'], "the launcher's push", () => {
  it("pushes from push's own snapshot as the ESM bundle does, to a registry and to the embedded one, its errors and help too", async () => {
    const reg = await startRegistry();
    const sb = sandbox();
    try {
      const pkg = await packageLayout(join(sb.root, 'pkg'), { name: 'pusher', version: '1.0.0' });
      // An install with neither the run's snapshot nor the ESM bundle: only push's snapshot can answer.
      const { bin, dist } = install('push-only', sb.root);
      rmSync(join(dist, 'ebpm.blob'));
      rmSync(join(dist, 'ebpm.mjs'));
      const bundle = { env: sb.env, prefix: [process.execPath] };
      for (const json of [[], ['--json']]) {
        const fromSnapshot = ebpmSync(['push', pkg.dir, '--to', `${reg.host}/snapshot${json.length}/pusher`, ...json], { env: sb.env, bin });
        const fromBundle = ebpmSync(['push', pkg.dir, '--to', `${reg.host}/bundle${json.length}/pusher`, ...json], bundle);
        expect(fromSnapshot).toMatchObject({ code: 0, stderr: '' });
        expect(fromSnapshot.stdout).toContain(`${reg.host}/snapshot${json.length}/pusher:1.0.0`);
        expect(fromSnapshot.stdout).toContain(pkg.digest);
        expect(fromSnapshot).toEqual({ ...fromBundle, stdout: fromBundle.stdout.replaceAll('/bundle', '/snapshot') });
      }
      // The embedded registry (no registry configured), then a version it holds with other content.
      const embedded = ebpmSync(['push', pkg.dir], { env: sb.env, bin });
      expect(embedded).toMatchObject({ code: 0, stderr: '' });
      expect(embedded.stdout).toContain(pkg.digest);
      const other = await packageLayout(join(sb.root, 'other'), { name: 'pusher', version: '1.0.0', description: 'other content' });
      const codes: (number | null)[] = [];
      for (const args of [
        ['push', other.dir],
        ['push', '--help'],
        ['push', '--bogus'],
        ['push', join(sb.root, 'nothing')],
      ]) {
        const fromSnapshot = ebpmSync(args, { env: sb.env, bin });
        codes.push(fromSnapshot.code);
        expect({ args, ...fromSnapshot }).toEqual({ args, ...ebpmSync(args, bundle) });
      }
      // Refused (the version holds other content), help, a usage error, nothing there.
      expect(codes).toEqual([1, 0, 2, 1]);
      // Anything else needs what this install lacks.
      const pull = ebpmSync(['pull', 'pusher'], { env: sb.env, bin });
      expect([pull.code, pull.stderr.includes(`Cannot find module '${join(dist, 'ebpm.mjs')}'`)]).toEqual([1, true]);
    } finally {
      await reg.stop();
    }
  });
});
