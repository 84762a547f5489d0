import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { coreRoots, minimalBtf, READ } from '../../src/bpf/btf-min.js';
import { parseBtf, type BtfType } from '../../src/bpf/btf.js';
import { parseObject } from '../../src/bpf/object.js';
import { exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { BtfBuilder, KIND } from './build.js';

/** One line per type: id, kind, name and what libbpf reads of it. */
function dump(bytes: Uint8Array): string[] {
  const { types } = parseBtf(bytes);
  const line = (t: BtfType): string => {
    const head = `[${t.id}] ${t.kind} '${t.name}'`;
    switch (t.kind) {
      case 'int':
        return `${head} size=${t.size}${t.signed ? ' signed' : ''}`;
      case 'struct':
      case 'union':
        return `${head} size=${t.size} ${t.members.map((m) => `${m.name}:${m.type}@${m.bitOffset}`).join(' ')}`.trimEnd();
      case 'array':
        return `${head} of=${t.type} index=${t.indexType} n=${t.nelems}`;
      case 'enum':
        return `${head} ${t.values.map((v) => `${v.name}=${v.value}`).join(' ')}`;
      case 'func_proto':
        return `${head} ret=${t.returnType} ${t.params.map((p) => `${p.name}:${p.type}`).join(' ')}`;
      case 'void':
        return head;
      default:
        return 'type' in t ? `${head} -> ${t.type}` : head;
    }
  };
  return types.slice(1).map(line);
}

/** A small kernel: a task with an embedded typedef'd struct, a pointer, an array; a flavour, a func and an enum of the same names. */
function kernel(): Uint8Array {
  const b = new BtfBuilder();
  b.int('int', 4, 1); // 1
  b.int('long unsigned int', 8); // 2
  b.struct('mm', 8, [['x', 1, 0]]); // 3
  b.type('', KIND.ptr, 0, 3); // 4
  b.struct('inner', 8, [
    ['a', 1, 0],
    ['b', 1, 32],
  ]); // 5
  b.type('inner_t', KIND.typedef, 0, 5); // 6
  b.type('', KIND.array, 0, 0, [1, 1, 4]); // 7
  b.struct('task', 40, [
    ['pid', 1, 0],
    ['in', 6, 32],
    ['mm', 4, 128],
    ['cpus', 7, 192],
  ]); // 8
  b.struct('task___2', 4, [['pid', 1, 0]]); // 9
  b.type('', KIND.func_proto, 1, 1, [b.str('p'), 4]); // 10
  b.type('task', KIND.func, 0, 10); // 11
  b.type('mode', KIND.enum, 2, 4, [b.str('OFF'), 0, b.str('ON'), 1]); // 12
  b.struct('unrelated', 4, [['y', 1, 0]]); // 13
  b.int('long', 8, 1); // 14: not the first long
  b.struct('xtask', 4, [['z', 1, 0]]); // 15: a name that only ends like one
  return b.bytes();
}

describe('minimalBtf', () => {
  it('keeps every type named as a field root, its embedded types, pointers as void pointers, and the first long', () => {
    const r = minimalBtf(kernel(), new Map([['task', READ.fields]]));
    if (!('btf' in r)) throw new Error(r.refused);
    expect(dump(r.btf)).toEqual([
      "[1] int 'int' size=4 signed",
      "[2] int 'long unsigned int' size=8",
      "[3] struct 'mm' size=8",
      "[4] ptr '' -> 3",
      "[5] struct 'inner' size=8 a:1@0 b:1@32",
      "[6] typedef 'inner_t' -> 5",
      "[7] array '' of=1 index=1 n=4",
      "[8] struct 'task' size=40 pid:1@0 in:6@32 mm:4@128 cpus:7@192",
      "[9] struct 'task___2' size=4 pid:1@0",
      "[10] func_proto '' ret=1 p:4",
      "[11] func 'task' -> 10",
    ]);
  });

  it('makes a pointer reached only through fields a pointer to void', () => {
    const b = new BtfBuilder();
    b.int('int', 4); // 1
    b.struct('mm', 8, [['x', 1, 0]]); // 2
    b.type('', KIND.ptr, 0, 2); // 3
    b.struct('task', 8, [['mm', 3, 0]]); // 4
    const r = minimalBtf(b.bytes(), new Map([['task', READ.fields]]));
    if (!('btf' in r)) throw new Error(r.refused);
    expect(dump(r.btf)).toEqual(["[1] ptr '' -> 0", "[2] struct 'task' size=8 mm:1@0"]);
  });

  it('keeps composites as stubs for type_exists and type_size, with what pointers lead to', () => {
    const b = new BtfBuilder();
    b.int('int', 4); // 1
    b.struct('mm', 8, [['x', 1, 0]]); // 2
    b.type('', KIND.ptr, 0, 2); // 3
    b.type('mm_ptr', KIND.typedef, 0, 3); // 4
    b.struct('task', 8, [['mm', 3, 0]]); // 5
    const r = minimalBtf(
      b.bytes(),
      new Map([
        ['mm_ptr', READ.stub],
        ['task', READ.stub],
      ]),
    );
    if (!('btf' in r)) throw new Error(r.refused);
    expect(dump(r.btf)).toEqual(["[1] struct 'mm' size=8", "[2] ptr '' -> 1", "[3] typedef 'mm_ptr' -> 2", "[4] struct 'task' size=8"]);
  });

  it('keeps members for type_matches, and what they point to as stubs', () => {
    const b = new BtfBuilder();
    b.int('int', 4); // 1
    b.struct('mm', 8, [['x', 1, 0]]); // 2
    b.type('', KIND.ptr, 0, 2); // 3
    b.struct('task', 12, [
      ['mm', 3, 0],
      ['pid', 1, 64],
    ]); // 4
    const r = minimalBtf(b.bytes(), new Map([['task', READ.match]]));
    if (!('btf' in r)) throw new Error(r.refused);
    expect(dump(r.btf)).toEqual(["[1] int 'int' size=4", "[2] struct 'mm' size=8", "[3] ptr '' -> 2", "[4] struct 'task' size=12 mm:3@0 pid:1@64"]);
  });

  it('keeps an enum with its values for enumerator relocations', () => {
    const r = minimalBtf(kernel(), new Map([['mode', READ.fields]]));
    if (!('btf' in r)) throw new Error(r.refused);
    expect(dump(r.btf)).toEqual(["[1] int 'long unsigned int' size=8", "[2] enum 'mode' OFF=0 ON=1"]);
  });

  it('refuses a root the kernel does not have, naming it (libbpf would look in module BTF)', () => {
    expect(
      minimalBtf(
        kernel(),
        new Map([
          ['task', READ.fields],
          ['nf_conn', READ.fields],
        ]),
      ),
    ).toEqual({
      refused: "not in the kernel's vmlinux BTF (libbpf would look in modules): nf_conn",
    });
  });

  it('rejects a kernel BTF whose types point past its table', () => {
    const b = new BtfBuilder();
    b.int('int', 4); // 1
    b.struct('task', 8, [['p', 9, 0]]); // 2: a member of no type
    expect(() => minimalBtf(b.bytes(), new Map([['task', READ.fields]]))).toThrowWithCode('BTF_MALFORMED', 'kernel btf: reference to type [9] of 2');
  });
});

describeWith(['clang'], 'coreRoots', () => {
  it("reads the roots of sigsnoop's relocations by their essential names", async () => {
    expect(coreRoots(parseObject(await exampleObject('sigsnoop')))).toEqual(new Map([['trace_event_raw_signal_generate', READ.fields]]));
  });

  it('refuses an object with a program attached through kernel BTF', async () => {
    expect(coreRoots(parseObject(await exampleObject('runqlat')))).toEqual({
      refused: "program sched_wakeup (tp_btf/sched_wakeup) makes libbpf read the kernel's BTF",
    });
  });

  it('refuses type_id_target relocations, whose result is an id in the BTF libbpf read', async () => {
    const spec = parseObject(await exampleObject('sigsnoop'));
    const r = spec.coreRelocations[0]!;
    expect(coreRoots({ ...spec, coreRelocations: [...spec.coreRelocations, { ...r, kind: 'type_id_target', insn: 7 }] })).toEqual({
      refused: `${r.section}+7: type_id_target relocation`,
    });
  });

  it('refuses an object without relocations against the kernel', async () => {
    const spec = parseObject(await exampleObject('sigsnoop'));
    expect(coreRoots({ ...spec, coreRelocations: [] })).toEqual({ refused: 'no CO-RE relocations against kernel types' });
  });
});

describeWith(['btf', 'clang'], "minimalBtf of this machine's kernel", () => {
  const vmlinux = () => new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'));

  it("keeps sigsnoop's tracepoint record as the kernel has it, and nothing it does not embed", async () => {
    const roots = coreRoots(parseObject(await exampleObject('sigsnoop')));
    if ('refused' in roots) throw new Error(roots.refused);
    const r = minimalBtf(vmlinux(), roots);
    if (!('btf' in r)) throw new Error(r.refused);
    const min = parseBtf(r.btf).types;
    const full = parseBtf(vmlinux()).types;
    const named = (types: readonly BtfType[], name: string) => types.filter((t) => t.name === name);
    const shape = (types: readonly BtfType[], t: BtfType) =>
      t.kind === 'struct' ? t.members.map((m) => `${m.name}:${types[m.type]!.kind} ${types[m.type]!.name}@${m.bitOffset}`) : [];
    const [kept] = named(min, 'trace_event_raw_signal_generate');
    const [original] = named(full, 'trace_event_raw_signal_generate');
    expect(kept!.kind).toBe('struct');
    expect(shape(min, kept!)).toEqual(shape(full, original!));
    // Candidates by name, the first `long` of determine_ptr_size, and what the record embeds.
    expect(min.filter((t) => t.kind === 'struct').map((t) => t.name)).toEqual(['trace_entry', 'trace_event_raw_signal_generate']);
    expect(min.filter((t) => t.kind === 'ptr')).toEqual([]);
  });

  it('refuses a type only a module has', () => {
    expect(minimalBtf(vmlinux(), new Map([['no_such_kernel_type', READ.fields]]))).toEqual({
      refused: "not in the kernel's vmlinux BTF (libbpf would look in modules): no_such_kernel_type",
    });
  });
});
