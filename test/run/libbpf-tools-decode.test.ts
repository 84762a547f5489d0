// The BPF objects of Debian's libbpf-tools, carved out of their binaries and run as they are:
// records decoded by the struct their BTF names (`event`, `cap_event`), `--event-type`, records
// whose struct is only a local variable laid out from the instructions, and maps the tools size
// from user space (max_entries 0, stack_trace value size 0) sized before load.
// One file, run in order: the objects' program names are the tools' own.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
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
    const tools = 'execsnoop sigsnoop opensnoop capable offcputime exitsnoop statsnoop mountsnoop tcplife tcpstates runqslower drsnoop';
    for (const tool of tools.split(' ')) objects[tool] = libbpfToolObject(tool, dir);
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

  it('inspect lists the records of eight tools laid out from their instructions, the struct being only a local variable', () => {
    expect(ebpmSync(['inspect', objects.exitsnoop!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of sched_process_exit (56 bytes)',
        '    +0 start_time: u64 (8) from CO-RE task_struct.start_time',
        '    +8 ts: u64 (8) from bpf_ktime_get_ns()',
        '    +16 pid: u32 (4) from bpf_get_current_pid_tgid() >> 32',
        '    +20 tid: u32 (4) from bpf_get_current_pid_tgid(), low 32 bits',
        '    +24 real_parent_tgid: u32 (4) from CO-RE task_struct.real_parent → task_struct.tgid',
        '    +28 exit_code&0xff: u32 (4) from CO-RE task_struct.exit_code & 0xff',
        '    +32 exit_code>>8: u32 (4) from CO-RE task_struct.exit_code >> 8',
        '    +36 comm: char[16] (16) from bpf_get_current_comm()',
        '',
      ].join('\n'),
    );
    expect(ebpmSync(['inspect', objects.opensnoop!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of tracepoint__syscalls__sys_exit_open, tracepoint__syscalls__sys_exit_openat (312 bytes)',
        '    +8 pid: u32 (4) from bpf_get_current_pid_tgid() >> 32',
        '    +12 uid: u32 (4) from bpf_get_current_uid_gid(), low 32 bits',
        '    +16 ret: s32 (4) from tracepoint field ret of tracepoint/syscalls/sys_exit_openat, low 32 bits',
        "    +20 flags: int (4) from member flags of map start's value",
        '    +24 field_24: u64 (8) from a value of unknown origin',
        '    +32 field_32: u64 (8) from a value of unknown origin',
        '    +40 comm: char[16] (16) from bpf_get_current_comm()',
        "    +56 fname: char[255] (255) from string at member fname of map start's value",
        '',
      ].join('\n'),
    );
    expect(ebpmSync(['inspect', objects.statsnoop!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of handle_newfstatat_return, handle_newlstat_return, handle_newstat_return, handle_statfs_return, handle_statx_return (288 bytes)',
        '    +0 ts: u64 (8) from bpf_ktime_get_ns()',
        '    +8 pid: u32 (4) from bpf_get_current_pid_tgid() >> 32',
        '    +12 ret: s32 (4) from tracepoint field ret of tracepoint/syscalls/sys_exit_newlstat, low 32 bits',
        '    +16 comm: char[16] (16) from bpf_get_current_comm()',
        '    +32 field_32: char[255] (255) from a string from an address of unknown origin',
        '',
      ].join('\n'),
    );
    expect(ebpmSync(['inspect', objects.mountsnoop!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of mount_exit, umount_exit (8768 bytes)',
        '    +0 field_0: u64 (8) from a value of unknown origin',
        "    +8 flags: __u64 (8) from member flags of map args's value",
        '    +16 pid: u32 (4) from bpf_get_current_pid_tgid() >> 32',
        '    +20 tid: u32 (4) from bpf_get_current_pid_tgid(), low 32 bits',
        '    +24 nsproxy_mnt_ns_inum: u32 (4) from CO-RE task_struct.nsproxy → nsproxy.mnt_ns → mnt_namespace.ns.inum',
        '    +28 ret: s32 (4) from tracepoint field ret of tracepoint/syscalls/sys_exit_umount, low 32 bits',
        '    +32 comm: char[16] (16) from bpf_get_current_comm()',
        "    +48 fs: char[8] (8) from string at member fs of map args's value",
        "    +56 src: char[4096] (4096) from string at member src of map args's value",
        "    +4152 dest: char[4096] (4096) from string at member dest of map args's value",
        "    +8248 data: char[512] (512) from string at member data of map args's value",
        "    +8760 op: op (4) from member op of map args's value",
        '',
      ].join('\n'),
    );
    expect(ebpmSync(['inspect', objects.tcplife!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of inet_sock_set_state (96 bytes)',
        '    +0 saddr: u32 (4) from CO-RE trace_event_raw_inet_sock_set_state.saddr',
        '    +16 daddr: u32 (4) from CO-RE trace_event_raw_inet_sock_set_state.daddr',
        '    +32 field_32: u64 (8) from a value of unknown origin',
        '    +40 field_40: u64 (8) from a value of unknown origin',
        '    +48 skaddr_bytes_received: u64 (8) from CO-RE trace_event_raw_inet_sock_set_state.skaddr → tcp_sock.bytes_received',
        '    +56 skaddr_bytes_acked: u64 (8) from CO-RE trace_event_raw_inet_sock_set_state.skaddr → tcp_sock.bytes_acked',
        "    +64 pid: __u32 (4) from member pid of map idents's value",
        '    +68 sport: u16 (2) from CO-RE trace_event_raw_inet_sock_set_state.sport',
        '    +70 dport: u16 (2) from CO-RE trace_event_raw_inet_sock_set_state.dport',
        '    +72 family: u16 (2) from CO-RE trace_event_raw_inet_sock_set_state.family',
        '    +74 comm: char[16] (16) from bpf_get_current_comm()',
        '',
      ].join('\n'),
    );
    expect(ebpmSync(['inspect', objects.tcpstates!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of handle_set_state (96 bytes)',
        '    +0 skc_rcv_saddr: opaque (16) from CO-RE sock.__sk_common.skc_rcv_saddr',
        '    +16 field_16: opaque (16) from bytes of unknown origin',
        '    +32 skaddr: u64 (8) from tracepoint field skaddr of tracepoint/sock/inet_sock_set_state',
        '    +40 field_40: u64 (8) from a value of unknown origin',
        '    +48 field_48: u64 (8) from a value of unknown origin',
        '    +56 pid: u32 (4) from bpf_get_current_pid_tgid() >> 32',
        '    +60 oldstate: enum (4) from tracepoint field oldstate of tracepoint/sock/inet_sock_set_state',
        '    +64 newstate: enum (4) from tracepoint field newstate of tracepoint/sock/inet_sock_set_state',
        '    +68 family: enum (2) from tracepoint field family of tracepoint/sock/inet_sock_set_state',
        '    +70 sport: u16 (2) from tracepoint field sport of tracepoint/sock/inet_sock_set_state',
        '    +72 dport: u16 (2) from tracepoint field dport of tracepoint/sock/inet_sock_set_state',
        '    +74 comm: char[16] (16) from bpf_get_current_comm()',
        '',
      ].join('\n'),
    );
    expect(ebpmSync(['inspect', objects.runqslower!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of handle_sched_switch, sched_switch (48 bytes)',
        '    +0 comm: char[16] (16) from string at CO-RE task_struct.comm',
        '    +16 comm_16: char[16] (16) from string at CO-RE task_struct.comm',
        '    +32 field_32: u64 (8) from a value of unknown origin',
        '    +40 pid: u32 (4) from CO-RE task_struct.pid',
        '    +44 pid_44: u32 (4) from CO-RE task_struct.pid',
        '',
      ].join('\n'),
    );
    expect(ebpmSync(['inspect', objects.drsnoop!]).stdout).toContain(
      [
        '  events on events: record inferred from the instructions of direct_reclaim_end (48 bytes)',
        '    +0 comm: char[16] (16) from bpf_get_current_comm()',
        '    +16 field_16: u64 (8) from a value of unknown origin',
        '    +24 field_24: u64 (8) from context offset 0 of tp_btf/mm_vmscan_direct_reclaim_end',
        "    +32 nr_free_pages: u64 (8) from member nr_free_pages of map start's value",
        '    +40 tid: u32 (4) from bpf_get_current_pid_tgid(), low 32 bits',
        '',
      ].join('\n'),
    );
  });

  it('--event-type still chooses a struct of the BTF over the layout inferred from the instructions', () => {
    const r = ebpmSync(['run', objects.opensnoop!, '--verbose', '--max-events', '0', '--event-type', 'args_t']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('  events from events: struct args_t (--event-type, 16 bytes)\n');
  });

  /** Runs `tool`'s object with `--json --verbose` until `activity`'s event is printed; returns it. */
  async function inferredEvent(
    tool: string,
    args: readonly string[],
    activity: () => number,
    match: (e: Record<string, unknown>, pid: number) => boolean,
  ): Promise<{ event: Record<string, unknown>; pid: number; stderr: string }> {
    const run = ebpm(['run', objects[tool]!, '--json', '--verbose', ...args]);
    try {
      await run.waitFor(new RegExp(`${tool} 0\\.0\\.0: attached`));
      const pid = activity();
      const event = await eventWhere(run, (e) => match(e, pid));
      return { event, pid, stderr: run.stderr() };
    } finally {
      run.child.kill('SIGINT');
      expect((await run.exited()).code).toBe(130);
    }
  }

  it("exitsnoop's object prints a child's exit: its pid, parent, exit code and comm", async () => {
    const { event, pid, stderr } = await inferredEvent(
      'exitsnoop',
      [],
      () => spawnSync('/bin/sh', ['-c', 'exit 7']).pid,
      (e, pid) => e.pid === pid,
    );
    expect(stderr).toContain(
      '  events from events: record inferred from the instructions of sched_process_exit (56 bytes)\n    +0 start_time: u64 (8) from CO-RE task_struct.start_time\n',
    );
    expect(event).toEqual({
      start_time: expect.any(Number),
      ts: expect.any(Number),
      pid,
      tid: pid,
      real_parent_tgid: process.pid,
      'exit_code&0xff': 0,
      'exit_code>>8': 7,
      comm: 'sh',
    });
  });

  it("opensnoop's object prints a child's failed open: the file name, -ENOENT, the flags and the comm", async () => {
    const path = join(dir, 'no-such-file');
    const { event, pid } = await inferredEvent(
      'opensnoop',
      [],
      () => spawnSync('/bin/cat', [path]).pid,
      (e, pid) => e.pid === pid && e.fname === path,
    );
    expect(Object.keys(event)).toEqual(['pid', 'uid', 'ret', 'flags', 'field_24', 'field_32', 'comm', 'fname']);
    expect(event).toMatchObject({ pid, uid: 0, ret: -2, flags: 0, comm: 'cat', fname: path });
  });

  it("statsnoop's object prints a child's stat of a missing path, the path as text", async () => {
    const path = join(dir, 'not-there');
    const { event, pid } = await inferredEvent(
      'statsnoop',
      [],
      () => spawnSync('/usr/bin/stat', [path]).pid,
      (e, pid) => e.pid === pid && e.field_32 === path,
    );
    expect(event).toEqual({ ts: expect.any(Number), pid, ret: -2, comm: 'stat', field_32: path });
  });

  it("mountsnoop's object prints a tmpfs mount: source, target, type, the mount namespace and MOUNT", async () => {
    const target = join(dir, 'mnt');
    mkdirSync(target);
    try {
      const { event, pid } = await inferredEvent(
        'mountsnoop',
        [],
        () => spawnSync('/bin/mount', ['-t', 'tmpfs', 'ebpm-test', target]).pid,
        (e, pid) => e.pid === pid,
      );
      expect(event).toEqual({
        field_0: expect.any(Number),
        flags: 0,
        pid,
        tid: pid,
        nsproxy_mnt_ns_inum: statSync('/proc/self/ns/mnt').ino,
        ret: 0,
        comm: 'mount',
        fs: 'tmpfs',
        src: 'ebpm-test',
        dest: target,
        data: '',
        op: 'MOUNT',
      });
    } finally {
      spawnSync('/bin/umount', [target]);
    }
  });

  /** A child node that connects to its own listener on loopback, sends 100 bytes and closes; its port is its output. */
  const connect = () => {
    const script = `const net = require('net');
const s = net.createServer((c) => { c.resume(); c.on('end', () => { c.end(); s.close(); }); });
s.listen(0, '127.0.0.1', () => { const c = net.connect(s.address().port, '127.0.0.1', () => c.end('x'.repeat(100))); c.resume(); console.log(s.address().port); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    return { pid: r.pid, port: Number(r.stdout.trim()) };
  };

  it("tcpstates' object prints the client's SYN_SENT on loopback: family, ports, states by name, and comm", async () => {
    let port = 0;
    const { event, pid } = await inferredEvent(
      'tcpstates',
      [],
      () => {
        const c = connect();
        port = c.port;
        return c.pid;
      },
      (e, pid) => e.pid === pid && e.newstate === 'TCP_SYN_SENT',
    );
    // States and family by the names the tracepoint's own print format gives them
    expect(event).toMatchObject({ pid, oldstate: 'TCP_CLOSE', newstate: 'TCP_SYN_SENT', family: 'AF_INET', sport: 0, dport: port, comm: 'node' });
  });

  it("tcplife's object prints the client's connection when it closes: loopback addresses, ports and comm", async () => {
    let port = 0;
    const { event, pid } = await inferredEvent(
      'tcplife',
      [],
      () => {
        const c = connect();
        port = c.port;
        return c.pid;
      },
      (e, pid) => e.pid === pid && e.dport === port,
    );
    // 127.0.0.1 read as a little-endian u32
    expect(event).toMatchObject({ saddr: 0x0100007f, daddr: 0x0100007f, pid, dport: port, family: 2, comm: 'node' });
  });

  it("runqslower's object prints the scheduling of a child: its comm and pid", async () => {
    const { event, pid } = await inferredEvent(
      'runqslower',
      ['--min-us', '0'],
      () => spawnSync('/bin/sleep', ['0.01']).pid,
      (e, pid) => e.pid === pid && e.comm === 'sleep',
    );
    expect(event).toEqual({ comm: 'sleep', comm_16: expect.any(String), field_32: expect.any(Number), pid, pid_44: expect.any(Number) });
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
