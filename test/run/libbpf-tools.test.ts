// The BPF objects of Debian's libbpf-tools, run as ebpm runs what others built: one program of
// each alternative attached (tp_btf or raw_tp), the user's --program/--skip-program, what inspect
// says, and each refusal with its true cause (no kprobes, fentry, a uprobe without a binary, a
// kind of program ebpm does not attach).
import { rmSync } from 'node:fs';
import { release } from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hasKprobes } from '../../src/kernel/features.js';
import { libbpfToolObject } from '../helpers/libbpf-tools.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpmSync, tempDir } from './spawn.js';

const TOOLS = ['runqlat', 'hardirqs', 'softirqs', 'biolatency', 'tcpconnect', 'vfsstat', 'filetop', 'bashreadline', 'llcstat', 'javagc', 'mdflush'];
let dir = '';
const objects: Record<string, string> = {};

/** The attach summary line of a run (stderr also ends with the count, and maybe more). */
function attached(stderr: string): string | undefined {
  return stderr.split('\n').find((l) => / attached /.test(l));
}

/** The refusal of kernel functions that only kprobes reach, on a kernel without kprobes. */
const kprobes = (...fns: string[]) => `${fns.map((f) => `kernel function ${f}`).join(', ')}: ${NO_KPROBES}`;
const NO_KPROBES =
  'this kernel has no kprobe support (neither the kprobe PMU nor legacy kprobe_events)\n' +
  'hint: kprobes need a kernel built with CONFIG_KPROBES and CONFIG_KPROBE_EVENTS (/sys/bus/event_source/devices/kprobe, or kprobe_events in tracefs); use a tracepoint, or run on such a kernel\n';

