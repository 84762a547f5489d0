// The end of a run lets a Wasm guest say goodbye: Ctrl-C on a terminal, SIGTERM and --duration
// make its sleep return early (EINTR), so examples/runqlat prints its histogram before it ends,
// with the run's documented exit code. And its arguments
// are passed as ecli passes them: `-h` and words ebpm does not know go to the program.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO } from '../helpers/objects.js';
import { ttyEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { type Running, ebpm, ebpmSync, programIds, programsOf, tempDir } from './spawn.js';

/** The copy's programs: runqlat's, renamed so that no other test file loads them. */
const PROGRAMS = ['rqstop_switch', 'rqstop_wakeup', 'rqstop_wakeup_new'];
const BANNER = 'Tracing run queue latency... Hit Ctrl-C to end.';
const HEADER = '     usecs               : count    distribution';
/** A row of libbpf-tools' log2 histogram; its counts are whatever the scheduler did. */
const ROW = /^ {0,10}\d+ -> \d+ +: \d+ +\|\**\s*\|$/;

let dir = '';
let layout = '';

/** The copy's programs that process `pid` holds (only this file loads them). */
function programsHeldBy(pid: number): number[] {
  const named = PROGRAMS.flatMap((p) => programIds(p));
  return programsOf(pid).filter((id) => named.includes(id));
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
    run.type('\x03');
    expect(await run.exited()).toBe(130);
    const lines = run.screen().replaceAll('\r\n', '\n').split('\n');
    expect(lines[0]).toBe('runqlat 1.0.0: started its Wasm program');
    expect(lines.at(-1)).toBe('');
    expect(lines.at(-2)).toBe('runqlat: Wasm program ended (signal, exit code 130)');
    // The terminal echoes the Ctrl-C after the banner.
    expectHistogram(lines.slice(1, -2).map((l) => l.replace(/^\^C/, '')));
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
    expect(programsHeldBy(term.child.pid!)).toHaveLength(3);
    term.child.kill('SIGTERM');
    const t = await term.exited();
    expect(t.code).toBe(143);
    expect(t.stderr).toBe('runqlat 1.0.0: started its Wasm program\nrunqlat: Wasm program ended (signal, exit code 143)\n');
    expectHistogram(t.stdout.slice(0, -1).split('\n'));
  });

  it("passes -h and the flags ebpm does not know to the program; --help is ebpm's; inspect lists no flags run refuses", () => {
    const usage = ebpmSync(['run', layout, '-h']);
    expect(usage).toEqual({
      code: 0,
      stdout: '',
      stderr:
        'runqlat 1.0.0: started its Wasm program\n' +
        'Usage: runqlat [-h] [-m] [-P] [-p PID] [interval] [count]\n' +
        'Summarize run queue (scheduler) latency as a histogram.\n\n' +
        '  -m  millisecond histogram\n' +
        '  -P  print a histogram per process ID\n' +
        '  -p  trace this PID only\n' +
        'runqlat: Wasm program ended (exit, exit code 0)\n',
    });
    expect(ebpmSync(['run', layout, '-p', 'x'])).toEqual({
      code: 125,
      stdout: '',
      stderr: 'runqlat 1.0.0: started its Wasm program\nrunqlat: invalid PID: x\nrunqlat: Wasm program ended (exit, exit code 2; ebpm exits with 125)\n',
    });
    const help = ebpmSync(['run', layout, '--help']);
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout.split('\n')[0]).toBe(`usage: ebpm run ${layout} [flags] [arguments of its Wasm program]`);
    expect(
      help.stdout.endsWith(
        `\n\nThe package's Wasm program parses its own arguments: try \`ebpm run ${layout} -h\`. Arguments that are also ebpm's flags go after --.\n`,
      ),
    ).toBe(true);

    // inspect lists the globals the program sets, not as flags `run` would refuse.
    const inspect = ebpmSync(['inspect', layout]);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain(
      [
        '  globals (set by its Wasm program; see `ebpm run <package> -h`):',
        '    targ_per_process  bool = false  One histogram per process instead of one for the whole system',
        '    targ_ms  bool = false  Report latencies in milliseconds instead of microseconds',
        '    targ_tgid  pid_t = 0  Trace only this process ID (0: every process)',
        '',
      ].join('\n'),
    );
    expect(inspect.stdout).not.toContain('--targ');
  });
});
