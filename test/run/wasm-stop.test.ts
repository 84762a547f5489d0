// The end of a run lets a Wasm guest say goodbye: Ctrl-C on a terminal, SIGTERM and --duration
// make its sleep return early (EINTR), so examples/runqlat prints its histogram before it ends,
// with the run's documented exit code and none of its programs left loaded.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO } from '../helpers/objects.js';
import { ttyEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { type Running, ebpm, ebpmSync, programIds, tempDir } from './spawn.js';

/** The copy's programs: runqlat's, renamed so that no other test file loads them. */
const PROGRAMS = ['rqstop_switch', 'rqstop_wakeup', 'rqstop_wakeup_new'];
const BANNER = 'Tracing run queue latency... Hit Ctrl-C to end.';
const HEADER = '     usecs               : count    distribution';
/** A row of libbpf-tools' log2 histogram; its counts are whatever the scheduler did. */
const ROW = /^ {0,10}\d+ -> \d+ +: \d+ +\|\**\s*\|$/;

let dir = '';
let layout = '';

/** The copy's programs loaded now: only this file loads them, one run at a time. */
function loaded(): number[] {
  return PROGRAMS.flatMap((p) => programIds(p));
}

/** Resolves once the guest printed its banner (it is attached and sleeping); rejects if it ends first. */
function banner(run: Running): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => run.stdout().includes(BANNER) && resolve();
    run.child.stdout!.on('data', check);
    void run.exited().then(() => (run.stdout().includes(BANNER) ? resolve() : reject(new Error(`no banner: ${run.stderr()}`))));
    check();
  });
}

/** The histogram's lines after the banner: a blank line, the header, at least one row. */
function expectHistogram(lines: readonly string[]): void {
  expect(lines.slice(0, 3)).toEqual([BANNER, '', HEADER]);
  const rows = lines.slice(3);
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.filter((r) => !ROW.test(r))).toEqual([]);
}

describeWith(['root', 'btf', 'clang', 'wasi', 'bpftool'], 'a Wasm guest stopped at the end of a run runs its exit path', () => {
  beforeAll(() => {
    dir = tempDir();
    const pkg = join(dir, 'runqlat');
    cpSync(join(REPO, 'examples', 'runqlat'), pkg, { recursive: true, filter: (src) => !src.endsWith('/out') });
    const source = join(pkg, 'runqlat.bpf.c');
    writeFileSync(source, readFileSync(source, 'utf8').replaceAll('BPF_PROG(sched_', 'BPF_PROG(rqstop_'));
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('Ctrl-C on a terminal: runqlat prints its histogram, and the run ends with 130', async () => {
    const run = ttyEbpm(['run', layout]);
    await run.seen(BANNER);
    expect(loaded()).toHaveLength(3);
    run.type('\x03');
    expect(await run.exited()).toBe(130);
    const lines = run.screen().replaceAll('\r\n', '\n').split('\n');
    expect(lines[0]).toBe('runqlat 1.0.0: started its Wasm program');
    expect(lines.at(-1)).toBe('');
    expect(lines.at(-2)).toBe('runqlat: Wasm program ended (signal, exit code 130)');
    // The terminal echoes the Ctrl-C after the banner.
    expectHistogram(lines.slice(1, -2).map((l) => l.replace(/^\^C/, '')));
    expect(loaded()).toEqual([]);
  });

  it('--duration and SIGTERM: the histogram is printed, and the runs end with 0 and 143', async () => {
    const timed = ebpm(['run', layout, '--duration', '1']);
    const r = await timed.exited();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('runqlat 1.0.0: started its Wasm program\nrunqlat: Wasm program ended (duration, exit code 0)\n');
    expect(r.stdout.endsWith('|\n')).toBe(true);
    expectHistogram(r.stdout.slice(0, -1).split('\n'));

    const term = ebpm(['run', layout]);
    await banner(term);
    expect(loaded()).toHaveLength(3);
    term.child.kill('SIGTERM');
    const t = await term.exited();
    expect(t.code).toBe(143);
    expect(t.stderr).toBe('runqlat 1.0.0: started its Wasm program\nrunqlat: Wasm program ended (signal, exit code 143)\n');
    expectHistogram(t.stdout.slice(0, -1).split('\n'));
    expect(loaded()).toEqual([]);
  });
});
