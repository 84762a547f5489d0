// Record layouts inferred from instructions (record-fields.ts, record-layout.ts), on an object
// the real clang builds from test/bpf/fixtures/records.bpf.c: its records are local variables
// and ring buffer reservations, so BTF has none of their structs.
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { parseObject, type ObjectSpec } from '../../src/bpf/object.js';
import { inferRecordLayout, type TracepointField } from '../../src/bpf/record-layout.js';
import { parseTracepointFormat } from '../../src/kernel/tracepoint-format.js';
import { cachedObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

let spec: ObjectSpec;

/** sys_exit_open(at)'s format, as tracefs writes it: `ret` at offset 16. */
const EXIT_FORMAT = `name: sys_exit_openat
ID: 781
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;

print fmt: "0x%lx", REC->ret
`;
const exitFields = parseTracepointFormat(EXIT_FORMAT);
const tracepoints: TracepointField = (section, offset) => (section.startsWith('tracepoint/syscalls/sys_exit_open') ? exitFields.get(offset) : undefined);

const facts = (map: string) => spec.recordFacts.find((r) => r.map === map)!;
const u = (size: number) => ({ kind: 'int', size, signed: false, name: `u${size * 8}` });

describeWith(['clang', 'bpftool', 'btf'], 'record layouts inferred from instructions', () => {
  beforeAll(async () => {
    spec = parseObject(await cachedObject(join(import.meta.dirname, 'fixtures', 'records.bpf.c'), 'records.bpf.o'));
  });

  it('reads the value names a format prints with __print_symbolic', () => {
    const format = `format:
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;

print fmt: "family=%s newstate=%s", __print_symbolic(REC->family, { 2, "AF_INET" }, { 10, "AF_INET6" }), __print_symbolic(REC->newstate, { 1, "TCP_ESTABLISHED" }, { 2, "TCP_SYN_SENT" })
`;
    expect([...parseTracepointFormat(format)]).toEqual([
      [4, { name: 'common_pid', signed: true }],
      [
        20,
        {
          name: 'newstate',
          signed: true,
          values: [
            { name: 'TCP_ESTABLISHED', value: 1 },
            { name: 'TCP_SYN_SENT', value: 2 },
          ],
        },
      ],
      [
        28,
        {
          name: 'family',
          signed: false,
          values: [
            { name: 'AF_INET', value: 2 },
            { name: 'AF_INET6', value: 10 },
          ],
        },
      ],
    ]);
  });

  it('reads a format file into field names and signedness by offset', () => {
    expect([...exitFields]).toEqual([
      [0, { name: 'common_type', signed: false }],
      [4, { name: 'common_pid', signed: true }],
      [8, { name: '__syscall_nr', signed: true }],
      [16, { name: 'ret', signed: true }],
    ]);
  });

  it('finds the records of each map, with the programs that send them', () => {
    expect(spec.recordFacts.map((r) => [r.map, r.size, r.programs])).toEqual([
      ['events', 112, ['exit_open', 'exit_openat']],
      ['ring', 28, ['exit_task']],
      ['sparse', 64, ['enter_close']],
    ]);
  });

  it('names a stack record sent by two programs from helpers, the context, and a map value struct', () => {
    expect(inferRecordLayout(facts('events'), tracepoints)).toEqual({
      programs: ['exit_open', 'exit_openat'],
      origins: [
        'bpf_ktime_get_ns()',
        'bpf_get_current_pid_tgid() >> 32',
        'bpf_get_current_pid_tgid(), low 32 bits',
        'bpf_get_current_uid_gid(), low 32 bits',
        'tracepoint field ret of tracepoint/syscalls/sys_exit_open, low 32 bits',
        "member flags of map start's value",
        'bpf_get_current_comm()',
        "string at member fname of map start's value",
      ],
      layout: {
        kind: 'struct',
        size: 112,
        fields: [
          { name: 'ts', offset: 0, layout: u(8) },
          { name: 'pid', offset: 8, layout: u(4) },
          { name: 'tid', offset: 12, layout: u(4) },
          { name: 'uid', offset: 16, layout: u(4) },
          { name: 'ret', offset: 20, layout: { kind: 'int', size: 4, signed: true, name: 's32' } },
          // args_t.flags, copied from the `start` map's value with its BTF type
          { name: 'flags', offset: 24, layout: { kind: 'int', size: 4, signed: true, name: 'int' } },
          { name: 'comm', offset: 28, layout: { kind: 'string', size: 16 } },
          // read as a string through the pointer args_t.fname
          { name: 'fname', offset: 44, layout: { kind: 'string', size: 64 } },
        ],
      },
    });
  });

  it('leaves a context field unnamed when no format names it', () => {
    const fields = inferRecordLayout(facts('events'), () => undefined)!.layout.fields;
    expect(fields.find((f) => f.offset === 20)).toEqual({ name: 'field_20', offset: 20, layout: u(4) });
  });

  it('names a ring buffer reservation from CO-RE fields, keeping what was derived from them', () => {
    expect(inferRecordLayout(facts('ring'), tracepoints)).toEqual({
      programs: ['exit_task'],
      origins: [
        'CO-RE task_struct.exit_code >> 8',
        'CO-RE task_struct.real_parent → task_struct.tgid',
        'bpf_get_smp_processor_id(), low 32 bits',
        'string at CO-RE task_struct.comm',
      ],
      layout: {
        kind: 'struct',
        size: 28,
        fields: [
          { name: 'exit_code>>8', offset: 0, layout: u(4) },
          { name: 'real_parent_tgid', offset: 4, layout: u(4) },
          { name: 'cpu', offset: 8, layout: u(4) },
          { name: 'comm', offset: 12, layout: { kind: 'string', size: 16 } },
        ],
      },
    });
  });

  it('gives no layout when the writes cover less than half of the record', () => {
    expect(facts('sparse').fields).toEqual([{ offset: 0, size: 4, source: { kind: 'helper', helper: 'pid_tgid', op: 'hi32' } }]);
    expect(inferRecordLayout(facts('sparse'), tracepoints)).toBeUndefined();
  });
});
