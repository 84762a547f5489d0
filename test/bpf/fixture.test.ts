// BTF kinds and object features the examples lack, from test/bpf/fixtures/kinds.bpf.c compiled
// by the real clang: floats, decl/type tags, unions, bitfields, nested structs and arrays of
// them, enums, .data/.rodata.cfg/.bss globals, a legacy map, subprograms and kfuncs.
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { findType, typeName, type Btf } from '../../src/bpf/btf.js';
import { describeType } from '../../src/bpf/layout.js';
import { parseObject, type ObjectSpec } from '../../src/bpf/object.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { describeWith } from '../helpers/prereq.js';

let spec: ObjectSpec;
let btf: Btf;

const short = { kind: 'int', size: 2, signed: true, name: 'short' } as const;
const point = {
  kind: 'struct',
  size: 4,
  name: 'kt_point',
  fields: [
    { name: 'x', offset: 0, layout: short },
    { name: 'y', offset: 2, layout: short },
  ],
};

describeWith(['clang', 'bpftool', 'btf'], 'parseObject on the BTF-kinds fixture', () => {
  beforeAll(async () => {
    const source = new URL('fixtures/kinds.bpf.c', import.meta.url).pathname;
    const bytes = await compileBpf(source, join(process.env.EBPM_TEST_ROOT!, 'kinds.bpf.o'), { env: process.env });
    spec = parseObject(bytes);
    btf = spec.btf!;
  }, 120_000);

  it('lists programs with subprogram helpers, kfuncs and section kinds', () => {
    expect(spec.programs.map((p) => [p.name, p.section, p.type, p.target, p.autoAttach, p.helpers.map((h) => h.name), p.kfuncs, p.subprograms])).toEqual([
      [
        'probe_unlink',
        'kprobe/do_unlinkat',
        'kprobe',
        'do_unlinkat',
        true,
        ['bpf_map_lookup_elem', 'bpf_ktime_get_ns', 'bpf_get_smp_processor_id'],
        [],
        ['helper_sub', 'static_sub'],
      ],
      ['on_newtask', 'tp_btf/task_newtask', 'tracing', 'task_newtask', true, [], ['bpf_task_acquire', 'bpf_task_release'], []],
      ['pass', 'xdp', 'xdp', null, false, [], [], []],
      ['custom', 'ebpm_custom/thing', 'unspec', null, false, [], [], []],
    ]);
    expect(spec.needsKernelBtf).toBe(true);
    expect(spec.coreRelocations).toEqual([]);
  });

  it('reads BTF-defined and legacy maps', () => {
    expect(spec.maps).toEqual([
      {
        name: 'samples',
        section: '.maps',
        type: 'array',
        keySize: 4,
        valueSize: 64,
        maxEntries: 4,
        flags: 128,
        keyTypeId: spec.maps[0]!.keyTypeId,
        valueTypeId: findType(btf, 'struct', 'kt_sample')!.id,
        pinByName: true,
        mapExtra: 0n,
        inner: null,
        initialValues: [],
      },
      {
        name: 'old_counts',
        section: 'maps',
        type: 'percpu_array',
        keySize: 4,
        valueSize: 8,
        maxEntries: 16,
        flags: 0,
        keyTypeId: null,
        valueTypeId: null,
        pinByName: false,
        mapExtra: 0n,
        inner: null,
        initialValues: [],
      },
    ]);
    expect(typeName(btf, spec.maps[0]!.keyTypeId!)).toBe('__u32');
  });

  it('reads floats, .data initialisers, custom sections and .bss unions', () => {
    expect(spec.globals.map((g) => [g.name, g.section, g.offset, g.size, g.type, g.readonly, [...g.defaultValue]])).toEqual([
      ['threshold', '.rodata', 0, 4, 'float', true, [0, 0, 0xc0, 0x3f]],
      ['scale', '.rodata', 8, 8, 'double', true, [0, 0, 0, 0, 0, 0, 2, 0xc0]],
      ['counter', '.data', 0, 4, '__u32', false, [4, 3, 2, 1]],
      ['last', '.data', 8, 64, 'struct kt_sample', false, [42, ...Array(63).fill(0)]],
      ['cfg_level', '.rodata.cfg', 0, 4, 'int', true, [3, 0, 0, 0]],
      ['sink', '.bss', 0, 8, 'union kt_value', false, Array(8).fill(0)],
    ]);
    expect(spec.globals.slice(0, 2).map((g) => g.layout)).toEqual([
      { kind: 'float', size: 4, name: 'float' },
      { kind: 'float', size: 8, name: 'double' },
    ]);
    expect(spec.globals[5]!.layout).toEqual({
      kind: 'union',
      size: 8,
      name: 'kt_value',
      fields: [
        { name: 'u', offset: 0, layout: { kind: 'int', size: 8, signed: false, name: '__u64' } },
        { name: 'd', offset: 0, layout: { kind: 'float', size: 8, name: 'double' } },
      ],
    });
  });

  it('lays out bitfields, anonymous unions, arrays of structs, enums and tagged pointers', () => {
    expect(describeType(btf, findType(btf, 'struct', 'kt_sample')!.id)).toEqual({
      kind: 'struct',
      size: 64,
      name: 'kt_sample',
      fields: [
        { name: 'id', offset: 0, layout: { kind: 'int', size: 8, signed: false, name: '__u64' } },
        { name: 'as_u32', offset: 8, layout: { kind: 'int', size: 4, signed: false, name: '__u32' } },
        { name: 'as_float', offset: 8, layout: { kind: 'float', size: 4, name: 'float' } },
        { name: 'pts', offset: 12, layout: { kind: 'array', size: 12, count: 3, element: point } },
        {
          name: 'f',
          offset: 24,
          layout: {
            kind: 'struct',
            size: 4,
            name: 'kt_flags',
            fields: [
              { name: 'a', offset: 0, bitOffset: 0, bitSize: 3, layout: { kind: 'int', size: 4, signed: false, name: 'unsigned int' } },
              { name: 'b', offset: 0, bitOffset: 3, bitSize: 5, layout: { kind: 'int', size: 4, signed: false, name: 'unsigned int' } },
              { name: 'c', offset: 1, bitOffset: 0, bitSize: 12, layout: { kind: 'int', size: 4, signed: true, name: 'int' } },
              { name: 'd', offset: 3, layout: { kind: 'int', size: 1, signed: false, name: 'unsigned char' } },
            ],
          },
        },
        // LLVM 14 marks every enum unsigned (BTF enum signedness came with LLVM 15), so RED = -1 reads as 2^32-1.
        {
          name: 'color',
          offset: 28,
          layout: {
            kind: 'enum',
            size: 4,
            signed: false,
            name: 'kt_color',
            values: [
              { name: 'RED', value: 0xffffffff },
              { name: 'GREEN', value: 0 },
              { name: 'BLUE', value: 7 },
            ],
          },
        },
        { name: 'ratio', offset: 32, layout: { kind: 'float', size: 8, name: 'double' } },
        { name: 'label', offset: 40, layout: { kind: 'string', size: 8 } },
        { name: 'raw', offset: 48, layout: { kind: 'array', size: 4, count: 4, element: { kind: 'int', size: 1, signed: false, name: 'unsigned char' } } },
        { name: 'uptr', offset: 56, layout: { kind: 'pointer', size: 8 } },
      ],
    });
  });

  it('decodes decl_tag and type_tag', () => {
    const sample = findType(btf, 'struct', 'kt_sample')!;
    const tags = btf.types
      .filter((t) => t.kind === 'decl_tag')
      .map((t) => [t.name, t.kind === 'decl_tag' ? t.componentIdx : 0, typeName(btf, t.kind === 'decl_tag' ? t.type : 0)]);
    expect(tags).toEqual([
      ['struct-tag', -1, 'struct kt_sample'],
      ['member-tag', 4, 'struct kt_sample'],
      ['func-tag', -1, 'helper_sub'],
      ['var-tag', -1, '__u32'],
    ]);
    const uptr = sample.members.find((m) => m.name === 'uptr')!;
    const ptr = btf.types[uptr.type]!;
    expect(ptr.kind).toBe('ptr');
    const tag = btf.types[ptr.kind === 'ptr' ? ptr.type : 0]!;
    expect([tag.kind, tag.name, typeName(btf, uptr.type)]).toEqual(['type_tag', 'user', 'int *']);
  });
});
