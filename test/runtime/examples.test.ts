// The examples' Wasm user space (examples/*/main.c, built with the real clang and wasi-libc)
// running on the real kernel through runWasm, the real loader and the native addon.
import { spawn, spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { describeWith } from '../helpers/prereq.js';
import { collect, exampleGuest } from './helpers.js';

describeWith(['root', 'btf', 'clang', 'native', 'wasi'], 'Wasm examples on the kernel', () => {
  it('sigsnoop prints the signals a process sends itself, filtered by -p, with signal names', async () => {
    const { module, object } = await exampleGuest('sigsnoop');
    // The child handles USR1/USR2, sends both to itself when told, then waits to be let go.
    const child = spawn('/bin/sh', ['-c', 'trap ":" USR1 USR2; read go; kill -USR1 $$; kill -USR2 $$; read done'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const ac = new AbortController();
    const lines: string[] = [];
    const r = await collect({
      module,
      name: 'sigsnoop',
      args: ['-p', String(child.pid)],
      objects: { declared: [sha256Digest(object)] },
      signal: ac.signal,
      durationMs: 10_000,
      onStdout: (line) => {
        lines.push(line);
        if (lines.length === 2) ac.abort();
      },
      onStderr: (line) => line.startsWith('running') && child.stdin!.write('go\n'),
    });
    child.stdin!.end('done\n');
    expect(r.reason).toBe('signal');
    expect(r.stderr[0]).toBe('running and waiting for the ebpf events from perf event...');
    expect(r.stdout.map((l) => JSON.parse(l))).toEqual([
      { pid: child.pid, tpid: child.pid, sig: 10, ret: 0, comm: 'sh', sig_name: 'SIGUSR1' },
      { pid: child.pid, tpid: child.pid, sig: 12, ret: 0, comm: 'sh', sig_name: 'SIGUSR2' },
    ]);
  });

  it('sigsnoop rejects a bad -p with its usage exit code', async () => {
    const { module, object } = await exampleGuest('sigsnoop');
    const r = await collect({ module, name: 'sigsnoop', args: ['-p', 'x'], objects: { declared: [sha256Digest(object)] } });
    expect(r).toMatchObject({ exitCode: 2, reason: 'exit', stderr: ['sigsnoop: invalid PID: x'] });
  });

  it('runqlat reads its histogram map through map_operate and prints it', async () => {
    const { module, object } = await exampleGuest('runqlat');
    // Scheduler load while the one 1 s interval runs.
    const load = spawn('/bin/sh', ['-c', 'i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done'], { stdio: 'ignore' });
    const r = await collect({ module, name: 'runqlat', args: ['1', '1'], objects: { declared: [sha256Digest(object)] } });
    load.kill();
    expect(r).toMatchObject({ exitCode: 0, reason: 'exit' });
    expect(r.stdout.slice(0, 3)).toEqual(['Tracing run queue latency... Hit Ctrl-C to end.', '', '     usecs               : count    distribution']);
    const rows = r.stdout.slice(3);
    expect(rows.length).toBeGreaterThan(0);
    let total = 0;
    let full = 0;
    rows.forEach((row, i) => {
      const m = /^ *(\d+) -> (\d+) *: (\d+) *\|([* ]{40})\|$/.exec(row);
      expect(m, row).not.toBeNull();
      const low = i === 0 ? 0 : 2 ** i;
      expect([Number(m![1]), Number(m![2])]).toEqual([low, 2 ** (i + 1) - 1]);
      total += Number(m![3]);
      if (m![4] === '*'.repeat(40)) full++;
    });
    expect(total).toBeGreaterThan(0);
    expect(full).toBeGreaterThanOrEqual(1);
    expect(Number(/: (\d+)/.exec(rows[rows.length - 1]!)![1])).toBeGreaterThan(0);
  });

  it('bootstrap prints the exec and the exit of /bin/true', async () => {
    const { module, object } = await exampleGuest('bootstrap');
    const ac = new AbortController();
    let pid = 0;
    const r = await collect({
      module,
      name: 'bootstrap',
      objects: { declared: [sha256Digest(object)] },
      signal: ac.signal,
      durationMs: 10_000,
      onStdout: (line) => {
        if (line.startsWith('TIME')) pid = spawnSync('/bin/true').pid ?? 0;
        if (pid && new RegExp(`^\\S+ +EXIT +true +${pid} `).test(line)) ac.abort('SIGTERM');
      },
    });
    expect(r).toMatchObject({ exitCode: 143, reason: 'signal' });
    expect(r.stdout[0]).toBe('TIME     EVENT COMM             PID     PPID    FILENAME/EXIT CODE');
    const mine = r.stdout.filter((l) => new RegExp(` ${pid} +${process.pid} `).test(l)).map((l) => l.slice(9).trimEnd());
    expect(mine[0]).toBe(`EXEC  true             ${String(pid).padEnd(7)} ${String(process.pid).padEnd(7)} /bin/true`);
    expect(mine[1]).toMatch(new RegExp(`^EXIT  true             ${String(pid).padEnd(7)} ${String(process.pid).padEnd(7)} \\[0\\]( \\(\\d+ms\\))?$`));
    expect(mine).toHaveLength(2);
  });
});
