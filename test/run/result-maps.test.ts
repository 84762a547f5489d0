// libbpf-tools' histogram and counter tools under `ebpm run`, on the real kernel: their objects
// carved out of Debian's binaries, their result maps found from BTF and printed at the stop.
// Counts depend on the machine's activity (and on both alternative program sets being attached
// until ebpm picks one), so only the structure and the arithmetic are asserted exactly.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { libbpfToolObject } from '../helpers/libbpf-tools.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, tempDir } from './spawn.js';

let dir = '';
const objects: Record<string, string> = {};
const TOOLS = ['runqlat', 'hardirqs', 'syscount'];

beforeAll(() => {
  dir = tempDir();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const carve = () => {
  for (const t of TOOLS) objects[t] ??= libbpfToolObject(t, dir);
};

describeWith(['libbpf-tools'], 'inspect: the result maps of libbpf-tools objects', () => {
  beforeAll(carve);

  it('names the maps `ebpm run` prints and why, and leaves bookkeeping maps out', () => {
    const lines = (tool: string) => ebpmSync(['inspect', objects[tool]!]).stdout.split('\n');
    const printed = (tool: string) => {
      const l = lines(tool);
      const at = l.indexOf('  printed by `ebpm run` at the stop:');
      expect(at).toBeGreaterThan(0);
      return l.slice(at + 1, at + 1 + l.slice(at + 1).findIndex((x) => !x.startsWith('    ')));
    };
    expect(printed('runqlat')).toEqual(['    hists: histogram (value struct hist has an integer array `slots`)']);
    expect(printed('hardirqs')).toEqual(['    infos: histogram (value struct info has an integer array `slots`)']);
    expect(printed('syscount')).toEqual(['    data: counters (value struct data_t holds only integers and names, and the object has no event map)']);
    const json = JSON.parse(ebpmSync(['inspect', objects.runqlat!, '--json']).stdout) as { resultMaps: unknown };
    expect(json.resultMaps).toEqual([{ object: 'runqlat.bpf.o', map: 'hists', kind: 'histogram', reason: 'value struct hist has an integer array `slots`' }]);
  });
});

describeWith(['root', 'btf', 'native', 'libbpf-tools'], 'run: libbpf-tools histograms and tables on the kernel', () => {
  let busy: ChildProcess | undefined;
  beforeAll(() => {
    carve();
    // Scheduler, syscall and block-device activity for the tools to count: a shell writing
    // and syncing a file in a loop.
    const file = join(dir, 'busy');
    // A process group of its own: killing the shell alone would leave its dd writing into `dir`
    // while the directory is removed.
    busy = spawn('sh', ['-c', `while :; do dd if=/dev/zero of=${file} bs=4k count=1 oflag=direct conv=fsync 2>/dev/null; done`], {
      stdio: 'ignore',
      detached: true,
    });
  });
  afterAll(async () => {
    if (busy?.pid === undefined || busy.exitCode !== null || busy.signalCode !== null) return;
    const gone = new Promise((resolve) => busy!.once('exit', resolve));
    process.kill(-busy.pid, 'SIGKILL');
    await gone;
  });

  const run = async (args: string[]) => {
    const r = await ebpm(['run', ...args, '--duration', '1']).exited();
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const TIME = '\\d\\d:\\d\\d:\\d\\d';

  it('runqlat prints its one log2 histogram of run-queue latency in usecs, as the tool draws it', async () => {
    const r = await run([objects.runqlat!]);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${TIME} hists:$`));
    expect(lines[1]).toBe('     usecs               : count    distribution');
    const rows = lines.slice(2, lines.indexOf('', 2));
    expect(lines.slice(2 + rows.length)).toEqual(['', '']);
    expect(rows.length).toBeGreaterThan(0);
    let total = 0;
    let max = 0;
    const parsed = rows.map((row, i) => {
      const m = /^ {0,10}(\d+) -> (\d+) +: (\d+) +\|([* ]{40})\|$/.exec(row);
      expect(m, row).not.toBeNull();
      const [, low, high, count, bar] = m!;
      // Slot i holds [2^i, 2^(i+1) - 1], slot 0 is 0 -> 1.
      expect([Number(low), Number(high)]).toEqual([i === 0 ? 0 : 2 ** i, 2 ** (i + 1) - 1]);
      total += Number(count);
      max = Math.max(max, Number(count));
      return { count: Number(count), stars: bar!.trimEnd().length };
    });
    expect(total).toBeGreaterThan(0);
    for (const p of parsed) expect(p.stars).toBe(Math.floor((p.count * 40) / max));
    expect(r.stderr).toMatch(/^runqlat: 0 events, 0 lost \(stopped: duration\)$/m);
  });

  it('runqlat --json prints the snapshot as one JSON object', async () => {
    const r = await run([objects.runqlat!, '--json']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const snap = JSON.parse(lines[0]!) as { map: string; entries: { key: number; value: { slots: number[]; comm: string } }[] };
    expect(snap.map).toBe('hists');
    expect(snap.entries.map((e) => e.key)).toEqual([4294967295]);
    expect(snap.entries[0]!.value.slots).toHaveLength(26);
    expect(snap.entries[0]!.value.slots.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('runqlat --no-print-map prints nothing on stdout', async () => {
    expect((await run([objects.runqlat!, '--no-print-map'])).stdout).toBe('');
  });

  it('hardirqs (counting, without -d) prints a table of interrupts, the most frequent first', async () => {
    const lines = (await run([objects.hardirqs!])).stdout.split('\n');
    const title = new RegExp(`^${TIME} infos: (\\d+) of (\\d+) entries by count$`).exec(lines[0]!);
    expect(title, lines[0]).not.toBeNull();
    const shown = Number(title![1]);
    expect(shown).toBe(Math.min(10, Number(title![2])));
    expect(shown).toBeGreaterThan(0);
    expect(lines[1]).toMatch(/^NAME +COUNT$/);
    const counts = lines.slice(2, 2 + shown).map((l) => {
      const m = /^(\S+) +(\d+)$/.exec(l);
      expect(m, l).not.toBeNull();
      return Number(m![2]);
    });
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(lines.slice(2 + shown)).toEqual(['', '']);
  });

  it('syscount prints the syscalls seen, by count, at most --top of them', async () => {
    const lines = (await run([objects.syscount!, '--top', '3'])).stdout.split('\n');
    const title = new RegExp(`^${TIME} data: (\\d+) of (\\d+) entries by count$`).exec(lines[0]!);
    expect(title, lines[0]).not.toBeNull();
    const shown = Number(title![1]);
    expect(shown).toBe(Math.min(3, Number(title![2])));
    // Keyed by syscall number (syscall-keys.ts), named after this machine's table.
    expect(lines[1]).toMatch(/^SYSCALL +COUNT +TOTAL_NS +COMM$/);
    const counts = lines.slice(2, 2 + shown).map((l) => {
      const m = /^(\w+) +(\d+) +(\d+)/.exec(l);
      expect(m, l).not.toBeNull();
      return Number(m![2]);
    });
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(lines.slice(2 + shown)).toEqual(['', '']);
  });
});
