// BTF map definitions with a `values` member or map_extra, from test/bpf/fixtures/maps.bpf.c and
// map-extra.bpf.c compiled by the real clang: map-in-map, an initialised prog array, bloom
// filters and an arena; the definitions libbpf refuses; and maps.bpf.c loaded on the kernel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findType } from '../../src/bpf/btf.js';
import { parseElf } from '../../src/bpf/elf.js';
import { BpfObject } from '../../src/kernel/loader.js';
import { parseObject, type ObjectSpec } from '../../src/bpf/object.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { requirementsOf } from '../../src/package/extract.js';
import { describeWith } from '../helpers/prereq.js';
import { BtfBuilder, buildElf, KIND } from './build.js';

const fixture = (name: string) => new URL(`fixtures/${name}.bpf.c`, import.meta.url).pathname;
const compiled = new Map<string, Promise<Uint8Array>>();
/** Each fixture is compiled once per file. */
function compile(name: 'maps' | 'map-extra'): Promise<Uint8Array> {
  let bytes = compiled.get(name);
  if (bytes === undefined) {
    bytes = compileBpf(fixture(name), join(process.env.EBPM_TEST_ROOT!, `${name}.bpf.o`), { env: process.env });
    compiled.set(name, bytes);
  }
  return bytes;
}
const plain = { section: '.maps', flags: 0, pinByName: false, mapExtra: 0n, inner: null, initialValues: [] } as const;

describeWith(['clang', 'bpftool', 'btf'], 'parseObject on map definitions', () => {
  let maps: ObjectSpec;
  let extra: ObjectSpec;

  beforeAll(async () => {
    [maps, extra] = (await Promise.all([compile('maps'), compile('map-extra')])).map(parseObject) as [ObjectSpec, ObjectSpec];
  }, 120_000);

  it('reads map-in-map inner definitions and the slots .values fills', () => {
    const btf = maps.btf!;
    const id = (name: string) => findType(btf, 'typedef', name)!.id;
    const inner = { ...plain, type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, keyTypeId: id('__u32'), valueTypeId: id('__u64') };
    // In DATASEC order, which is clang's, not the source's.
    expect(maps.maps).toEqual([
      { ...inner, name: 'inner_a' },
      { ...inner, name: 'inner_b' },
      {
        ...plain,
        name: 'outer_array',
        type: 'array_of_maps',
        keySize: 4,
        valueSize: 4,
        maxEntries: 4,
        keyTypeId: id('__u32'),
        valueTypeId: null,
        inner: { ...inner, name: 'outer_array.inner' },
        initialValues: [
          { slot: 0, target: 'inner_a' },
          { slot: 2, target: 'inner_b' },
        ],
      },
      {
        ...plain,
        name: 'jumps',
        type: 'prog_array',
        keySize: 4,
        valueSize: 4,
        maxEntries: 3,
        keyTypeId: id('__u32'),
        valueTypeId: null,
        initialValues: [
          { slot: 1, target: 'tail_two' },
          { slot: 2, target: 'tail_one' },
        ],
      },
      { ...plain, name: 'seen', type: 'bloom_filter', keySize: 0, valueSize: 4, maxEntries: 64, keyTypeId: null, valueTypeId: id('__u32'), mapExtra: 3n },
      {
        ...plain,
        name: 'outer_hash',
        type: 'hash_of_maps',
        keySize: 8,
        valueSize: 4,
        maxEntries: 8,
        keyTypeId: id('__u64'),
        valueTypeId: null,
        inner: {
          ...plain,
          name: 'outer_hash.inner',
          type: 'hash',
          keySize: 4,
          valueSize: 4,
          maxEntries: 16,
          flags: 1,
          keyTypeId: id('__u32'),
          valueTypeId: id('__u32'),
        },
      },
    ]);
    expect(maps.programs.map((p) => [p.name, p.type])).toEqual([
      ['tail_one', 'sched_cls'],
      ['tail_two', 'sched_cls'],
      ['entry', 'sched_cls'],
    ]);
    // outer_hash's inner hash map is created by the kernel too, though no top-level map is a hash.
    expect(requirementsOf([maps]).mapTypes).toEqual(['array', 'array_of_maps', 'bloom_filter', 'hash', 'hash_of_maps', 'prog_array']);
  });

  it('rejects .values relocations that name no slot or the wrong kind of target', async () => {
    const bytes = await compile('maps');
    const elf = parseElf(bytes);
    const rel = elf.sections.find((s) => s.name === '.rel.maps')!;
    const sym = (name: string) => elf.symbols.findIndex((s) => s.name === name);
    /** A copy with relocation `i` moved to `offset` or pointed at symbol `name`. */
    const patch = (i: number, change: { offset?: number; symbol?: string }) => {
      const copy = bytes.slice();
      const v = new DataView(copy.buffer, rel.offset + i * 16);
      if (change.offset !== undefined) v.setBigUint64(0, BigInt(change.offset), true);
      if (change.symbol !== undefined) v.setUint32(12, sym(change.symbol), true);
      return copy;
    };
    const rejects = (copy: Uint8Array, message: string) => expect(() => parseObject(copy)).toThrowWithCode('BPF_MALFORMED', message);
    const outer = elf.symbols[sym('outer_array')]!.value;
    rejects(patch(0, { symbol: 'tail_one' }), 'section .maps: relocation 0: map outer_array slot 0: tail_one is not a map in .maps');
    rejects(patch(2, { symbol: 'inner_a' }), 'section .maps: relocation 2: map jumps slot 1: inner_a is not a program');
    rejects(patch(1, { offset: outer + 4 }), `section .maps: relocation 1: offset ${outer + 4} is not a slot of map outer_array's values`);
    rejects(patch(1, { offset: elf.symbols[sym('inner_a')]!.value }), 'section .maps: relocation 1: map inner_a has no values member to initialise');
    rejects(patch(1, { offset: 0x10000 }), 'section .maps: relocation 1: offset 65536 is inside no map');
  });

  it('reads __ulong(map_extra, …) and skips fields libbpf does not know', () => {
    const btf = extra.btf!;
    expect(extra.maps).toEqual([
      {
        ...plain,
        name: 'hashes',
        type: 'bloom_filter',
        keySize: 0,
        valueSize: 8,
        maxEntries: 1000,
        keyTypeId: null,
        valueTypeId: findType(btf, 'typedef', '__u64')!.id,
        mapExtra: 5n,
      },
      {
        ...plain,
        name: 'arena',
        type: 'arena',
        keySize: 0,
        valueSize: 0,
        maxEntries: 16,
        flags: 1024,
        keyTypeId: null,
        valueTypeId: null,
        mapExtra: 0x7f000000n,
      },
    ]);
  });
});

