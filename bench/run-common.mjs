// Shared set-up of the `ebpm run` benchmarks: the stored sigsnoop package (an OCI layout built
// from examples/sigsnoop's BPF object, so no network and no compile on the timed path), the
// peers' command lines, and small process helpers. Run as root.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
 * The three tracers, each told to print only signals sent by `pid` (and only signal `sig`): ebpm on the stored package,
 * Debian's libbpf-tools sigsnoop (native libbpf: the floor), and bpftrace's one-liner.
 */
export function tools(layout, pid, { env = process.env, sig = 0 } = {}) {
  const s = sig ? ['-s', String(sig)] : [];
  return {
    ebpm: { cmd: process.execPath, args: [EBPM, 'run', layout, '--filtered-pid', String(pid), ...(sig ? ['--target-signal', String(sig)] : [])], env },
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

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `child` exits. */
export const exited = (child) => new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('close', r)));
