// parseObject against the five examples, compiled by the real clang from examples/*/.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { describeType } from '../../src/bpf/layout.js';
import { parseObject, type ObjectSpec } from '../../src/bpf/object.js';
import { EXAMPLES, exampleObject, type Example } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

const specs = {} as Record<Example, ObjectSpec>;
const bytes = {} as Record<Example, Uint8Array>;

const u32 = { kind: 'int', size: 4, signed: false } as const;
const i32 = { kind: 'int', size: 4, signed: true } as const;
const comm = { name: 'comm', offset: 0, layout: { kind: 'string', size: 16 } } as const;

function summary(spec: ObjectSpec) {
  return {
    programs: spec.programs.map((p) => [p.name, p.section, p.type, p.target, p.autoAttach, p.helpers.map((h) => h.name)]),
    maps: spec.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries]),
    globals: spec.globals.map((g) => [g.name, g.section, g.offset, g.type, [...g.defaultValue]]),
  };
}

describeWith(['clang', 'bpftool', 'btf'], 'parseObject on the examples', () => {
  beforeAll(async () => {
    for (const e of EXAMPLES) {
      bytes[e] = await exampleObject(e);
      specs[e] = parseObject(bytes[e]);
    }
  }, 120_000);

  it('reads sigsnoop', () => {
    const s = specs.sigsnoop;
    expect(s.license).toBe('Dual BSD/GPL');
    expect(summary(s)).toEqual({
      programs: [
        [
          'sig_trace',
          'tracepoint/signal/signal_generate',
          'tracepoint',
          'signal/signal_generate',
          true,
          ['bpf_get_current_pid_tgid', 'bpf_get_current_comm', 'bpf_perf_event_output'],
        ],
      ],
      maps: [['events', 'perf_event_array', 4, 4, 0]],
      globals: [
        ['filtered_pid', '.rodata', 0, 'pid_t', [0, 0, 0, 0]],
        ['target_signal', '.rodata', 4, 'int', [0, 0, 0, 0]],
        ['failed_only', '.rodata', 8, 'bool', [0]],
      ],
    });
    expect(s.programs[0]!.helpers.map((h) => h.id)).toEqual([14, 16, 25]);
    expect(s.globals.map((g) => g.layout)).toEqual([
      { ...i32, name: 'pid_t' },
      { ...i32, name: 'int' },
      { kind: 'int', size: 1, signed: false, bool: true, name: 'bool' },
    ]);
    expect(s.globals.every((g) => g.readonly && g.linkage === 'global')).toBe(true);
    expect(s.exports.map((x) => x.map)).toEqual(['events']);
    expect(s.exports[0]!.layout).toEqual({
      kind: 'struct',
      size: 32,
      name: 'event',
      fields: [
        { name: 'pid', offset: 0, layout: { ...u32, name: 'unsigned int' } },
        { name: 'tpid', offset: 4, layout: { ...u32, name: 'unsigned int' } },
        { name: 'sig', offset: 8, layout: { ...i32, name: 'int' } },
        { name: 'ret', offset: 12, layout: { ...i32, name: 'int' } },
        { ...comm, offset: 16 },
      ],
    });
    // The tracepoint context comes from vmlinux.h, whose types carry preserve_access_index.
    expect(s.coreRelocations.map((r) => [r.kind, r.path])).toEqual([
      ['field_byte_offset', 'trace_event_raw_signal_generate.sig'],
      ['field_byte_offset', 'trace_event_raw_signal_generate.errno'],
      ['field_byte_offset', 'trace_event_raw_signal_generate.pid'],
    ]);
    expect(s.kernelTypes).toEqual(['trace_event_raw_signal_generate']);
    expect(s.needsKernelBtf).toBe(true);
  });

  it('reads opensnoop', () => {
    const s = specs.opensnoop;
    expect(s.license).toBe('GPL');
    expect(summary(s)).toEqual({
      programs: [
        [
          'trace_openat_enter',
          'tracepoint/syscalls/sys_enter_openat',
          'tracepoint',
          'syscalls/sys_enter_openat',
          true,
          ['bpf_map_update_elem', 'bpf_get_current_pid_tgid', 'bpf_get_current_uid_gid'],
        ],
        [
          'trace_openat_exit',
          'tracepoint/syscalls/sys_exit_openat',
          'tracepoint',
          'syscalls/sys_exit_openat',
          true,
          [
            'bpf_map_lookup_elem',
            'bpf_map_delete_elem',
            'bpf_ktime_get_ns',
            'bpf_get_current_pid_tgid',
            'bpf_get_current_uid_gid',
            'bpf_get_current_comm',
            'bpf_probe_read_user_str',
            'bpf_ringbuf_reserve',
            'bpf_ringbuf_submit',
          ],
        ],
      ],
      maps: [
        ['start', 'hash', 4, 16, 10240],
        ['events', 'ringbuf', 0, 0, 262144],
      ],
      globals: [
        ['targ_pid', '.rodata', 0, 'pid_t', [0, 0, 0, 0]],
        ['targ_uid', '.rodata', 4, 'uid_t', [0xff, 0xff, 0xff, 0xff]],
        ['targ_failed', '.rodata', 8, 'bool', [0]],
      ],
    });
    const btf = s.btf!;
    const start = s.maps[0]!;
    expect(describeType(btf, start.keyTypeId!)).toEqual({ ...u32, name: 'u32' });
    expect(describeType(btf, start.valueTypeId!)).toEqual({
      kind: 'struct',
      size: 16,
      name: 'args_t',
      fields: [
        { name: 'fname', offset: 0, layout: { kind: 'pointer', size: 8 } },
        { name: 'flags', offset: 8, layout: { ...i32, name: 'int' } },
      ],
    });
    expect(s.maps[1]!.keyTypeId).toBeNull();
    expect(s.exports[0]!.layout).toEqual({
      kind: 'struct',
      size: 296,
      name: 'event',
      fields: [
        { name: 'ts', offset: 0, layout: { kind: 'int', size: 8, signed: false, name: '__u64' } },
        { name: 'pid', offset: 8, layout: { ...i32, name: 'pid_t' } },
        { name: 'uid', offset: 12, layout: { ...u32, name: 'uid_t' } },
        { name: 'ret', offset: 16, layout: { ...i32, name: 'int' } },
        { name: 'flags', offset: 20, layout: { ...i32, name: 'int' } },
        { ...comm, offset: 24 },
        { name: 'fname', offset: 40, layout: { kind: 'string', size: 255 } },
      ],
    });
    expect(s.coreRelocations.map((r) => r.path)).toEqual([
      'trace_event_raw_sys_enter.args[1]',
      'trace_event_raw_sys_enter.args[2]',
      'trace_event_raw_sys_exit.ret',
    ]);
  });

  it('reads execsnoop, with its task_struct CO-RE relocations', () => {
    const s = specs.execsnoop;
    expect(summary(s)).toEqual({
      programs: [
        [
          'tracepoint__syscalls__sys_enter_execve',
          'tracepoint/syscalls/sys_enter_execve',
          'tracepoint',
          'syscalls/sys_enter_execve',
          true,
          [
            'bpf_map_lookup_elem',
            'bpf_map_update_elem',
            'bpf_get_current_pid_tgid',
            'bpf_get_current_uid_gid',
            'bpf_get_current_task',
            'bpf_probe_read_kernel',
            'bpf_probe_read_user_str',
          ],
        ],
        [
          'tracepoint__syscalls__sys_exit_execve',
          'tracepoint/syscalls/sys_exit_execve',
          'tracepoint',
          'syscalls/sys_exit_execve',
          true,
          ['bpf_map_lookup_elem', 'bpf_map_delete_elem', 'bpf_get_current_pid_tgid', 'bpf_get_current_comm', 'bpf_ringbuf_output'],
        ],
      ],
      maps: [
        ['execs', 'hash', 4, 160, 10240],
        ['events', 'ringbuf', 0, 0, 262144],
      ],
      globals: [
        ['targ_uid', '.rodata', 0, 'uid_t', [0xff, 0xff, 0xff, 0xff]],
        ['trace_failed', '.rodata', 4, 'bool', [1]],
        ['empty_event', '.rodata', 8, 'struct event', Array(160).fill(0)],
      ],
    });
    expect(s.globals[2]!.linkage).toBe('static');
    const event = {
      kind: 'struct',
      size: 160,
      name: 'event',
      fields: [
        { name: 'pid', offset: 0, layout: { ...i32, name: 'pid_t' } },
        { name: 'ppid', offset: 4, layout: { ...i32, name: 'pid_t' } },
        { name: 'uid', offset: 8, layout: { ...u32, name: 'uid_t' } },
        { name: 'retval', offset: 12, layout: { ...i32, name: 'int' } },
        { ...comm, offset: 16 },
        { name: 'filename', offset: 32, layout: { kind: 'string', size: 127 } },
      ],
    };
    expect(s.exports[0]!.layout).toEqual(event);
    expect(describeType(s.btf!, s.maps[0]!.valueTypeId!)).toEqual(event);
    expect(s.coreRelocations.map((r) => [r.section, r.kind, r.typeName, r.path])).toEqual([
      ['tracepoint/syscalls/sys_enter_execve', 'field_byte_offset', 'task_struct', 'task_struct.real_parent'],
      ['tracepoint/syscalls/sys_enter_execve', 'field_byte_offset', 'task_struct', 'task_struct.tgid'],
      ['tracepoint/syscalls/sys_enter_execve', 'field_byte_offset', 'trace_event_raw_sys_enter', 'trace_event_raw_sys_enter.args[0]'],
      ['tracepoint/syscalls/sys_exit_execve', 'field_byte_offset', 'trace_event_raw_sys_exit', 'trace_event_raw_sys_exit.ret'],
    ]);
    expect(s.kernelTypes).toEqual(['task_struct', 'trace_event_raw_sys_enter', 'trace_event_raw_sys_exit']);
  });

  it('reads runqlat: tp_btf programs and the struct hist value', () => {
    const s = specs.runqlat;
    expect(summary(s)).toEqual({
      programs: [
        ['sched_wakeup', 'tp_btf/sched_wakeup', 'tracing', 'sched_wakeup', true, ['bpf_map_update_elem', 'bpf_ktime_get_ns', 'bpf_probe_read_kernel']],
        [
          'sched_wakeup_new',
          'tp_btf/sched_wakeup_new',
          'tracing',
          'sched_wakeup_new',
          true,
          ['bpf_map_update_elem', 'bpf_ktime_get_ns', 'bpf_probe_read_kernel'],
        ],
        [
          'sched_switch',
          'tp_btf/sched_switch',
          'tracing',
          'sched_switch',
          true,
          ['bpf_map_lookup_elem', 'bpf_map_update_elem', 'bpf_map_delete_elem', 'bpf_ktime_get_ns', 'bpf_probe_read_kernel', 'bpf_probe_read_kernel_str'],
        ],
      ],
      maps: [
        ['start', 'hash', 4, 8, 10240],
        ['hists', 'hash', 4, 120, 10240],
      ],
      globals: [
        ['targ_per_process', '.rodata', 0, 'bool', [0]],
        ['targ_ms', '.rodata', 1, 'bool', [0]],
        ['targ_tgid', '.rodata', 4, 'pid_t', [0, 0, 0, 0]],
        ['zero', '.bss', 0, 'struct hist', Array(120).fill(0)],
      ],
    });
    expect(s.programs.map((p) => [p.expectedAttachType, p.needsKernelBtf])).toEqual(Array(3).fill(['trace_raw_tp', true]));
    expect(describeType(s.btf!, s.maps[1]!.valueTypeId!)).toEqual({
      kind: 'struct',
      size: 120,
      name: 'hist',
      fields: [
        { name: 'slots', offset: 0, layout: { kind: 'array', size: 104, count: 26, element: { ...u32, name: '__u32' } } },
        { ...comm, offset: 104 },
      ],
    });
    expect(s.exports).toEqual([]);
    expect([...new Set(s.coreRelocations.map((r) => r.path))].sort()).toEqual([
      'task_struct.__state',
      'task_struct.comm',
      'task_struct.pid',
      'task_struct.tgid',
      'task_struct___pre514.state',
    ]);
    expect(s.kernelTypes).toEqual(['task_struct']);
  });

  it('reads bootstrap', () => {
    const s = specs.bootstrap;
    expect(s.license).toBe('Dual BSD/GPL');
    expect(s.programs.map((p) => [p.name, p.section, p.type, p.target])).toEqual([
      ['handle_exec', 'tp/sched/sched_process_exec', 'tracepoint', 'sched/sched_process_exec'],
      ['handle_exit', 'tp/sched/sched_process_exit', 'tracepoint', 'sched/sched_process_exit'],
    ]);
    expect(summary(s).maps).toEqual([
      ['exec_start', 'hash', 4, 8, 8192],
      ['rb', 'ringbuf', 0, 0, 262144],
    ]);
    expect(summary(s).globals).toEqual([['min_duration_ns', '.rodata', 0, 'unsigned long long', [0, 0, 0, 0, 0, 0, 0, 0]]]);
    expect(s.exports.map((x) => x.map)).toEqual(['rb']);
    expect(s.exports[0]!.layout).toEqual({
      kind: 'struct',
      size: 168,
      name: 'event',
      fields: [
        { name: 'pid', offset: 0, layout: { ...i32, name: 'int' } },
        { name: 'ppid', offset: 4, layout: { ...i32, name: 'int' } },
        { name: 'exit_code', offset: 8, layout: { ...u32, name: 'unsigned int' } },
        { name: 'duration_ns', offset: 16, layout: { kind: 'int', size: 8, signed: false, name: 'unsigned long long' } },
        { ...comm, offset: 24 },
        { name: 'filename', offset: 40, layout: { kind: 'string', size: 127 } },
        { name: 'exit_event', offset: 167, layout: { kind: 'int', size: 1, signed: false, bool: true, name: 'bool' } },
      ],
    });
    expect([...new Set(s.coreRelocations.map((r) => r.path))]).toEqual([
      'task_struct.real_parent',
      'task_struct.tgid',
      'trace_event_raw_sched_process_exec.__data_loc_filename',
      'task_struct.exit_code',
    ]);
  });

  it('agrees with llvm-readelf on every program size and with bpftool on the BTF', () => {
    for (const e of EXAMPLES) {
      const file = join(process.env.EBPM_TEST_ROOT!, `${e}.o`);
      writeFileSync(file, bytes[e]);
      const funcs = new Map(
        execFileSync('llvm-readelf', ['-s', '--wide', file], { encoding: 'utf8' })
          .split('\n')
          .map((l) => l.trim().split(/\s+/))
          .filter((f) => f[3] === 'FUNC')
          .map((f) => [f[7]!, Number(f[2]) / 8]),
      );
      expect(specs[e].programs.map((p) => [p.name, p.instructions])).toEqual(specs[e].programs.map((p) => [p.name, funcs.get(p.name)]));
      const bpftool = execFileSync('bpftool', ['btf', 'dump', 'file', file], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.startsWith('['));
      expect(specs[e].btf!.types.length - 1).toBe(bpftool.length);
      for (const line of bpftool) {
        const m = /^\[(\d+)\] (\w+) '([^']*)'/.exec(line)!;
        const t = specs[e].btf!.types[Number(m[1])]!;
        expect([t.kind.toUpperCase(), t.name || '(anon)']).toEqual([m[2], m[3]]);
      }
    }
  });

  it('is deterministic: the same bytes give the same spec', () => {
    for (const e of EXAMPLES) expect(parseObject(bytes[e])).toEqual(specs[e]);
  });
});
