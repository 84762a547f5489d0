// The examples' Wasm user space (examples/*/main.c, built with the real clang and wasi-libc)
// running on the real kernel through runWasm, the real loader and the native addon.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { onOneCpu } from '../helpers/cpu.js';
import { describeWith } from '../helpers/prereq.js';
import { startWasm } from '../../src/runtime/run.js';
import { programsOf } from '../run/spawn.js';
import { collect, exampleGuest } from './helpers.js';

/**
 * `ebpm-sigq`, built for the host: after a line on stdin, sends each `pid:signal:errno` argument
 * with rt_sigqueueinfo(2), the errno in si_errno (what signal_generate reports as `errno`, and
 * sigsnoop, as libbpf-tools', as the result). Run on one CPU (`onOneCpu`), so that sigsnoop's
 * events reach the guest in the order they were sent.
 */
const SIGQ = `
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char line[8];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 1; i < argc; i++) {
		siginfo_t info;
		int pid, sig, err;
		if (sscanf(argv[i], "%d:%d:%d", &pid, &sig, &err) != 3)
			return 2;
		memset(&info, 0, sizeof(info));
		info.si_signo = sig;
		info.si_errno = err;
		info.si_code = SI_QUEUE;
		info.si_pid = getpid();
		info.si_uid = getuid();
		if (syscall(SYS_rt_sigqueueinfo, pid, sig, &info))
			return 1;
	}
	return 0;
}
`;
let sigq = '';

interface SigEvent {
  pid: number;
  tpid: number;
  sig: number;
  ret: number;
  comm: string;
  sig_name: string;
}

/**
 * Runs the sigsnoop guest with `args` while ebpm-sigq sends `sends` ([target, signal, errno]),
 * until `expected` events came. Each test's last send is one it expects, and the events arrive in
 * send order (see SIGQ), so an event that should not be there shows among the first `expected`.
 */
async function sigsnoop(args: (sender: number) => string[], sends: (target: number) => [number, number, number][], expected: number) {
  const { module, object } = await exampleGuest('sigsnoop');
  const target = spawn('sleep', ['30'], { stdio: 'ignore' });
  const sender = spawn(
    ...onOneCpu(
      sigq,
      sends(target.pid!).map((s) => s.join(':')),
    ),
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  const ac = new AbortController();
  let count = 0;
  const r = await collect({
    module,
    name: 'sigsnoop',
    args: args(sender.pid!),
    objects: { declared: [sha256Digest(object)] },
    signal: ac.signal,
    onStdout: () => ++count === expected && ac.abort(),
    onStderr: (line) => line.startsWith('running') && sender.stdin!.end('go\n'),
  });
  target.kill('SIGKILL');
  return { ...r, events: r.stdout.map((l) => JSON.parse(l) as SigEvent), sender: sender.pid!, target: target.pid! };
}

describeWith(['root', 'btf', 'clang', 'native', 'wasi'], 'Wasm examples on the kernel', () => {
  beforeAll(() => {
    const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'sigq-'));
    writeFileSync(join(dir, 'sigq.c'), SIGQ);
    sigq = join(dir, 'ebpm-sigq');
    execFileSync('clang', ['-O2', '-Wall', '-Werror', join(dir, 'sigq.c'), '-o', sigq]);
  });

  it('sigsnoop prints the signals a process sends itself, filtered by -p, with signal names', async () => {
    const { module, object } = await exampleGuest('sigsnoop');
    // The child handles USR1/USR2, sends both to itself when told, then waits to be let go.
    const child = spawn(...onOneCpu('/bin/sh', ['-c', 'trap ":" USR1 USR2; read go; kill -USR1 $$; kill -USR2 $$; read done']), {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const ac = new AbortController();
    const lines: string[] = [];
    const r = await collect({
      module,
      name: 'sigsnoop',
      args: ['-p', String(child.pid)],
      objects: { declared: [sha256Digest(object)] },
      signal: ac.signal,
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

  it('sigsnoop -s traces only that signal', async () => {
    const r = await sigsnoop(
      (sender) => ['-p', String(sender), '-s', '28'],
      (t) => [
        [t, 18, 0],
        [t, 28, 0],
        [t, 18, 0],
        [t, 28, 0],
      ],
      2,
    );
    const event = { pid: r.sender, tpid: r.target, sig: 28, ret: 0, comm: 'ebpm-sigq', sig_name: 'SIGWINCH' };
    expect(r.events).toEqual([event, event]);
  });

  it('sigsnoop -x traces only signals whose info carries an errno, which is what it counts as failed', async () => {
    const r = await sigsnoop(
      (sender) => ['-p', String(sender), '-x'],
      (t) => [
        [t, 28, 0],
        [t, 28, 5],
        [t, 18, 0],
        [t, 18, 7],
      ],
      2,
    );
    const event = { pid: r.sender, tpid: r.target, comm: 'ebpm-sigq' };
    expect(r.events).toEqual([
      { ...event, sig: 28, ret: 5, sig_name: 'SIGWINCH' },
      { ...event, sig: 18, ret: 7, sig_name: 'SIGCONT' },
    ]);
  });

  it("sigsnoop -k traces only SIGKILL (not, as libbpf-tools' -k, whatever kill(2) sends)", async () => {
    const r = await sigsnoop(
      (sender) => ['-p', String(sender), '-k'],
      (t) => [
        [t, 28, 0],
        [t, 18, 0],
        [t, 9, 0],
      ],
      1,
    );
    expect(r.events).toEqual([{ pid: r.sender, tpid: r.target, sig: 9, ret: 0, comm: 'ebpm-sigq', sig_name: 'SIGKILL' }]);
    const { module, object } = await exampleGuest('sigsnoop');
    const help = await collect({ module, name: 'sigsnoop', args: ['-h'], objects: { declared: [sha256Digest(object)] } });
    expect(help).toMatchObject({ exitCode: 0, reason: 'exit' });
    expect(help.stderr.slice(3, 5)).toEqual([
      '  -x  failed signals only: those whose siginfo carries an errno (as libbpf-tools)',
      '  -k  SIGKILL only (unlike libbpf-tools, not whatever kill(2) sends)',
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

  it('swapped for sigsnoop, a sleeping runqlat ends at once with its objects replaced, printing no histogram', async () => {
    const runqlat = await exampleGuest('runqlat');
    const sigsnoop = await exampleGuest('sigsnoop');
    const stdout: string[] = [];
    let tracing: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (tracing = resolve));
    const ac = new AbortController();
    const objects = { declared: [sha256Digest(runqlat.object), sha256Digest(sigsnoop.object)] };
    // An interval far past the test's timeout: a swap that waited for runqlat's sleep would not end.
    const run = startWasm({
      module: runqlat.module,
      name: 'runqlat',
      args: ['3600'],
      objects,
      signal: ac.signal,
      onStdout: (line) => {
        stdout.push(line);
        if (line.startsWith('Tracing')) tracing();
      },
      onStderr: () => undefined,
    });
    await started;
    expect(programsOf(process.pid)).toHaveLength(3);
    expect(await run.swap({ module: sigsnoop.module, name: 'sigsnoop', objects })).toEqual({ kept: false });
    // runqlat's three programs gone, sigsnoop's one loaded; runqlat ended where it slept, and
    // the lines since are sigsnoop's events (JSON, of whatever signals the machine sends).
    expect(programsOf(process.pid)).toHaveLength(1);
    expect(stdout.filter((line) => !line.startsWith('{"pid":'))).toEqual(['Tracing run queue latency... Hit Ctrl-C to end.']);
    ac.abort();
    expect(await run.result).toEqual({ exitCode: 130, reason: 'signal' });
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
