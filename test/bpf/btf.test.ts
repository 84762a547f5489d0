// BTF decoded from blobs built byte by byte: every kind (ENUM64 included, which LLVM 14 cannot
// emit), the helpers, layouts, `.BTF.ext` access paths, and malformed input of each sort.
import { describe, expect, it } from 'vitest';
import { parseBtf, resolveType, skipModifiers, typeName, typeSize } from '../../src/bpf/btf.js';
import { parseBtfExt } from '../../src/bpf/btf-ext.js';
import { describeType } from '../../src/bpf/layout.js';
import { BtfBuilder, btfStringTable, buildBtfExt, KIND } from './build.js';

function everyKind(): BtfBuilder {
  const b = new BtfBuilder();
  b.int('int', 4, 1); // 1
  b.type('', KIND.ptr, 0, 1); // 2
  b.type('', KIND.array, 0, 0, [1, 1, 4]); // 3
  b.struct('pair', 8, [
    ['a', 1, 0],
    ['b', 1, 32],
  ]); // 4
  b.struct('u', 4, [['x', 1, 0]], 'union'); // 5
  b.type('e', KIND.enum, 2, 4, [b.str('A'), -1, b.str('B'), 2], true); // 6
  b.type('fw', KIND.fwd, 0, 0, [], true); // 7
  b.type('myint', KIND.typedef, 0, 1); // 8
  b.type('', KIND.volatile, 0, 1); // 9
  b.type('', KIND.const, 0, 9); // 10
  b.type('', KIND.restrict, 0, 2); // 11
  b.type('', KIND.func_proto, 1, 1, [b.str('x'), 1]); // 12
  b.type('f', KIND.func, 1, 12); // 13
  b.type('v', KIND.var, 0, 1, [1]); // 14
  b.type('.data', KIND.datasec, 1, 4, [14, 0, 4]); // 15
  b.type('double', KIND.float, 0, 8); // 16
  b.type('tag', KIND.decl_tag, 0, 14, [-1]); // 17
  b.type('user', KIND.type_tag, 0, 1); // 18
  b.type('big', KIND.enum64, 3, 8, [b.str('X'), 0xffffffff, 0xffffffff, b.str('Y'), 5, 0, b.str('Z'), 1, 0x200000]); // 19
  b.type('sbig', KIND.enum64, 2, 8, [b.str('M'), 0xffffffff, 0xffffffff, b.str('N'), 0xfffffffe, 0xffdfffff], true); // 20
  return b;
}

