// The BPF objects of Debian's libbpf-tools, carved out of their binaries and run as they are:
// records decoded by the struct their BTF names (`event`, `cap_event`), `--event-type`, and maps
// the tools size from user space (max_entries 0, stack_trace value size 0) sized before load.
// One file, run in order: the objects' program names are the tools' own.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { libbpfToolObject } from '../helpers/libbpf-tools.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, jsonLines, programsOf, tempDir, type Running } from './spawn.js';

let dir = '';
const objects: Record<string, string> = {};

/** Resolves once a JSON line on the run's stdout satisfies `match`, with that line. */
function eventWhere(run: Running, match: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const complete = run.stdout().slice(0, run.stdout().lastIndexOf('\n') + 1);
      const found = jsonLines(complete).find(match);
      if (found) {
        run.child.stdout?.off('data', check);
        resolve(found);
      }
    };
    run.child.stdout?.on('data', check);
    void run.exited().then((r) => reject(new Error(`exited (${r.code}) without the event; stderr: ${r.stderr}`)));
    check();
  });
}

describeWith(['root', 'btf', 'native', 'bpftool', 'libbpf-tools'], 'libbpf-tools objects: events decoded by their BTF, maps sized', () => {
  beforeAll(() => {
    dir = tempDir();
    for (const tool of ['execsnoop', 'sigsnoop', 'opensnoop', 'capable', 'offcputime']) objects[tool] = libbpfToolObject(tool, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('inspect says which struct the events are and that it was found by name', () => {
    const r = ebpmSync(['inspect', objects.execsnoop!]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      [
        '  events on events: struct event (by name, 7720 bytes)',
        '    +0 pid: pid_t (4)',
        '    +4 ppid: pid_t (4)',
        '    +8 uid: uid_t (4)',
        '    +12 retval: int (4)',
        '    +16 args_count: int (4)',
        '    +20 args_size: unsigned int (4)',
        '    +24 comm: char[16] (16)',
        '    +40 args: char[7680] (7680)',
        '',
      ].join('\n'),
    );
    // capable's is `cap_event`, the one `*_event` of its own.
    expect(ebpmSync(['inspect', objects.capable!]).stdout).toContain('  events on events: struct cap_event (by name, 44 bytes)\n');
    const json = JSON.parse(ebpmSync(['inspect', objects.sigsnoop!, '--json']).stdout) as { metadata: { objects: { exports: unknown[] }[] } };
    expect(json.metadata.objects[0]!.exports).toMatchObject([{ map: 'events', inferredBy: 'name', type: { kind: 'struct', name: 'event', size: 32 } }]);
  });

  it("opensnoop's record is a stack variable, absent from its BTF: inspect shows the layout its instructions write", () => {
    expect(ebpmSync(['inspect', objects.opensnoop!]).stdout).toContain(
      '  events on events: record inferred from the instructions of tracepoint__syscalls__sys_exit_open, tracepoint__syscalls__sys_exit_openat (312 bytes)\n',
    );
  });

  it("execsnoop's object prints the exec of /bin/true decoded, its ppid this process", async () => {
    const run = ebpm(['run', objects.execsnoop!, '--json', '--verbose']);
    try {
      await run.waitFor(/execsnoop 0\.0\.0: attached 2 programs/);
      expect(run.stderr()).toContain('  events from events: struct event (by name, 7720 bytes)\n');
      const child = spawnSync('/bin/true');
      expect(child.status).toBe(0);
      const event = await eventWhere(run, (e) => e.pid === child.pid);
      expect(event).toEqual({ pid: child.pid, ppid: process.pid, uid: 0, retval: 0, args_count: 1, args_size: 10, comm: 'true', args: '/bin/true' });
    } finally {
      run.child.kill('SIGINT');
    }
    expect((await run.exited()).code).toBe(130);
  });

  it("sigsnoop's object prints a kill(2) decoded, and --event-type chooses the struct as well", async () => {
    const run = ebpm(['run', objects.sigsnoop!, '--json', '--verbose', '--event-type', 'event']);
    let target: ChildProcess | undefined;
    try {
      await run.waitFor(/sigsnoop 0\.0\.0: attached 7 programs/);
      expect(run.stderr()).toContain('  events from events: struct event (--event-type, 32 bytes)\n');
      target = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
      const kill = spawnSync('/bin/kill', ['-s', 'USR1', String(target.pid)]);
      expect(kill.status).toBe(0);
      const event = await eventWhere(run, (e) => e.pid === kill.pid);
      expect(event).toEqual({ pid: kill.pid, tpid: target.pid, sig: 10, ret: 0, comm: 'kill' });
    } finally {
      target?.kill('SIGKILL');
      run.child.kill('SIGINT');
    }
    expect((await run.exited()).code).toBe(130);
  });

  it('--event-type naming no struct of the object is a usage error listing those it has', () => {
    expect(ebpmSync(['run', objects.execsnoop!, '--event-type', 'nope'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: run: --event-type nope: execsnoop.bpf.o has no struct nope\nhint: its structs: event, ftrace_regs, perf_regs, perf_sample_data, pt_regs\n',
    });
    expect(ebpmSync(['run', objects.offcputime!, '--event-type', 'event'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: run: --event-type event: offcputime has no ring buffer or perf event array\nhint: --event-type chooses the record type of the map whose events are printed\n',
    });
  });

  it('offcputime loads with its stack map and max_entries 0 maps sized, and --map-size applied', async () => {
    const run = ebpm(['run', objects.offcputime!, '--verbose', '--map-size', 'info=4096']);
    try {
      await run.waitFor(/offcputime 0\.0\.0: attached sched_switch \(tp_btf\/sched_switch\)\n/);
      expect(run.stderr()).toContain(
        [
          '  map stackmap: sized max_entries 1024, value size 1016 (default: the object leaves it to user space)',
          '  map info: sized max_entries 4096 (--map-size)',
          '',
        ].join('\n'),
      );
      const progs = programsOf(run.child.pid!);
      expect(progs).toHaveLength(1);
      const prog = JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(progs[0]), '-j'], { encoding: 'utf8' })) as {
        name: string;
        map_ids: number[];
      };
      expect(prog.name).toBe('sched_switch');
      const maps = prog.map_ids.map(
        (id) => JSON.parse(execFileSync('bpftool', ['map', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })) as Record<string, unknown>,
      );
      const sizes = Object.fromEntries(maps.filter((m) => m.type !== 'array').map((m) => [m.name, [m.type, m.bytes_value, m.max_entries]]));
      expect(sizes).toEqual({ start: ['hash', 24, 10240], stackmap: ['stack_trace', 1016, 1024], info: ['hash', 24, 4096] });
    } finally {
      run.child.kill('SIGINT');
    }
    const r = await run.exited();
    expect(r.code).toBe(130);
    expect(r.stderr).not.toContain('is not supported by this kernel');
  });

  it('--map-size naming no map of the object is a usage error listing its maps', () => {
    expect(ebpmSync(['run', objects.offcputime!, '--map-size', 'stacks=10'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: run: --map-size stacks: offcputime has no map stacks\nhint: its maps: info, stackmap, start\n',
    });
  });
});
