// libbpf-tools' softirqs under `ebpm run`, on the real kernel: its results live in .bss arrays
// (`counts`, `hists`), read through the .bss map and printed per softirq vector, named after the
// kernel's own enum. Loopback TCP traffic from this test makes NET_RX softirqs happen.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { libbpfToolObject } from '../helpers/libbpf-tools.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, tempDir } from './spawn.js';

const VECTORS = ['hi', 'timer', 'net_tx', 'net_rx', 'block', 'irq_poll', 'tasklet', 'sched', 'hrtimer', 'rcu'];

describeWith(['root', 'btf', 'native', 'libbpf-tools'], 'run: result globals of libbpf-tools softirqs', () => {
  let dir = '';
  let object = '';
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    dir = tempDir();
    object = libbpfToolObject('softirqs', dir);
    server = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs softirqs for a second while echoing data over loopback TCP connections, one after another. */
  const runWithTraffic = async (args: string[]) => {
    const run = ebpm(['run', object, ...args, '--duration', '1']);
    let going = true;
    const echo = () => {
      if (!going) return;
      const c = connect(port, '127.0.0.1', () => c.end(Buffer.alloc(64 * 1024)));
      c.on('data', () => undefined);
      c.on('close', echo);
      c.on('error', () => undefined);
    };
    echo();
    const r = await run.exited().finally(() => {
      going = false;
    });
    expect(r.code, r.stderr).toBe(0);
    return r;
  };

  it('prints the counts per softirq vector, named as the kernel names them, net_rx among them', async () => {
    const r = await runWithTraffic([]);
    const [counts, hists] = r.stdout.trimEnd().split('\n\n');
    const lines = counts!.split('\n');
    const title = /^\d\d:\d\d:\d\d counts: (\d+) of \1 entries by count$/.exec(lines[0]!);
    expect(title, lines[0]).not.toBeNull();
    expect(lines[1]).toMatch(/^SOFTIRQ +COUNT$/);
    const rows = lines.slice(2).map((l) => /^(\w+) +(\d+)$/.exec(l)!.slice(1));
    expect(rows).toHaveLength(Number(title![1]));
    for (const [name] of rows) expect(VECTORS).toContain(name);
    expect(Number(rows.find(([name]) => name === 'net_rx')?.[1])).toBeGreaterThan(0);
    // Without --targ-dist the histograms stay empty.
    expect(hists).toMatch(/^\d\d:\d\d:\d\d hists: no entries$/);
    expect(r.stderr).toMatch(/^softirqs: 0 events, 0 lost \(stopped: duration\)$/m);
  });

  it('--print-map hists prints that global alone', async () => {
    const r = await runWithTraffic(['--targ-dist', '--print-map', 'hists']);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d hists:\nsoftirq = \w+\n {5}usecs {15}: count {4}distribution\n/);
    expect(r.stdout).not.toMatch(/counts:/);
  });

  it('with --targ-dist draws one histogram per vector, and --json keys them by name', async () => {
    const r = await runWithTraffic(['--targ-dist', '--json']);
    const snaps = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { map: string; entries: { key: { softirq: string }; value: { slots: number[] } }[] });
    expect(snaps.map((s) => s.map)).toEqual(['counts', 'hists']);
    expect(snaps[0]!.entries).toEqual([]);
    const netRx = snaps[1]!.entries.find((e) => e.key.softirq === 'net_rx');
    expect(netRx?.value.slots).toHaveLength(20);
    expect(netRx!.value.slots.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const e of snaps[1]!.entries) expect(VECTORS).toContain(e.key.softirq);
  });
});

describeWith(['clang'], 'run --print-map: result globals by name', () => {
  it('refuses a writable global that is no array of counters or histograms, before loading anything', () => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir, 'tally.bpf.c'),
        'typedef unsigned long long __u64;\n__u64 total = 0;\n__u64 counts[4] = {};\n' +
          '__attribute__((section("tracepoint/syscalls/sys_enter_getpid"), used)) int on(void *ctx) { counts[1]++; total++; return 0; }\n' +
          'char LICENSE[] __attribute__((section("license"), used)) = "GPL";\n',
      );
      execFileSync('clang', ['-target', 'bpf', '-g', '-O2', '-c', 'tally.bpf.c', '-o', 'tally.bpf.o'], { cwd: dir });
      const r = ebpmSync(['run', join(dir, 'tally.bpf.o'), '--print-map', 'total', '--duration', '1']);
      expect([r.code, r.stderr]).toEqual([
        2,
        'error: run: --print-map total: a global that is neither an array of counters nor of histograms (`slots`)\nhint: the globals it would print: counts\n',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