/** A `.maps` object with one map whose struct members are given as [name, type id] (BTF ids from 1). */
function mapObject(build: (b: BtfBuilder) => [string, number][]): Uint8Array {
  const b = new BtfBuilder();
  const members = build(b);
  const def = b.struct(
    '',
    members.length * 8,
    members.map(([n, t], i) => [n, t, i * 64]),
  );
  const v = b.type('m', KIND.var, 0, def, [1]);
  b.type('.maps', KIND.datasec, 1, 0, [v, 0, members.length * 8]);
  return buildElf([
    { name: '.maps', type: 1, flags: 3, data: new Uint8Array(members.length * 8) },
    { name: '.BTF', type: 1, data: b.bytes() },
  ]);
}

/** `__uint(name, n)`: `int (*name)[n]`, given the id of `int` and of the array index type. */
const uint = (b: BtfBuilder, int: number, n: number) => b.type('', KIND.ptr, 0, b.type('', KIND.array, 0, 0, [int, int, n]));

describe('map definitions built byte by byte', () => {
  it('reads an ENUM64 map_extra (LLVM 15+) to the last bit', () => {
    const spec = parseObject(
      mapObject((b) => {
        const int = b.int('int', 4, 1);
        const e = b.type('', KIND.enum64, 1, 8, [b.str('__unique_value0'), 0x89abcdef, 0xf1234567]);
        return [
          ['type', uint(b, int, 33)],
          ['max_entries', uint(b, int, 4)],
          ['map_extra', e],
        ];
      }),
    );
    expect(spec.maps.map((m) => [m.type, m.maxEntries, m.mapExtra])).toEqual([['arena', 4, 0xf123456789abcdefn]]);
  });

  const rejects = (bytes: Uint8Array, message: string) =>
    expect(() => parseObject(bytes)).toThrowWithCode('BTF_MALFORMED', { message, hint: 'fix the map definition in the BPF source: libbpf refuses it as well' });

  it('rejects what libbpf refuses, naming the field', () => {
    const values = (b: BtfBuilder, int: number) => b.type('', KIND.array, 0, 0, [b.type('', KIND.ptr, 0, b.type('', KIND.func_proto, 0, int)), int, 0]);
    rejects(
      mapObject((b) => {
        const int = b.int('int', 4, 1);
        return [
          ['type', uint(b, int, 1)],
          ['values', values(b, int)],
        ];
      }),
      'map m: values needs a map-in-map or prog_array, not hash',
    );
    rejects(
      mapObject((b) => {
        const int = b.int('int', 4, 1);
        return [
          ['type', uint(b, int, 3)],
          ['values', values(b, int)],
          ['max_entries', uint(b, int, 2)],
        ];
      }),
      'map m: field values must be the last',
    );
    rejects(
      mapObject((b) => {
        const int = b.int('int', 4, 1);
        return [
          ['type', uint(b, int, 12)],
          ['values', values(b, int)],
        ];
      }),
      'map m: inner map definition is a func_proto, not a struct',
    );
    rejects(
      mapObject((b) => {
        const int = b.int('int', 4, 1);
        return [
          ['type', uint(b, int, 3)],
          ['max_entries', int],
        ];
      }),
      'map m: field max_entries is not __uint(max_entries, …)',
    );
    rejects(
      mapObject((b) => {
        const int = b.int('int', 4, 1);
        return [['key', b.type('', KIND.array, 0, 0, [int, int, 4])]];
      }),
      'map m: field key is a array, not __type(key, …)',
    );
    rejects(
      mapObject((b) => {
        const int = b.int('int', 4, 1);
        return [
          ['type', uint(b, int, 30)],
          ['map_extra', b.type('', KIND.enum, 2, 4, [b.str('A'), 1, b.str('B'), 2])],
        ];
      }),
      'map m: field map_extra is not __uint(map_extra, …) or __ulong(map_extra, …)',
    );
  });
});