describe('parseBtf', () => {
  it('decodes every kind', () => {
    const btf = parseBtf(everyKind().bytes());
    expect(btf.types).toEqual([
      { kind: 'void', id: 0, name: '' },
      { kind: 'int', id: 1, name: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
      { kind: 'ptr', id: 2, name: '', type: 1 },
      { kind: 'array', id: 3, name: '', type: 1, indexType: 1, nelems: 4 },
      {
        kind: 'struct',
        id: 4,
        name: 'pair',
        size: 8,
        members: [
          { name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 },
          { name: 'b', type: 1, bitOffset: 32, bitfieldSize: 0 },
        ],
      },
      { kind: 'union', id: 5, name: 'u', size: 4, members: [{ name: 'x', type: 1, bitOffset: 0, bitfieldSize: 0 }] },
      {
        kind: 'enum',
        id: 6,
        name: 'e',
        size: 4,
        signed: true,
        values: [
          { name: 'A', value: -1 },
          { name: 'B', value: 2 },
        ],
      },
      { kind: 'fwd', id: 7, name: 'fw', union: true },
      { kind: 'typedef', id: 8, name: 'myint', type: 1 },
      { kind: 'volatile', id: 9, name: '', type: 1 },
      { kind: 'const', id: 10, name: '', type: 9 },
      { kind: 'restrict', id: 11, name: '', type: 2 },
      { kind: 'func_proto', id: 12, name: '', returnType: 1, params: [{ name: 'x', type: 1 }] },
      { kind: 'func', id: 13, name: 'f', type: 12, linkage: 'global' },
      { kind: 'var', id: 14, name: 'v', type: 1, linkage: 'global' },
      { kind: 'datasec', id: 15, name: '.data', size: 4, vars: [{ type: 14, offset: 0, size: 4 }] },
      { kind: 'float', id: 16, name: 'double', size: 8 },
      { kind: 'decl_tag', id: 17, name: 'tag', type: 14, componentIdx: -1 },
      { kind: 'type_tag', id: 18, name: 'user', type: 1 },
      {
        kind: 'enum64',
        id: 19,
        name: 'big',
        size: 8,
        signed: false,
        values: [
          { name: 'X', value: 2n ** 64n - 1n },
          { name: 'Y', value: 5n },
          { name: 'Z', value: 2n ** 53n + 1n },
        ],
      },
      {
        kind: 'enum64',
        id: 20,
        name: 'sbig',
        size: 8,
        signed: true,
        values: [
          { name: 'M', value: -1n },
          { name: 'N', value: -(2n ** 53n) - 2n },
        ],
      },
    ]);
  });

  it('resolves modifiers and typedefs, sizes and names types', () => {
    const btf = parseBtf(everyKind().bytes());
    expect(skipModifiers(btf, 10).id).toBe(1);
    expect(resolveType(btf, 8).id).toBe(1);
    expect(skipModifiers(btf, 8).kind).toBe('typedef');
    expect([3, 4, 5, 2, 8, 10, 14, 16, 19].map((id) => typeSize(btf, id))).toEqual([16, 8, 4, 8, 4, 4, 4, 8, 8]);
    expect([3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 18, 19].map((id) => typeName(btf, id))).toEqual([
      'int[4]',
      'struct pair',
      'union u',
      'enum e',
      'union fw',
      'myint',
      'int',
      'int *',
      'fn',
      'f',
      '.data',
      'int',
      'enum big',
    ]);
    expect(() => typeSize(btf, 13)).toThrowWithCode('BTF_MALFORMED', 'btf type [13] func f has no size');
  });

  it('lays out enum64 values exactly: numbers within ±2^53, decimal strings beyond', () => {
    const btf = parseBtf(everyKind().bytes());
    expect(describeType(btf, 19)).toEqual({
      kind: 'enum',
      size: 8,
      signed: false,
      name: 'big',
      values: [
        { name: 'X', value: '18446744073709551615' },
        { name: 'Y', value: 5 },
        { name: 'Z', value: '9007199254740993' },
      ],
    });
    expect(describeType(btf, 20)).toEqual({
      kind: 'enum',
      size: 8,
      signed: true,
      name: 'sbig',
      values: [
        { name: 'M', value: -1 },
        { name: 'N', value: '-9007199254740994' },
      ],
    });
    expect(JSON.parse(JSON.stringify(describeType(btf, 20)))).toEqual(describeType(btf, 20));
    expect(describeType(btf, 8)).toEqual({ kind: 'int', size: 4, signed: true, name: 'myint' });
    expect(describeType(btf, 7)).toEqual({ kind: 'opaque', size: 0, name: 'fw' });
    expect(describeType(btf, 14)).toEqual({ kind: 'int', size: 4, signed: true, name: 'int' });
  });

  it('lays out old-style int bitfields (kind_flag 0)', () => {
    const b = new BtfBuilder();
    b.int('unsigned int', 4); // 1
    b.int('', 4, 0, 3, 2); // 2: 3 bits at bit 2 of the int
    b.struct('s', 4, [
      ['lo', 2, 8],
      ['whole', 1, 0],
    ]); // 3
    expect(describeType(parseBtf(b.bytes()), 3)).toEqual({
      kind: 'struct',
      size: 4,
      name: 's',
      fields: [
        { name: 'lo', offset: 1, bitOffset: 2, bitSize: 3, layout: { kind: 'int', size: 4, signed: false } },
        { name: 'whole', offset: 0, layout: { kind: 'int', size: 4, signed: false, name: 'unsigned int' } },
      ],
    });
  });

  const bad = (name: string, build: (b: BtfBuilder) => void, code: string, message: string) =>
    it(`rejects ${name}`, () => {
      const b = new BtfBuilder();
      build(b);
      expect(() => parseBtf(b.bytes())).toThrowWithCode(code, message);
    });

  bad(
    'a reference past the type table',
    (b) => {
      b.int('int', 4);
      b.type('', KIND.ptr, 0, 99);
    },
    'BTF_MALFORMED',
    'btf type [2] ptr: target type id 99 out of range (3 types)',
  );
  bad('an unknown kind', (b) => b.type('x', 25, 0, 0), 'BTF_MALFORMED', 'btf type section: type [1]: unknown kind 25');
  bad('an int of 3 bytes', (b) => b.int('odd', 3), 'BTF_MALFORMED', 'btf type [1] int odd: size 3 with 24 bits at offset 0 is not a valid integer');
  bad(
    'a func whose type is no prototype',
    (b) => {
      b.int('int', 4);
      b.type('f', KIND.func, 0, 1);
    },
    'BTF_MALFORMED',
    'btf type [2] func f: type 1 is not a func_proto',
  );
  bad(
    'a member past the struct',
    (b) => {
      b.int('int', 4);
      b.struct('s', 4, [['a', 1, 64]]);
    },
    'BTF_MALFORMED',
    'btf type [2] struct s: member 0 a at bit 64 lies outside size 4',
  );
  bad(
    'a vlen running past the type section',
    (b) => b.type('s', KIND.struct, 1000, 4),
    'BTF_MALFORMED',
    'btf type section: type [1] struct with vlen 1000: offset 12 size 12000 past end (12 bytes)',
  );
  bad(
    'an unknown var linkage',
    (b) => {
      b.int('int', 4);
      b.type('v', KIND.var, 0, 1, [7]);
    },
    'BTF_MALFORMED',
    'btf type section: type [2]: var linkage 7 unknown',
  );

  it('rejects bad headers and string tables', () => {
    const good = everyKind().bytes();
    const patched = (at: number, v: number, width: 1 | 2 | 4 = 4) => {
      const copy = good.slice();
      const dv = new DataView(copy.buffer);
      if (width === 1) dv.setUint8(at, v);
      else if (width === 2) dv.setUint16(at, v, true);
      else dv.setUint32(at, v, true);
      return copy;
    };
    const cases: [Uint8Array, string, string][] = [
      [patched(0, 0x1234, 2), 'BTF_MALFORMED', 'btf header: bad magic 0x1234'],
      [patched(0, 0x9feb, 2), 'BPF_BIG_ENDIAN', 'btf header: big-endian BTF; only little-endian is supported'],
      [patched(2, 2, 1), 'BTF_MALFORMED', 'btf header: unsupported version 2'],
      [patched(4, 8), 'BTF_MALFORMED', 'btf header: hdr_len 8 shorter than 24'],
      [patched(12, 0xfffffff0), 'BTF_MALFORMED', `btf header: type section: offset 24 size ${0xfffffff0} past end (${good.length} bytes)`],
      [patched(20, 0), 'BTF_MALFORMED', 'btf header: string section must start and end with NUL'],
      [good.subarray(0, 10), 'BTF_MALFORMED', 'btf header: 24-byte header: offset 0 size 24 past end (10 bytes)'],
    ];
    for (const [bytes, code, message] of cases) expect(() => parseBtf(bytes)).toThrowWithCode(code, message);
  });

  it('stops at typedef cycles and self-containing types instead of looping', () => {
    const b = new BtfBuilder();
    b.type('a', KIND.typedef, 0, 2); // 1 → 2
    b.type('b', KIND.typedef, 0, 1); // 2 → 1
    b.int('int', 4); // 3
    b.type('', KIND.array, 0, 0, [4, 3, 1]); // 4: element is 5
    b.struct('loop', 4, [['self', 4, 0]]); // 5: contains an array of itself
    const btf = parseBtf(b.bytes());
    const cycle = expect.objectContaining({ code: 'BTF_MALFORMED', message: 'btf type [1]: modifier/typedef chain longer than 32 (a cycle?)' });
    expect(() => resolveType(btf, 1)).toThrow(cycle);
    expect(() => typeSize(btf, 1)).toThrow(cycle);
    expect(() => describeType(btf, 1)).toThrowWithCode('BTF_MALFORMED', 'layout of btf type [2] b: modifier/typedef chain longer than 32');
    expect(() => describeType(btf, 5)).toThrowWithCode('BTF_MALFORMED', 'layout of btf type [4]: nested deeper than 64');
    expect(() => typeSize(btf, 4)).toThrowWithCode('BTF_MALFORMED', 'btf type [4]: nested too deeply to size');
  });

  it('bounds the layout of a small BTF that describes an exponentially large type', () => {
    const b = new BtfBuilder();
    let prev = b.int('int', 4);
    for (let i = 0; i < 40; i++)
      prev = b.struct(`s${i}`, 8, [
        ['a', prev, 0],
        ['b', prev, 0],
      ]);
    // Bounded by a count of fields (2^40 of them otherwise), not by time.
    expect(() => describeType(parseBtf(b.bytes()), prev)).toThrowWithCode('BTF_MALFORMED', /more than 100000 fields$/);
  });
});

describe('parseBtfExt', () => {
  function btfWithTask() {
    const b = new BtfBuilder();
    b.int('int', 4); // 1
    b.type('', KIND.array, 0, 0, [1, 1, 4]); // 2
    b.struct('', 8, [['inner', 1, 0]]); // 3: anonymous
    b.struct('task', 24, [
      ['pid', 1, 0],
      ['', 3, 32],
      ['cpus', 2, 64],
    ]); // 4
    b.type('mode', KIND.enum, 2, 4, [b.str('OFF'), 0, b.str('ON'), 1]); // 5
    b.type('task_t', KIND.typedef, 0, 4); // 6
    b.str('0');
    b.str('0:1:0');
    b.str('0:2:3');
    b.str('1');
    b.str('0:9');
    b.str('0:1');
    b.str('0:x');
    b.str('prog');
    b.str('file.c');
    b.str('return 0;');
    return b;
  }

  it('reads func_info, line_info and CO-RE relocations with readable paths', () => {
    const b = btfWithTask();
    const raw = b.bytes();
    const btf = parseBtf(raw);
    const s = (x: string) => b.str(x);
    const ext = buildBtfExt({
      func: [8, s('prog'), 1, 0, 1],
      line: [16, s('prog'), 1, 16, s('file.c'), s('return 0;'), (12 << 10) | 5],
      core: [
        16,
        s('prog'),
        5,
        0,
        4,
        s('0:1:0'),
        0, // field_byte_offset task.inner (via the anonymous struct)
        8,
        6,
        s('0:2:3'),
        1, // field_byte_size task.cpus[3], rooted at a typedef
        16,
        6,
        s('0'),
        8, // type_exists task_t
        24,
        5,
        s('1'),
        11, // enumval_value mode::ON
        32,
        4,
        s('0'),
        6,
      ], // type_id_local task
    });
    expect(parseBtfExt(ext, btf, btfStringTable(raw))).toEqual({
      funcInfo: [{ section: 'prog', insn: 0, typeId: 1 }],
      lineInfo: [{ section: 'prog', insn: 2, file: 'file.c', source: 'return 0;', line: 12, column: 5 }],
      coreRelocations: [
        { section: 'prog', insn: 0, kind: 'field_byte_offset', typeId: 4, typeName: 'task', access: '0:1:0', path: 'task.inner' },
        { section: 'prog', insn: 1, kind: 'field_byte_size', typeId: 6, typeName: 'task', access: '0:2:3', path: 'task.cpus[3]' },
        { section: 'prog', insn: 2, kind: 'type_exists', typeId: 6, typeName: 'task_t', access: '0', path: 'task_t' },
        { section: 'prog', insn: 3, kind: 'enumval_value', typeId: 5, typeName: 'mode', access: '1', path: 'mode::ON' },
        { section: 'prog', insn: 4, kind: 'type_id_local', typeId: 4, typeName: 'task', access: '0', path: 'task' },
      ],
    });
  });

  it('rejects bad access strings, kinds and record sizes', () => {
    const b = btfWithTask();
    const raw = b.bytes();
    const btf = parseBtf(raw);
    const strings = btfStringTable(raw);
    const core = (type: number, access: string, kind: number) => buildBtfExt({ core: [16, b.str('prog'), 1, 8, type, b.str(access), kind] });
    const cases: [Uint8Array, string][] = [
      [core(4, '0:9', 0), 'btf.ext core_relo 0 (prog+1): access "0:9": member 9 out of range in struct task (3 members)'],
      [core(4, '0:x', 0), 'btf.ext core_relo 0 (prog+1): access "0:x": not a list of indexes'],
      [core(4, '0', 13), 'btf.ext core_relo 0 (prog+1): unknown kind 13'],
      [core(5, '0:9', 10), 'btf.ext core_relo 0 (prog+1): access "0:9": enumerator index out of range (2 values)'],
      [core(4, '1', 10), 'btf.ext core_relo 0 (prog+1): access "1": type task is a struct, not an enum'],
      [core(4, '1', 8), 'btf.ext core_relo 0 (prog+1): access "1": type relocations take access "0"'],
      [core(1, '0:1', 0), 'btf.ext core_relo 0 (prog+1): access "0:1": cannot index into int int'],
      [core(0, '0', 0), 'btf.ext core_relo 0 (prog+1): access "0": type id 0 (void)'],
      [buildBtfExt({ func: [4, b.str('prog'), 1, 0] }), 'btf.ext func_info: rec_size 4 invalid (need >= 8, multiple of 4)'],
      [buildBtfExt({ func: [8, b.str('prog'), 1, 3, 1] }), 'btf.ext func_info: prog record 0: insn_off 3 not a multiple of 8'],
      [
        buildBtfExt({ func: [8, b.str('prog'), 0x10000000, 0, 1] }),
        `btf.ext func_info: prog: ${0x10000000} records of 8 bytes: offset 12 size ${0x80000000} past end (20 bytes)`,
      ],
    ];
    for (const [bytes, message] of cases) expect(() => parseBtfExt(bytes, btf, strings)).toThrowWithCode('BTF_MALFORMED', message);
  });
});
