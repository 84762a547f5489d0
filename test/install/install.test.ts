// ebpm as users install it: `npm pack` of this checkout's build, `npm install -g <tgz>` into a
// temporary prefix (scripts/install.mjs builds the addon and the start-up snapshot there), and
// the installed `ebpm` building, pushing to and pulling from a real registry and running on the
// real kernel. A second install, on a machine where pkg-config finds none of libbpf, libelf and
// zlib, still succeeds, says what to install, and gives an ebpm that builds, pushes and pulls
// but refuses to run or check, until `npm rebuild -g ebpm` finds them.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ociArch } from '../../src/core/arch.js';
import { cliEnv, runEbpm, type Exited } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { ownCopy, sender, tempDir } from '../run/spawn.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const HINT =
  'install libbpf-dev, libelf-dev, zlib1g-dev, g++ and make (Fedora: libbpf-devel, elfutils-libelf-devel, zlib-devel, gcc-c++, make), then `npm rebuild -g ebpm` (in a checkout: `npm run build:native`)';
const TITLE = 'sigsnoop 1.2.0: attached in_sig_trace (tracepoint/signal/signal_generate)\n';

let dir = '';
let pkg = '';
let registry: RunningRegistry;

/** An installed ebpm: its launcher on the prefix's PATH, its package directory, and a sandbox to run it in. */
interface Installed {
  readonly bin: string;
  readonly root: string;
  readonly env: Record<string, string>;
  /** What npm printed (the install script's output among it, with --foreground-scripts). */
  readonly npm: Exited;
}
let good: Installed;
let bare: Installed;

