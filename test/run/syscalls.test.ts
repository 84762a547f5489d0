// libbpf-tools' syscount under `ebpm run`, on the real kernel: its map is keyed by syscall number
// (proven from its code), so rows are named after the generated table; with --count-by-process
// the same map is keyed by pid and stays numbers. A perl process this test starts calls
// getppid in a loop, and --filter-pid keeps only its syscalls.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { libbpfToolObject } from '../helpers/libbpf-tools.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, tempDir } from './spawn.js';

describeWith(['root', 'btf', 'native', 'libbpf-tools'], 'run: syscount names its syscalls', () => {
  let dir = '';
  let object = '';
  let caller: ChildProcess | undefined;
  let pid = 0;
  beforeAll(() => {
    dir = tempDir();
    object = libbpfToolObject('syscount', dir);
    caller = spawn('perl', ['-e', 'getppid() while 1'], { stdio: 'ignore' });
    pid = caller.pid!;
  });
  afterAll(() => {
    caller?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (args: string[]) => {
    const r = await ebpm(['run', object, '--filter-pid', String(pid), ...args, '--duration', '1']).exited();
    expect(r.code, r.stderr).toBe(0);
    return r;
  };

  it('prints getppid first, by name, as the native tool does', async () => {
    const lines = (await run([])).stdout.split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d data: \d+ of \d+ entries by count$/);
    expect(lines[1]).toMatch(/^SYSCALL +COUNT +TOTAL_NS +COMM$/);
    // comm is filled only when counting by process, as in the tool.
    expect(lines[2]).toMatch(/^getppid +[1-9]\d* +0$/);
  });

  it('--json keys the entries by syscall name', async () => {
    const snap = JSON.parse((await run(['--json'])).stdout) as { map: string; entries: { key: { syscall: string | number }; value: { count: number } }[] };
    expect(snap.map).toBe('data');
    expect(snap.entries[0]!.key).toEqual({ syscall: 'getppid' });
    expect(snap.entries[0]!.value.count).toBeGreaterThan(0);
  });

  it('--sort orders the table by the columns named; one it does not have is exit 2 naming those it has', async () => {
    const lines = (await run(['--sort', '-total_ns,syscall'])).stdout.split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d data: \d+ of \d+ entries by -total_ns,syscall$/);
    expect(lines[1]).toMatch(/^SYSCALL +COUNT +TOTAL_NS +COMM$/);
    const r = await ebpm(['run', object, '--sort', 'cpu', '--duration', '1']).exited();
    expect([r.code, r.stdout, r.stderr]).toEqual([
      2,
      '',
      'error: run: --sort cpu: the table of data has no column cpu\nhint: its columns: syscall, count, total_ns, comm\n',
    ]);
  });

  it('--count-by-process keys the same map by pid: numbers, not syscall names', async () => {
    const lines = (await run(['--count-by-process'])).stdout.split('\n');
    expect(lines[1]).toMatch(/^KEY +COUNT +TOTAL_NS +COMM$/);
    expect(lines[2]).toMatch(new RegExp(`^${pid} +[1-9]\\d* +0 +perl$`));
    expect(lines[3]).toBe('');
  });
});