/** The kernel id behind a map or program fd (`map_id:` / `prog_id:` in /proc/self/fdinfo). */
function kernelId(fd: number, kind: 'map' | 'prog'): number {
  const m = new RegExp(`^${kind}_id:\\s*(\\d+)$`, 'm').exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m?.[1]) throw new Error(`fd ${fd} is not a BPF ${kind}`);
  return Number(m[1]);
}

const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const id = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true));

describeWith(['root', 'btf', 'clang', 'native'], 'map definitions on the kernel', () => {
  it('loads maps.bpf.c: libbpf fills the slots the reader lists, with the inner definitions it reads', async () => {
    const bytes = await compile('maps');
    const spec = parseObject(bytes);
    using obj = BpfObject.open(bytes, { name: 'maps' });
    obj.load();
    const fds = new Map(obj.maps().map((m) => [m.name, m.fd]));
    const progs = new Map(obj.programs().map((p) => [p.name, p.fd]));
    // From user space, a map-in-map slot reads as the inner map's id, a prog array slot as the program's.
    const slots = (name: string, kind: 'map' | 'prog', fdOf: Map<string, number>) => {
      const map = obj.map(name);
      const ids = new Map([...fdOf].map(([n, fd]) => [kernelId(fd, kind), n]));
      return Array.from({ length: map.maxEntries }, (_, i) => id(map.lookup(u32(i)))).flatMap((v, slot) =>
        v === undefined ? [] : [{ slot, target: ids.get(v) }],
      );
    };
    const find = (name: string) => spec.maps.find((m) => m.name === name)!;
    expect(slots('outer_array', 'map', fds)).toEqual(find('outer_array').initialValues);
    expect(slots('jumps', 'prog', progs)).toEqual(find('jumps').initialValues);
    expect(find('jumps').initialValues).toHaveLength(2);
    const shape = (m: { type: string; keySize: number; valueSize: number; maxEntries: number }) => [m.type, m.keySize, m.valueSize, m.maxEntries];
    const names = ['outer_array', 'outer_hash', 'jumps', 'seen'];
    expect(names.map((n) => shape(obj.map(n)))).toEqual(names.map((n) => shape(find(n))));
  });
});
