// Helpers for the end-to-end tests of `ebpm run`: the CLI bundle spawned as users run it, test
// packages copied from examples/, and what bpftool says is loaded.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/objects.js';

export const BIN = join(REPO, 'bin', 'ebpm.js');

/** A world-readable temp dir (the test root is private), so the unprivileged test user can read packages in it. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ebpm-run-'));
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

/** `ebpmSync` runs the CLI to completion. */
export function ebpmSync(args: string[], opts: { cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, EBPM_DEBUG: '' },
    });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, stdout: x.stdout, stderr: x.stderr };
  }
}

export interface Running {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr has matched `re`. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** `ebpm` spawns the CLI with piped output; `prefix` runs it under another command (setpriv). */
export function ebpm(args: string[], opts: { prefix?: string[] } = {}): Running {
  const argv = [...(opts.prefix ?? []), process.execPath, BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (re, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} on stderr within ${ms} ms; stderr: ${err}`)), ms);
        const check = () => {
          if (re.test(err)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stderr!.on('data', check);
        void exit.then(() => {
          clearTimeout(timer);
          if (re.test(err)) resolve();
          else reject(new Error(`exited without ${re} on stderr: ${err}`));
        });
        check();
      }),
    exited: async () => ({ ...(await exit), stdout: out, stderr: err }),
  };
}

/** Program ids bpftool lists under `name`. */
export function programIds(name: string): number[] {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[];
  return progs.filter((p) => p.name === name).map((p) => p.id);
}

/** Link ids bpftool lists for the programs `ids`. */
export function linkIds(progIds: readonly number[]): number[] {
  const links = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as { id: number; prog_id: number }[];
  return links.filter((l) => progIds.includes(l.prog_id)).map((l) => l.id);
}

/**
 * `sender` writes a shell script named `ebpm-sigsend` (its comm) that waits for a line on stdin,
 * then sends each signal of `signals` to `target`, 20 ms apart.
 */
export function sender(dir: string, target: number, signals: readonly number[]): ChildProcess {
  const script = join(dir, 'ebpm-sigsend');
  writeFileSync(script, `#!/bin/sh\nread go\nfor s in ${signals.join(' ')}; do kill -$s ${target}; sleep 0.02; done\n`, { mode: 0o755 });
  return spawn(script, [], { stdio: ['pipe', 'ignore', 'ignore'] });
}

/** Parses JSON lines. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
