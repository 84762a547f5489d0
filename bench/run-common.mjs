// Shared set-up of the `ebpm run` benchmarks: the stored sigsnoop package (an OCI layout built
// from examples/sigsnoop's BPF object, so no network and no compile on the timed path), the
// peers' command lines, and small process helpers. Run as root.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = new URL('..', import.meta.url).pathname;
export const EBPM = join(REPO, 'bin', 'ebpm.js');

/** Builds the CLI bundle and a BPF-only sigsnoop package into an OCI layout; returns the layout. */
export function prepare(work = mkdtempSync(join(tmpdir(), 'ebpm-bench-'))) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
  const pkg = join(work, 'sigsnoop');
  cpSync(join(REPO, 'examples', 'sigsnoop'), pkg, { recursive: true, filter: (s) => !s.endsWith('/out') && !s.endsWith('main.c') });
  const manifest = JSON.parse(readFileSync(join(pkg, 'ebpm.json'), 'utf8'));
  delete manifest.wasm;
  writeFileSync(join(pkg, 'ebpm.json'), JSON.stringify(manifest));
  execFileSync(process.execPath, [EBPM, 'build', pkg], { stdio: 'ignore' });
  return { work, layout: join(pkg, 'out') };
}

/**
 * `prepareStored` puts the package of `prepare` in a store of its own, as an operator has it:
 * pushed to an embedded registry in `work`, pulled from there. Returns its reference, pinned to
 * its version (which the store answers without asking the registry), and the environment that
 * names that store.
 */
export function prepareStored(work) {
  const pkg = join(work, 'sigsnoop');
  const storeEnv = { EBPM_STORE: join(work, 'store'), EBPM_LOCAL_REGISTRY: join(work, 'registry') };
  const env = { ...process.env, ...storeEnv };
  const { name, version } = JSON.parse(readFileSync(join(pkg, 'ebpm.json'), 'utf8'));
  const ref = `local.invalid/${name}:${version}`;
  execFileSync(process.execPath, [EBPM, 'push', pkg], { stdio: 'ignore', env });
  execFileSync(process.execPath, [EBPM, 'pull', ref], { stdio: 'ignore', env });
  return { ref, storeEnv };
}

/**
 * The three tracers, each told to print only signals sent by `pid` (and only signal `sig`): ebpm on the stored package,
 * Debian's libbpf-tools sigsnoop (native libbpf: the floor), and bpftrace's one-liner.
 */
export function tools(layout, pid, { env = process.env, sig = 0 } = {}) {
  const s = sig ? ['-s', String(sig)] : [];
  return {
    // The launcher as users start it: `ebpm run` from the start-up snapshot.
    ebpm: { cmd: EBPM, args: ['run', layout, '--filtered-pid', String(pid), ...(sig ? ['--target-signal', String(sig)] : [])], env },
    // stdio block-buffers a pipe: without -oL, sigsnoop's first line waits for 4 KiB of output.
    sigsnoop: { cmd: 'stdbuf', args: ['-oL', '/usr/sbin/sigsnoop', '-p', String(pid), ...s], env: process.env },
    bpftrace: {
      cmd: 'bpftrace',
      args: [
        '-e',
        `tracepoint:signal:signal_generate /pid == ${pid}${sig ? ` && args->sig == ${sig}` : ''}/ { printf("%d %d %d %s\\n", pid, args->pid, args->sig, comm); }`,
      ],
      env: process.env,
    },
  };
}

/** A process with a known comm that waits for a line, then runs `body` (sh). */
export function script(dir, name, body) {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nread go\n${body}\n`, { mode: 0o755 });
  return spawn(path, [], { stdio: ['pipe', 'ignore', 'ignore'] });
}

/** utime + stime of `pid` and its threads, in seconds (/proc/<pid>/stat fields 14 and 15). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

/** `quantile` is the value below which the fraction `q` of `xs` lies (nearest rank). */
export function quantile(xs, q) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export const median = (xs) => quantile(xs, 0.5);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `child` exits. */
export const exited = (child) => new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('close', r)));

/** `argv` as one `sh -c` command line, every word quoted. */
const shellLine = (argv) => argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');

/**
 * `onTerminal` runs `argv` on a pseudo-terminal of util-linux `script`, as a person runs it:
 * `[command, args, env]`, with `env`'s SHELL set to sh (script runs its command with $SHELL -c:
 * sh, not the user's shell and its start-up files).
 */
export const onTerminal = (argv, env) => ['script', ['-qfec', `exec ${shellLine(argv)}`, '/dev/null'], { ...env, SHELL: '/bin/sh' }];

/**
 * `firstEventRun` launches `tool` and times it until its output shows `marker`: on a pipe, or
 * (`pty`) on a terminal of util-linux `script`, as a person runs it. The tool then runs `holdMs`
 * more (a live view takes over in that time) and is stopped as a person stops it: SIGINT, or
 * Ctrl-C typed on the terminal. GNU time, which the tool runs under, gives its peak RSS.
 * Returns the milliseconds from spawn to the marker, the peak RSS in MB, and everything the
 * tool wrote (stdout, then stderr; one stream on a terminal).
 */
export async function firstEventRun(tool, marker, { pty = false, holdMs = 0 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ebpm-bench-rss-'));
  const rssFile = join(dir, 'rss');
  const argv = ['/usr/bin/time', '-f', '%M', '-o', rssFile, tool.cmd, ...tool.args];
  const start = process.hrtime.bigint();
  const [onPty, onPtyArgs, onPtyEnv] = onTerminal(argv, tool.env);
  const child = pty
    ? spawn(onPty, onPtyArgs, { env: onPtyEnv, stdio: ['pipe', 'pipe', 'ignore'] })
    : spawn(argv[0], argv.slice(1), { env: tool.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d.toString();
  });
  const done = exited(child);
  const ms = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${tool.cmd}: no event in 30 s: ${out}${err}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      if (out.includes(marker)) {
        clearTimeout(timer);
        resolve(Number(process.hrtime.bigint() - start) / 1e6);
      }
    });
    void done.then(() => reject(new Error(`${tool.cmd}: exited before its first event: ${out}${err}`)));
  });
  if (holdMs > 0) await sleep(holdMs);
  // GNU time ignores SIGINT while it waits: on a pipe, the signal goes to the tool through its process group.
  if (pty) child.stdin.write('\x03');
  else process.kill(-child.pid, 'SIGINT');
  await done;
  // `time -o` writes "Command terminated by signal 2" first when the tool dies by the signal.
  const rss = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) / 1024;
  rmSync(dir, { recursive: true, force: true });
  return { ms, rss, output: out + err };
}

/** Runs a command to completion, piped or (`terminal`) on a terminal (`onTerminal`); returns its wall time in ms (throws on failure). */
export function timed(cmd, args, env = process.env, { terminal = false } = {}) {
  const [file, argv, runEnv] = terminal ? onTerminal([cmd, ...args], env) : [cmd, args, env];
  const t0 = performance.now();
  try {
    // On a terminal, what the tool writes (stderr too) goes to the terminal: the error says only the exit code.
    execFileSync(file, argv, { env: runEnv, stdio: [terminal ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.toString().trim() || e.message}`);
  }
  return performance.now() - t0;
}
