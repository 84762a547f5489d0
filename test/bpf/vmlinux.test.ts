// The running kernel's BTF (/sys/kernel/btf/vmlinux, 100k+ types, ENUM64 and DECL_TAG included
// on 6.x kernels) read by parseBtf and checked line by line against bpftool's dump.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { enumsWithMember, findType, parseBtf, type Btf } from '../../src/bpf/btf.js';
import { describeType } from '../../src/bpf/layout.js';
import { describeWith } from '../helpers/prereq.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

describeWith(['btf', 'bpftool'], 'parseBtf on the kernel BTF', () => {
  let btf: Btf;
  let dump: string[];

  beforeAll(() => {
    btf = parseBtf(new Uint8Array(readFileSync(VMLINUX)));
    dump = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX], { encoding: 'utf8', maxBuffer: 1 << 30 }).split('\n');
  });

  it('parses every type as bpftool does', () => {
    const heads = dump.filter((l) => l.startsWith('['));
    expect(btf.types.length - 1).toBe(heads.length);
    for (const line of heads) {
      const [, id, kind, name] = /^\[(\d+)\] (\w+) '([^']*)'/.exec(line)!;
      const t = btf.types[Number(id)]!;
      if (t.kind.toUpperCase() !== kind || (t.name || '(anon)') !== name) expect([t.id, t.kind, t.name]).toEqual([Number(id), kind, name]);
    }
  });

  it('reads ENUM64 values exactly', () => {
    const enums = btf.types.filter((t) => t.kind === 'enum64');
    expect(enums.length).toBeGreaterThan(0);
    for (const e of enums) {
      const at = dump.findIndex((l) => l.startsWith(`[${e.id}] `));
      const values = dump.slice(at + 1, at + 1 + e.values.length).map((l) => {
        const [, name, val] = /^\t'(\w+)' val=(-?\d+)U?LL$/.exec(l)!;
        return { name, value: BigInt(val!) };
      });
      expect(e.values).toEqual(values);
    }
  });

  it('lays out task_struct at the size the kernel declares', () => {
    const task = findType(btf, 'struct', 'task_struct')!;
    const declared = new RegExp(`^\\[${task.id}\\] STRUCT 'task_struct' size=(\\d+) vlen=(\\d+)$`).exec(dump.find((l) => l.startsWith(`[${task.id}] `))!)!;
    const layout = describeType(btf, task.id);
    expect(layout.size).toBe(Number(declared[1]));
    expect(layout.kind === 'struct' && layout.fields.find((f) => f.name === 'pid')).toEqual({
      name: 'pid',
      offset: expect.any(Number),
      layout: { kind: 'int', size: 4, signed: true, name: 'pid_t' },
    });
    expect(layout.kind === 'struct' && layout.fields.find((f) => f.name === 'comm')).toEqual({
      name: 'comm',
      offset: expect.any(Number),
      layout: { kind: 'string', size: 16 },
    });
  });

  it('enumsWithMember finds the enums parseBtf finds with that member, without decoding the rest', () => {
    const bytes = new Uint8Array(readFileSync(VMLINUX));
    const parsed = (member: string) =>
      btf.types.flatMap((t) =>
        t.kind === 'enum' && t.values.some((v) => v.name === member) ? [t.values.map((v) => ({ name: v.name, value: Number(v.value) }))] : [],
      );
    for (const member of ['NR_SOFTIRQS', 'TASK_COMM_LEN', 'BPF_MAP_TYPE_HASH']) expect(enumsWithMember(bytes, member)).toEqual(parsed(member));
    expect(enumsWithMember(bytes, 'NR_SOFTIRQS')[0]!.map((v) => v.name)).toEqual([
      'HI_SOFTIRQ',
      'TIMER_SOFTIRQ',
      'NET_TX_SOFTIRQ',
      'NET_RX_SOFTIRQ',
      'BLOCK_SOFTIRQ',
      'IRQ_POLL_SOFTIRQ',
      'TASKLET_SOFTIRQ',
      'SCHED_SOFTIRQ',
      'HRTIMER_SOFTIRQ',
      'RCU_SOFTIRQ',
      'NR_SOFTIRQS',
    ]);
    expect(enumsWithMember(bytes, 'NO_SUCH_ENUM_MEMBER_EBPM')).toEqual([]);
  });
});
