// Helpers for the end-to-end tests of `ebpm run`: the CLI bundle spawned as users run it, test
// packages copied from examples/, and what bpftool says is loaded.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ebpmSync as cliSync, spawnEbpm } from '../helpers/cli.js';
import { onOneCpu } from '../helpers/cpu.js';
import { REPO } from '../helpers/objects.js';

export { BIN, type Running } from '../helpers/cli.js';

/** A world-readable temp dir (the test root is private), so the unprivileged test user can read packages in it; removed when the suite ends. */
export function tempDir(): string {
  const d = mkdtempSync(join(process.env.EBPM_TEST_OPEN_ROOT!, 'run-'));
  chmodSync(d, 0o755);
  return d;
}

/**
 * `bpfOnlyCopy` copies examples/<name> without its Wasm program (ebpm.json's `wasm`), so that
 * ebpm's own loader and decoder run it.
 */
export function bpfOnlyCopy(name: string, into: string): string {
  const dir = join(into, name);
  cpSync(join(REPO, 'examples', name), dir, { recursive: true, filter: (src) => !src.endsWith('/out') && !src.endsWith('main.c') });
  const manifest = JSON.parse(readFileSync(join(dir, 'ebpm.json'), 'utf8')) as Record<string, unknown>;
  delete manifest.wasm;
  writeFileSync(join(dir, 'ebpm.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

/**
 * `ownCopy` is `bpfOnlyCopy` with `from` replaced by `to` in its C source, to give its programs
 * names of their own: other test files load the same examples at the same time, and what
 * bpftool lists under a name must be what this test loaded.
 */
export function ownCopy(name: string, into: string, from: string, to: string): string {
  const dir = bpfOnlyCopy(name, into);
  const source = join(dir, `${name}.bpf.c`);
  writeFileSync(source, readFileSync(source, 'utf8').replaceAll(from, to));
  return dir;
}

/** `ebpmSync` runs the CLI to completion, in this file's sandbox unless `env` says otherwise. */
export const ebpmSync = cliSync;

/** `ebpm` spawns the CLI with piped output, in this file's sandbox unless `env` says otherwise; `prefix` runs it under another command (setpriv). */
export const ebpm = spawnEbpm;

/** Program ids bpftool lists under `name`. */
export function programIds(name: string): number[] {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[];
  return progs.filter((p) => p.name === name).map((p) => p.id);
}

/**
 * `released` is `list()` (programs still loaded) once it is empty, or as the last of `tries`
 * listings: the kernel may free a program a little after the run that closed it has ended (a
 * link can put its program only after an RCU grace period), and seen from another process, the
 * program is listed until then. A program a run left loaded stays listed in every one.
 */
export function released<T>(list: () => T[], tries = 50): T[] {
  let left = list();
  for (let i = 1; i < tries && left.length > 0; i++) left = list();
  return left;
}

/**
 * `programsOf` lists the ids of the BPF programs process `pid` holds (`prog_id` in the fdinfo of
 * its BPF fds): what one run loaded, whatever else the machine runs, and read without starting
 * a process (which a tracer of execs would see).
 */
export function programsOf(pid: number): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // closed between the listing and the read
    }
  }
  return [...ids].sort((a, b) => a - b);
}

/** Link ids bpftool lists for the programs `ids`. */
export function linkIds(progIds: readonly number[]): number[] {
  const links = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as { id: number; prog_id: number }[];
  return links.filter((l) => progIds.includes(l.prog_id)).map((l) => l.id);
}

/**
 * `sender` writes a shell script named `ebpm-sigsend` (its comm) that waits for a line on stdin,
 * then sends each signal of `signals` to `target`. It runs on one CPU, so the events it causes
 * all go to that CPU's perf buffer and are read in the order they were sent.
 */
export function sender(dir: string, target: number, signals: readonly number[]): ChildProcess {
  const script = join(dir, 'ebpm-sigsend');
  writeFileSync(script, `#!/bin/sh\nread go\nfor s in ${signals.join(' ')}; do kill -$s ${target}; done\n`, { mode: 0o755 });
  return spawn(...onOneCpu(script, []), { stdio: ['pipe', 'ignore', 'ignore'] });
}

/** Parses JSON lines, each event `untimed`. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => untimed(JSON.parse(l) as Record<string, unknown>));
}

/**
 * `untimed` is a JSON object `ebpm run` printed, without the `timestamp` every event carries
 * (checked to be an ISO 8601 time), so that events compare by their fields.
 */
export function untimed(o: Record<string, unknown>): Record<string, unknown> {
  if (!('timestamp' in o)) return o;
  const { timestamp, ...rest } = o;
  if (typeof timestamp !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(timestamp))
    throw new Error(`not an ISO 8601 timestamp: ${String(timestamp)}`);
  return rest;
}
