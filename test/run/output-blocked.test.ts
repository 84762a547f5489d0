// `ebpm run` whose stdout is a pipe nobody reads: ebpm holds a bounded amount of output, drops
// and counts the events beyond it, and SIGTERM still ends the run at once with 143, every
// program detached, the dropped count in the final line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { DROPPING } from '../../src/cli/views/run-text.js';
import { describeWith } from '../helpers/prereq.js';
import { BIN, bpfOnlyCopy, ebpmSync, linkIds, programIds, released, tempDir } from './spawn.js';

let dir = '';
let layout = '';
/** What a test started, killed after it whatever its outcome. */
let started: ChildProcess[] = [];
const ATTACHED =
  'opensnoop 2.0.0: attached 2 programs: blocked_openat_enter (tracepoint/syscalls/sys_enter_openat), blocked_openat_exit (tracepoint/syscalls/sys_exit_openat)\n';

const ours = () => [...programIds('blocked_openat_enter'), ...programIds('blocked_openat_exit')];

/** The environment of a spawned CLI: a HOME of its own and none of the caller's ebpm settings. */
function sandbox(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EBPM_') && !k.startsWith('XDG_')));
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  return { ...env, HOME: home };
}

describeWith(['root', 'btf', 'clang', 'native', 'bpftool'], 'ebpm run with a stdout nobody reads', () => {
  beforeAll(() => {
    dir = tempDir();
    const pkg = bpfOnlyCopy('opensnoop', dir);
    // Programs of their own name: other test files load opensnoop at the same time.
    const source = join(pkg, 'opensnoop.bpf.c');
    writeFileSync(source, readFileSync(source, 'utf8').replaceAll('trace_openat_', 'blocked_openat_'));
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
    writeFileSync(join(dir, 'opened.txt'), 'x');
  }, 120_000);
  afterEach(() => {
    for (const c of started) c.kill('SIGKILL');
    started = [];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['aligned columns', []],
    ['JSON lines', ['--json']],
  ])('%s: drops and counts what stdout cannot take, and SIGTERM ends the run with 143, nothing left loaded', async (_, flags) => {
    // A shell named `ebpm-opener` opening a file as fast as it can: events until it is killed.
    const script = join(dir, 'ebpm-opener');
    writeFileSync(script, `#!/bin/sh\nwhile :; do : < ${join(dir, 'opened.txt')}; done\n`, { mode: 0o755 });
    const opener = spawn(script, [], { stdio: 'ignore' });
    started.push(opener);
    const before = ours();
    // stdout is a pipe this test never reads.
    const run = spawn(BIN, ['run', layout, '--pid', String(opener.pid), ...flags], { stdio: ['ignore', 'pipe', 'pipe'], env: sandbox() });
    started.push(run);
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => run.on('close', (code) => resolve(code)));
    // The first drop: the pipe and ebpm's bound are both full.
    await new Promise<void>((resolve, reject) => {
      run.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes(`${DROPPING}\n`)) resolve();
      });
      void exited.then(() => reject(new Error(`ended before dropping anything: ${stderr}`)));
    });
    const during = ours().filter((id) => !before.includes(id));
    expect(during).toHaveLength(2);
    run.kill('SIGTERM');
    expect(await exited).toBe(143);
    const m = /^opensnoop: (\d+) events, 0 lost, (\d+) dropped \(stopped: SIGTERM\)$/.exec(stderr.slice(ATTACHED.length + DROPPING.length + 1).trimEnd());
    expect(stderr.startsWith(`${ATTACHED}${DROPPING}\n`), stderr).toBe(true);
    expect(m, stderr).not.toBe(null);
    const [events, dropped] = [Number(m![1]), Number(m![2])];
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThanOrEqual(events);
    expect(released(() => ours().filter((id) => during.includes(id)))).toEqual([]);
    expect(linkIds(during)).toEqual([]);
  });
});