/** `npm` runs npm with `env` (a sandbox: its own HOME, so its cache and config are the test's). */
function npm(args: readonly string[], env: Record<string, string>, cwd: string): Promise<Exited> {
  const child = spawn('npm', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const NPM_QUIET = { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_loglevel: 'warn' };

async function install(name: string, tgz: string, extra: Record<string, string> = {}): Promise<Installed> {
  const prefix = join(dir, name);
  const env = cliEnv(join(dir, `${name}-home`), { ...NPM_QUIET, ...extra });
  mkdirSync(env.HOME!, { recursive: true });
  const r = await npm(['install', '-g', tgz, '--prefix', prefix, '--foreground-scripts'], env, dir);
  return { bin: join(prefix, 'bin', 'ebpm'), root: join(prefix, 'lib', 'node_modules', 'ebpm'), env: cliEnv(join(dir, `${name}-home`)), npm: r };
}

/** The install script's lines among npm's output (npm's own warnings vary with its version). */
function said(i: Installed): string[] {
  return i.npm.stderr.split('\n').filter((line) => line.startsWith('ebpm: '));
}

function ebpm(i: Installed, args: readonly string[]): Promise<Exited> {
  return runEbpm(args, { bin: i.bin, env: i.env, cwd: dir });
}

/** `libbpf` is the major.minor of the system's libbpf, which the addon is compiled against. */
function libbpf(): string {
  return execFileSync('pkg-config', ['--modversion', 'libbpf'], { encoding: 'utf8' }).trim().split('.').slice(0, 2).join('.');
}

/**
 * `buildPushPull` builds `dir` with `i`, pushes it to `repo` and pulls it into `i`'s store (from
 * the registry: the build wrote only to `dir`/out), each saying the same digest; the reference
 * pulled, and the warning each use of it prints (the default trust policy warns of no signature).
 */
async function buildPushPull(i: Installed, dir: string, repo: string): Promise<{ ref: string; unsigned: string }> {
  const built = await ebpm(i, ['build', dir]);
  const [, digest, size] = /^ {2}(sha256:[0-9a-f]{64}) (\d+) bytes$/m.exec(built.stdout) ?? [];
  expect(built).toEqual({
    code: 0,
    signal: null,
    stdout: `built sigsnoop@1.2.0: 1 object(s), 1 program(s)\n  ${dir}/out (tags 1.2.0, latest)\n  ${digest} ${size} bytes\n`,
    stderr: '',
  });
  const ref = `${repo}:1.2.0`;
  expect(await ebpm(i, ['push', dir, '--to', repo])).toEqual({
    code: 0,
    signal: null,
    stdout: `pushed ${ref} ${digest} (5 blobs, ${size} bytes)\ntags: 1.2.0, 1.2, 1, latest\n`,
    stderr: '',
  });
  const unsigned = `warning: ${repo}@${digest}: not signed (warn by the built-in default policy)\n`;
  expect(await ebpm(i, ['pull', ref])).toEqual({ code: 0, signal: null, stdout: `pulled ${ref} ${digest} (5 blobs, ${size} bytes)\n`, stderr: unsigned });
  return { ref, unsigned };
}

describeWith(['root', 'btf', 'clang', 'registry'], 'the npm package', () => {
  beforeAll(async () => {
    dir = tempDir();
    registry = await startRegistry();
    const packed = await npm(
      ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
      { ...process.env, ...NPM_QUIET } as Record<string, string>,
      REPO,
    );
    expect(packed.code).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string; mode: number }[] }];
    // Nothing of the checkout but what an installed ebpm uses.
    expect([...new Set(files.map((f) => f.path.split('/')[0]))].sort()).toEqual([
      'README.md',
      'bin',
      'dist',
      'include',
      'native',
      'package.json',
      'registry-spec',
      'scripts',
      'templates',
    ]);
    expect(files.filter((f) => /\.map$|\.blob|\.cache$|\.node$|^native\/build\//.test(f.path))).toEqual([]);
    // What an install runs, and what `build --platform` asks users to run (executable).
    expect(files.filter((f) => f.path.startsWith('scripts/')).map((f) => [f.path, f.mode & 0o111])).toEqual([
      ['scripts/foreign-arch.sh', 0o111],
      ['scripts/install.mjs', 0],
      ['scripts/snapshot.mjs', 0],
    ]);
    const tgz = join(dir, filename);
    // An empty directory as pkg-config's only search path: libbpf, libelf and zlib are not found.
    const noLibs = join(dir, 'no-pkgconfig');
    mkdirSync(noLibs);
    [good, bare] = await Promise.all([install('good', tgz), install('bare', tgz, { PKG_CONFIG_LIBDIR: noLibs, PKG_CONFIG_PATH: '' })]);
    pkg = ownCopy('sigsnoop', dir, 'sig_trace', 'in_sig_trace');
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs with the addon built and nothing to say', () => {
    expect(good.npm.code).toBe(0);
    expect(said(good)).toEqual([]);
  });

  it('prints its version, and what it is made of', async () => {
    expect(await ebpm(good, ['--version'])).toEqual({ code: 0, signal: null, stdout: `ebpm ${VERSION}\n`, stderr: '' });
    expect(await ebpm(good, ['version'])).toEqual({
      code: 0,
      signal: null,
      stdout: `ebpm ${VERSION}\nnode: ${process.version}\nlibbpf: ${libbpf()}\narchitecture: ${ociArch()}\nstart-up snapshot: in use\n`,
      stderr: '',
    });
  });

  it('builds, pushes, pulls and runs a package on the kernel', async () => {
    const { ref, unsigned } = await buildPushPull(good, pkg, `${registry.host}/sigsnoop`);
    const target = spawn('sleep', ['3600']);
    const send = sender(dir, target.pid!, [28]);
    const run = spawn(good.bin, ['run', ref, '-p', String(send.pid), '-s', '28', '--json', '--max-events', '1'], {
      env: good.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    run.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const attached = new Promise<void>((resolve) =>
      run.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('attached')) resolve();
      }),
    );
    const code = new Promise<number | null>((resolve) => run.on('close', resolve));
    await Promise.race([attached, code]);
    send.stdin!.end('go\n');
    const exit = await code;
    target.kill('SIGKILL');
    expect(stderr).toBe(`${unsigned}${TITLE}sigsnoop: 1 events, 0 lost (stopped: max-events)\n`);
    expect(exit).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ pid: send.pid, sig: 28, ret: 0, comm: 'ebpm-sigsend' });
  });

  it('installs without libbpf, libelf and zlib, saying what to install', () => {
    expect(bare.npm.code).toBe(0);
    expect(said(bare)).toEqual([
      'ebpm: the native addon was not built: libbpf, libelf, zlib not found',
      'ebpm: install them (Debian, Ubuntu: apt-get install libbpf-dev libelf-dev zlib1g-dev; Fedora: dnf install libbpf-devel elfutils-libelf-devel zlib-devel), then run: npm rebuild -g ebpm',
      'ebpm: meanwhile build, push, pull and the other registry commands work; run and check do not',
    ]);
  });

  it('builds, pushes and pulls without the addon, and refuses to run or check', async () => {
    const copy = ownCopy('sigsnoop', join(dir, 'bare-src'), 'sig_trace', 'in_sig_trace');
    const { ref, unsigned } = await buildPushPull(bare, copy, `${registry.host}/bare/sigsnoop`);
    const addon = join(bare.root, 'native/build/Release/ebpm_native.node');
    // With what the install found, which npm showed only with --foreground-scripts.
    const refusal = `load native addon: ${addon}: not built: libbpf, libelf, zlib not found at install\nhint: ${HINT}\n`;
    expect(await ebpm(bare, ['run', ref, '--max-events', '1'])).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `${unsigned}error: run sigsnoop: ${refusal}`,
    });
    expect(await ebpm(bare, ['check', ref])).toEqual({ code: 1, signal: null, stdout: '', stderr: `error: ${refusal}` });
    expect((await ebpm(bare, ['version'])).stdout).toBe(
      `ebpm ${VERSION}\nnode: ${process.version}\nlibbpf: unknown (the native addon does not load)\narchitecture: ${ociArch()}\nstart-up snapshot: in use\n`,
    );
  });

  it('builds the addon at `npm rebuild -g ebpm` once the libraries are found, as the hint says', async () => {
    const prefix = join(bare.root, '../../..');
    const rebuilt = await npm(['rebuild', '-g', 'ebpm', '--prefix', prefix, '--foreground-scripts'], { ...bare.env, ...NPM_QUIET }, dir);
    expect(rebuilt.code).toBe(0);
    expect(said({ ...bare, npm: rebuilt })).toEqual([]);
    expect((await ebpm(bare, ['version'])).stdout).toContain(`\nlibbpf: ${libbpf()}\n`);
    expect(existsSync(join(bare.root, 'native/not-built.txt'))).toBe(false);
  });

  it('says what node-gyp said when the build itself fails, and still succeeds', async () => {
    // A compiler that fails every file: everything node-gyp needs is found, and the build fails.
    const prefix = join(bare.root, '../../..');
    const failed = await npm(['rebuild', '-g', 'ebpm', '--prefix', prefix, '--foreground-scripts'], { ...bare.env, ...NPM_QUIET, CC: '/bin/false' }, dir);
    expect(failed.code).toBe(0);
    const lines = said({ ...bare, npm: failed });
    expect(lines[0]).toBe('ebpm: the native addon was not built: node-gyp rebuild failed (exit code 1):');
    expect(lines.slice(1, -2).every((line) => line.startsWith('ebpm:   '))).toBe(true);
    expect(lines.slice(-2)).toEqual([
      'ebpm: fix what it says, then run: npm rebuild -g ebpm',
      'ebpm: meanwhile build, push, pull and the other registry commands work; run and check do not',
    ]);
    expect((await ebpm(bare, ['version'])).stdout).toContain('\nlibbpf: unknown (the native addon does not load)\n');
    const addon = join(bare.root, 'native/build/Release/ebpm_native.node');
    expect(await ebpm(bare, ['check', `${registry.host}/bare/sigsnoop:1.2.0`])).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: load native addon: ${addon}: not built: node-gyp rebuild failed (exit code 1) at install\nhint: ${HINT}\n`,
    });
  });
});