describeWith(['root', 'btf', 'native', 'libbpf-tools'], 'libbpf-tools objects under ebpm run', () => {
  beforeAll(() => {
    dir = tempDir();
    for (const t of TOOLS) objects[t] = libbpfToolObject(t, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('attaches one program of each tp_btf/raw_tp pair: the tp_btf one, where kernel BTF has the tracepoint', () => {
    const runs = Object.fromEntries(['runqlat', 'hardirqs', 'softirqs', 'biolatency'].map((t) => [t, ebpmSync(['run', objects[t]!, '--max-events', '0'])]));
    expect(Object.values(runs).map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(Object.fromEntries(Object.entries(runs).map(([t, r]) => [t, attached(r.stderr)]))).toEqual({
      runqlat:
        'runqlat 0.0.0: attached 3 programs: sched_wakeup (tp_btf/sched_wakeup), sched_wakeup_new (tp_btf/sched_wakeup_new), sched_switch (tp_btf/sched_switch)',
      hardirqs: 'hardirqs 0.0.0: attached 2 programs: irq_handler_entry_btf (tp_btf/irq_handler_entry), irq_handler_exit_btf (tp_btf/irq_handler_exit)',
      softirqs: 'softirqs 0.0.0: attached 2 programs: softirq_entry_btf (tp_btf/softirq_entry), softirq_exit_btf (tp_btf/softirq_exit)',
      biolatency:
        'biolatency 0.0.0: attached 3 programs: block_rq_insert_btf (tp_btf/block_rq_insert), block_rq_issue_btf (tp_btf/block_rq_issue), block_rq_complete_btf (tp_btf/block_rq_complete)',
    });
  });

  it('runs exactly the programs --program names, and the other alternative of those --skip-program leaves out', () => {
    const raw = ebpmSync([
      'run',
      objects.runqlat!,
      '--program',
      'handle_sched_wakeup',
      '--program=handle_sched_wakeup_new',
      '--program',
      'handle_sched_switch',
      '--max-events',
      '0',
    ]);
    expect([raw.code, attached(raw.stderr)]).toEqual([
      0,
      'runqlat 0.0.0: attached 3 programs: handle_sched_wakeup (raw_tp/sched_wakeup), handle_sched_wakeup_new (raw_tp/sched_wakeup_new), handle_sched_switch (raw_tp/sched_switch)',
    ]);
    const skip = ebpmSync(['run', objects.hardirqs!, '--skip-program', 'irq_handler_exit_btf', '--max-events', '0']);
    expect([skip.code, attached(skip.stderr)]).toEqual([
      0,
      'hardirqs 0.0.0: attached 2 programs: irq_handler_entry_btf (tp_btf/irq_handler_entry), irq_handler_exit (raw_tp/irq_handler_exit)',
    ]);
    expect(ebpmSync(['run', objects.runqlat!, '--program', 'nope'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: run: --program nope: runqlat has no program nope\n' +
        'hint: the programs of runqlat: sched_wakeup, sched_wakeup_new, sched_switch, handle_sched_wakeup, handle_sched_wakeup_new, handle_sched_switch\n',
    });
  });

  it('inspect shows each group and the option this kernel would run', () => {
    const r = ebpmSync(['inspect', objects.softirqs!]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.indexOf('  alternatives (run loads one of each; the one this kernel supports first):');
    expect(lines.slice(at + 1, at + 3)).toEqual([
      '    tracepoint softirq_entry: tp_btf (softirq_entry_btf), not raw_tp (softirq_entry)',
      '    tracepoint softirq_exit: tp_btf (softirq_exit_btf), not raw_tp (softirq_exit)',
    ]);
    const json = JSON.parse(ebpmSync(['inspect', objects.softirqs!, '--json']).stdout) as { alternatives: unknown };
    expect(json.alternatives).toEqual(
      ['softirq_entry', 'softirq_exit'].map((name) => ({
        object: 'softirqs.bpf.o',
        kind: 'tracepoint',
        name,
        options: [
          { mechanism: 'tp_btf', programs: [`${name}_btf`] },
          { mechanism: 'raw_tp', programs: [name] },
        ],
        chosen: 'tp_btf',
        passedOver: [],
      })),
    );
  });

  it('says a kernel without kprobes has none, not that the function is missing (it is in /proc/kallsyms)', () => {
    const runs = ['tcpconnect', 'vfsstat', 'filetop'].map((t) => ebpmSync(['run', objects[t]!, '--max-events', '0']));
    if (hasKprobes()) {
      expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
      return;
    }
    expect(runs).toEqual([
      {
        code: 4,
        stdout: '',
        stderr: `error: run tcpconnect: cannot run on Linux ${release()}: ${kprobes('tcp_v4_connect (kprobe)', 'tcp_v4_connect (kretprobe)', 'tcp_v6_connect (kprobe)', 'tcp_v6_connect (kretprobe)')}`,
      },
      // fentry (preferred) is not supported here either, so its kprobe alternatives are what is missing.
      {
        code: 4,
        stdout: '',
        stderr: `error: run vfsstat: cannot run on Linux ${release()}: ${kprobes('vfs_read (kprobe)', 'vfs_write (kprobe)', 'vfs_fsync (kprobe)', 'vfs_open (kprobe)', 'vfs_create (kprobe)')}`,
      },
      { code: 4, stdout: '', stderr: `error: run filetop: cannot run on Linux ${release()}: ${kprobes('vfs_read (kprobe)', 'vfs_write (kprobe)')}` },
    ]);
  });

  it("names a fentry target missing from the kernel's BTF", () => {
    expect(ebpmSync(['run', objects.mdflush!, '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr:
        `error: run mdflush: cannot run on Linux ${release()}: kernel function md_flush_request (fentry): function md_flush_request is not in the kernel's BTF, so fentry cannot attach\n` +
        'hint: this kernel does not have md_flush_request (a module not loaded, or inlined or renamed here); `bpftool btf dump file /sys/kernel/btf/vmlinux | grep "\'md_flush_request\'"` looks for it\n',
    });
  });

  it('gives a uretprobe without a binary the --attach form run --help documents, and names a symbol the binary lacks', () => {
    expect(ebpmSync(['run', objects.bashreadline!, '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr:
        'error: run bashreadline: attach printret: section uretprobe/readline needs a target: --attach printret=BINARY:SYMBOL[+OFFSET] or BINARY:OFFSET\n' +
        'hint: for example --attach printret=/usr/bin/bash:readline (ebpm run --help lists the forms)\n',
    });
    expect(ebpmSync(['run', '--help']).stdout).toContain('\n  uprobe, uretprobe    BINARY:SYMBOL[+OFFSET] or BINARY:OFFSET   /usr/bin/bash:readline\n');
    const ok = ebpmSync(['run', objects.bashreadline!, '--attach', 'printret=/usr/bin/bash:readline', '--max-events', '0']);
    expect([ok.code, attached(ok.stderr)]).toEqual([0, 'bashreadline 0.0.0: attached printret (uretprobe/readline on /usr/bin/bash:readline)']);
    expect(ebpmSync(['run', objects.bashreadline!, '--attach', 'printret=/usr/bin/bash:no_such_symbol', '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr:
        'error: run bashreadline: attach printret: symbol no_such_symbol is not in /usr/bin/bash\n' +
        'hint: `nm -D /usr/bin/bash` lists the symbols it exports; a symbol of a shared library is attached in the library (its path), not in the program\n',
    });
  });

  it('refuses perf_event and usdt programs the same way with and without --attach', () => {
    const hint = (p: string, s: string) =>
      `hint: ${p} (${s}) is attached by the tool it came with; ebpm attaches programs by their section or with --attach (ebpm run --help lists the forms)\n`;
    expect(ebpmSync(['run', objects.llcstat!, '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr: `error: run llcstat: attach on_cache_miss: ebpm does not attach perf_event programs yet\n${hint('on_cache_miss', 'perf_event')}`,
    });
    expect(ebpmSync(['run', objects.llcstat!, '--attach', 'on_cache_miss=cycles', '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr: `error: run: --attach on_cache_miss=cycles: ebpm does not attach perf_event programs yet\n${hint('on_cache_miss', 'perf_event')}`,
    });
    expect(ebpmSync(['run', objects.javagc!, '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr: `error: run javagc: attach handle_gc_start: ebpm does not attach usdt programs yet\n${hint('handle_gc_start', 'usdt')}`,
    });
  });
});
