// libbpf-tools' stack tools under `ebpm run`, on the real kernel: offcputime and wakeuptime
// carved out of Debian's binaries, filtered to a perl process this test starts that sleeps in
// clock_nanosleep over and over, their stack trace maps read and their frames named.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { libbpfToolObject } from '../helpers/libbpf-tools.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, tempDir } from './spawn.js';

let dir = '';
let sleeper: ChildProcess | undefined;
let pid = 0;

describeWith(['root', 'btf', 'native', 'libbpf-tools'], 'run: stack trace maps symbolized', () => {
  beforeAll(() => {
    dir = tempDir();
    // Off the CPU in clock_nanosleep (Time::HiRes) every 10 ms: a known kernel stack, again and again.
    sleeper = spawn('perl', ['-MTime::HiRes=sleep', '-e', 'sleep 0.01 while 1'], { stdio: 'ignore' });
    pid = sleeper.pid!;
  });
  afterAll(() => {
    sleeper?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (args: string[]) => {
    const r = await ebpm(['run', ...args, '--duration', '1']).exited();
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  /** The entries of a stacks snapshot: its frame lines, its `-` line and its count. */
  const blocks = (stdout: string) =>
    stdout
      .trimEnd()
      .split('\n\n')
      .slice(1)
      .map((b) => {
        const lines = b.split('\n');
        return { frames: lines.slice(0, -2), who: lines.at(-2)!, count: lines.at(-1)! };
      });

  it('offcputime prints the process under its kernel stack, then its user stack, and the time off the CPU', async () => {
    const r = await run([libbpfToolObject('offcputime', dir), '--targ-tgid', String(pid)]);
    const lines = r.stdout.split('\n');
    const title = /^\d\d:\d\d:\d\d info: (\d+) of (\d+) entries by delta$/.exec(lines[0]!);
    expect(title, lines[0]).not.toBeNull();
    const all = blocks(r.stdout);
    expect([all.length, Number(title![1])]).toEqual([Math.min(10, Number(title![2])), all.length]);
    for (const b of all) {
      expect(b.who).toBe(`    - comm perl, pid ${pid}, tgid ${pid}`);
      expect(b.count).toMatch(/^ {8}[1-9]\d*$/);
    }
    const asleep = all.find((b) => b.frames.some((f) => /^ {4}do_nanosleep\+0x[0-9a-f]+$/.test(f)));
    expect(asleep, r.stdout).toBeDefined();
    // Kernel frames innermost first, then the user frames: libc's clock_nanosleep, named from its .dynsym.
    const names = asleep!.frames.map((f) => f.trim().replace(/\+0x[0-9a-f]+$/, ''));
    const at = (n: string) => names.indexOf(n);
    expect(at('schedule')).toBeGreaterThanOrEqual(0);
    expect([at('schedule') < at('do_nanosleep'), at('do_nanosleep') < at('hrtimer_nanosleep'), at('hrtimer_nanosleep') < at('clock_nanosleep')]).toEqual([
      true,
      true,
      true,
    ]);
  });

  it('offcputime --json gives the stack ids and the frames as address and symbol', async () => {
    const r = await run([libbpfToolObject('offcputime', dir), '--targ-tgid', String(pid), '--json']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    type Frame = { address: string; symbol: string | null };
    const snap = JSON.parse(lines[0]!) as {
      map: string;
      entries: { key: Record<string, number>; value: { delta: number; comm: string }; stacks: Record<string, Frame[] | null> }[];
    };
    expect(snap.map).toBe('info');
    expect(snap.entries.length).toBeGreaterThan(0);
    for (const e of snap.entries) {
      expect(Object.keys(e.key)).toEqual(['pid', 'tgid', 'user_stack_id', 'kern_stack_id']);
      expect([e.key.pid, e.key.tgid, e.value.comm]).toEqual([pid, pid, 'perl']);
      expect(Object.keys(e.stacks)).toEqual(['kern_stack_id', 'user_stack_id']);
      expect(e.stacks.kern_stack_id === null).toBe(e.key.kern_stack_id! < 0);
      for (const f of e.stacks.kern_stack_id ?? []) expect(f.address).toMatch(/^0xffff[0-9a-f]{12}$/);
    }
    const kernel = snap.entries.flatMap((e) => e.stacks.kern_stack_id ?? []);
    expect(kernel.some((f) => /^do_nanosleep\+0x[0-9a-f]+$/.test(f.symbol ?? ''))).toBe(true);
  });

  it('wakeuptime prints who woke the process, under the kernel stack of the wakeup', async () => {
    const r = await run([libbpfToolObject('wakeuptime', dir), '--targ-pid', String(pid)]);
    const lines = r.stdout.split('\n');
    const title = /^\d\d:\d\d:\d\d counts: (\d+) of (\d+) entries by count$/.exec(lines[0]!);
    expect(title, lines[0]).not.toBeNull();
    const all = blocks(r.stdout);
    expect([all.length, Number(title![1])]).toEqual([Math.min(10, Number(title![2])), all.length]);
    expect(all.length).toBeGreaterThan(0);
    for (const b of all) {
      expect(b.who).toMatch(/^ {4}- waker \S.*, target perl$/);
      expect(b.count).toMatch(/^ {8}[1-9]\d*$/);
    }
    // Its sleeps end by their timer: try_to_wake_up called from hrtimer_wakeup.
    const timer = all.find((b) => b.frames.some((f) => /^ {4}hrtimer_wakeup\+0x[0-9a-f]+$/.test(f)));
    expect(timer, r.stdout).toBeDefined();
    expect(timer!.frames.some((f) => /^ {4}try_to_wake_up\+0x[0-9a-f]+$/.test(f))).toBe(true);
  });
});
