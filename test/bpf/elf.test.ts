// parseObject on ELF files built byte by byte: the smallest valid object, instruction scanning,
// an ENUM64 global, and every sort of broken header, section, symbol and relocation.
import { describe, expect, it } from 'vitest';
import { parseElf } from '../../src/bpf/elf.js';
import { parseObject } from '../../src/bpf/object.js';
import { BtfBuilder, buildElf, KIND, type SectionDef, type SymbolDef } from './build.js';

const PROGBITS = 1;
const NOBITS = 8;
const REL = 9;
const EXEC = 0x6; // SHF_ALLOC | SHF_EXECINSTR
const FUNC = (1 << 4) | 2; // STB_GLOBAL, STT_FUNC
const OBJECT = (1 << 4) | 1;

/** Encodes BPF instructions: [opcode, src_reg << 4 | dst_reg, imm]. */
function insns(list: [number, number, number][]): Uint8Array {
  const out = new Uint8Array(list.length * 8);
  const v = new DataView(out.buffer);
  list.forEach(([code, regs, imm], i) => {
    v.setUint8(i * 8, code);
    v.setUint8(i * 8 + 1, regs);
    v.setInt32(i * 8 + 4, imm, true);
  });
  return out;
}

const CALL = 0x85;
const EXIT: [number, number, number] = [0x95, 0, 0];

function rel(entries: [offset: number, symbol: number][]): Uint8Array {
  const out = new Uint8Array(entries.length * 16);
  const v = new DataView(out.buffer);
  entries.forEach(([offset, symbol], i) => {
    v.setBigUint64(i * 16, BigInt(offset), true);
    v.setUint32(i * 16 + 8, 1, true);
    v.setUint32(i * 16 + 12, symbol, true);
  });
  return out;
}

/** A program in `xdp` calling two helpers, a `.text` subprogram and a kfunc; symbols 1-4. */
function programObject(overrides: { progSize?: number; subCallImm?: number } = {}): Uint8Array {
  const sections: SectionDef[] = [
    {
      name: 'xdp',
      type: PROGBITS,
      flags: EXEC,
      data: insns([
        [CALL, 0, 5], // bpf_ktime_get_ns
        [0x18, 0x01, 0],
        [CALL, 0, 6], // lddw: its second slot is data, not a call
        [CALL, 0x10, overrides.subCallImm ?? -1], // pseudo call, relocated against `sub`
        [CALL, 0x10, -1], // pseudo call, relocated against an undefined extern: a kfunc
        [CALL, 0, 300], // a helper newer than the table
        EXIT,
      ]),
    },
    { name: '.text', type: PROGBITS, flags: EXEC, data: insns([[CALL, 0, 8], EXIT]) },
    {
      name: '.relxdp',
      type: REL,
      data: rel([
        [24, 2],
        [32, 3],
      ]),
      link: 5,
      info: 1,
      entsize: 16,
    },
    { name: 'license', type: PROGBITS, data: new TextEncoder().encode('GPL') },
  ];
  const symbols: SymbolDef[] = [
    { name: 'prog', section: 1, value: 0, size: overrides.progSize ?? 56, info: FUNC },
    { name: 'sub', section: 2, value: 0, size: 16, info: FUNC },
    { name: 'bpf_obj_drop_impl', section: 0, value: 0, size: 0, info: 1 << 4 },
  ];
  return buildElf(sections, symbols);
}

const rejects = (bytes: Uint8Array, code: string, message: string) => expect(() => parseObject(bytes)).toThrowWithCode(code, message);

describe('parseObject on hand-built objects', () => {
  it('reads the smallest valid object as empty', () => {
    expect(parseObject(buildElf([]))).toEqual({
      license: null,
      programs: [],
      maps: [],
      globals: [],
      exports: [],
      recordFacts: [],
      btf: null,
      btfExt: null,
      coreRelocations: [],
      kernelTypes: [],
      needsKernelBtf: false,
    });
  });

  it('scans instructions for helpers, subprograms and kfuncs', () => {
    const spec = parseObject(programObject());
    expect(spec.license).toBe('GPL');
    expect(spec.programs).toEqual([
      {
        name: 'prog',
        section: 'xdp',
        type: 'xdp',
        expectedAttachType: 'xdp',
        target: null,
        autoAttach: false,
        sleepable: false,
        needsKernelBtf: false,
        instructions: 7,
        helpers: [
          { id: 5, name: 'bpf_ktime_get_ns' },
          { id: 8, name: 'bpf_get_smp_processor_id' },
          { id: 300, name: null },
        ],
        kfuncs: ['bpf_obj_drop_impl'],
        subprograms: ['sub'],
      },
    ]);
    expect(spec.needsKernelBtf).toBe(true);
  });

  it('reads an ENUM64 global from .rodata', () => {
    const b = new BtfBuilder();
    const e = b.type('big', KIND.enum64, 2, 8, [b.str('LOW'), 1, 0, b.str('HIGH'), 0, 0x80000000]);
    const v = b.type('mode', KIND.var, 0, e, [1]);
    b.type('.rodata', KIND.datasec, 1, 0, [v, 0, 8]);
    const rodata = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
    const spec = parseObject(
      buildElf(
        [
          { name: '.rodata', type: PROGBITS, flags: 2, data: rodata },
          { name: '.BTF', type: PROGBITS, data: b.bytes() },
        ],
        [{ name: 'mode', section: 1, value: 0, size: 8, info: OBJECT }],
      ),
    );
    expect(spec.globals).toEqual([
      {
        name: 'mode',
        section: '.rodata',
        offset: 0,
        size: 8,
        typeId: e,
        type: 'enum big',
        linkage: 'global',
        readonly: true,
        defaultValue: rodata,
        layout: {
          kind: 'enum',
          size: 8,
          signed: false,
          name: 'big',
          values: [
            { name: 'LOW', value: 1 },
            { name: 'HIGH', value: '9223372036854775808' },
          ],
        },
      },
    ]);
  });

  it('reads .bss defaults as zeros and legacy maps', () => {
    const b = new BtfBuilder();
    const int = b.int('int', 4, 1);
    const v = b.type('hits', KIND.var, 0, int, [1]);
    b.type('.bss', KIND.datasec, 1, 0, [v, 0, 4]);
    const def = new Uint8Array(40);
    new DataView(def.buffer).setUint32(20, 2, true); // second map: type array, rest zero
    const spec = parseObject(
      buildElf(
        [
          { name: '.bss', type: NOBITS, flags: 3, size: 16 },
          { name: '.BTF', type: PROGBITS, data: b.bytes() },
          { name: 'maps', type: PROGBITS, flags: 3, data: def },
        ],
        [
          { name: 'hits', section: 1, value: 12, size: 4, info: OBJECT },
          { name: 'b', section: 3, value: 20, size: 20, info: OBJECT },
          { name: 'a', section: 3, value: 0, size: 20, info: OBJECT },
        ],
      ),
    );
    expect(spec.globals.map((g) => [g.name, g.offset, [...g.defaultValue]])).toEqual([['hits', 12, [0, 0, 0, 0]]]);
    expect(spec.maps.map((m) => [m.name, m.section, m.type])).toEqual([
      ['a', 'maps', 'unspec'],
      ['b', 'maps', 'array'],
    ]);
  });
});

describe('parseObject rejects malformed objects with typed errors', () => {
  const good = programObject();
  const patch = (at: number, bytes: number[]) => {
    const copy = good.slice();
    copy.set(bytes, at);
    return copy;
  };
  const shoff = Number(new DataView(good.buffer).getBigUint64(40, true));

  it('rejects what is not a little-endian 64-bit BPF relocatable', () => {
    rejects(new TextEncoder().encode('#!/bin/sh\n'), 'BPF_NOT_ELF', 'not an ELF file: no \\x7fELF magic');
    rejects(new Uint8Array(0), 'BPF_NOT_ELF', 'not an ELF file: no \\x7fELF magic');
    rejects(patch(5, [2]), 'BPF_BIG_ENDIAN', 'elf header: big-endian object (clang -target bpfeb); only little-endian BPF is supported');
    rejects(patch(18, [62, 0]), 'BPF_WRONG_MACHINE', 'elf header: e_machine 62, not EM_BPF (247)');
    expect(() => parseObject(patch(18, [62, 0]))).toThrow(
      expect.objectContaining({ data: { machine: 62 }, hint: expect.stringContaining('clang -target bpf') }),
    );
    rejects(good.subarray(0, 40), 'BPF_MALFORMED', 'elf header: truncated: 40 bytes, header needs 64');
    rejects(patch(4, [1]), 'BPF_MALFORMED', 'elf header: not a 64-bit ELF (class 1)');
    rejects(patch(5, [7]), 'BPF_MALFORMED', 'elf header: unknown data encoding 7');
    rejects(patch(16, [2, 0]), 'BPF_MALFORMED', 'elf header: e_type 2, not a relocatable object (ET_REL)');
  });

  it('rejects section tables and sections past the end of the file', () => {
    rejects(
      patch(40, [0xff, 0xff, 0xff, 0, 0, 0, 0, 0]),
      'BPF_MALFORMED',
      `elf header: section header table (${(good.length - shoff) / 64} entries): offset ${0xffffff} size ${good.length - shoff} past end (${good.length} bytes)`,
    );
    rejects(patch(40, [0, 0, 0, 0, 0, 0, 0, 0]), 'BPF_MALFORMED', 'elf header: no section header table');
    rejects(patch(58, [40, 0]), 'BPF_MALFORMED', 'elf header: e_shentsize 40, expected 64');
    rejects(patch(62, [99, 0]), 'BPF_MALFORMED', `elf header: e_shstrndx 99 out of range (${(good.length - shoff) / 64} sections)`);
    rejects(patch(shoff + 64 + 32, [0, 0, 0, 1]), 'BPF_MALFORMED', `elf header: section 1 data: offset 64 size ${0x1000000} past end (${good.length} bytes)`);
    rejects(patch(shoff + 64 + 24, [0, 0, 0, 0, 0, 0, 0x40, 0]), 'BPF_MALFORMED', 'elf header: section 1 sh_offset: value 0x40000000000000 too large');
  });

  it('rejects broken symbols, relocations and instructions', () => {
    const symtab = shoff + 64 * 5;
    rejects(patch(symtab + 56, [16]), 'BPF_MALFORMED', 'section .symtab: entry size 16 / size 96 do not fit 24-byte symbols');
    const relSec = shoff + 64 * 3;
    rejects(patch(relSec + 44, [9]), 'BPF_MALFORMED', 'section .relxdp: sh_info 9 names no section');
    rejects(patch(relSec + 40, [1]), 'BPF_MALFORMED', 'section .relxdp: sh_link 1 is not the symbol table');
    const relData = Number(new DataView(good.buffer).getBigUint64(relSec + 24, true));
    rejects(patch(relData + 12, [77]), 'BPF_MALFORMED', 'section .relxdp: relocation 0: symbol index 77 out of range (4 symbols)');
    rejects(
      programObject({ progSize: 12 }),
      'BPF_MALFORMED',
      'section xdp: function prog at offset 0 size 12 is not whole instructions inside the section (56 bytes)',
    );
    rejects(
      programObject({ progSize: 64 }),
      'BPF_MALFORMED',
      'section xdp: function prog at offset 0 size 64 is not whole instructions inside the section (56 bytes)',
    );
    rejects(programObject({ subCallImm: 40 }), 'BPF_MALFORMED', 'section xdp: prog: call at insn 3: target insn 41 of section 2 is in no function');
  });

  it('rejects data sections and maps that do not match their BTF', () => {
    rejects(buildElf([{ name: '.maps', type: PROGBITS, data: new Uint8Array(8) }]), 'BPF_MALFORMED', 'section .maps: BTF-defined maps need a .BTF section');
    const b = new BtfBuilder();
    const int = b.int('int', 4, 1);
    const v = b.type('x', KIND.var, 0, int, [1]);
    b.type('.data', KIND.datasec, 1, 0, [v, 0, 4]);
    const btf = { name: '.BTF', type: PROGBITS, data: b.bytes() };
    rejects(buildElf([btf]), 'BTF_MALFORMED', 'btf datasec .data: no ELF section of that name');
    rejects(buildElf([{ name: '.data', type: PROGBITS, data: new Uint8Array(4) }, btf], []), 'BPF_MALFORMED', 'global x in .data: no symbol gives its offset');
    rejects(
      buildElf([{ name: '.data', type: PROGBITS, data: new Uint8Array(4) }, btf], [{ name: 'x', section: 1, value: 2, size: 4, info: OBJECT }]),
      'BPF_MALFORMED',
      "global x in .data: offset 2 size 4 past the section's 4 bytes",
    );
    rejects(
      buildElf([{ name: 'maps', type: PROGBITS, data: new Uint8Array(16) }], [{ name: 'm', section: 1, value: 0, size: 16, info: OBJECT }]),
      'BPF_MALFORMED',
      'section maps: 1 maps in 16 bytes: definitions shorter than 20 bytes',
    );
  });

  it('exposes the section table of a good file', () => {
    const elf = parseElf(good);
    expect(elf.sections.map((s) => s.name)).toEqual(['', 'xdp', '.text', '.relxdp', 'license', '.symtab', '.strtab', '.shstrtab']);
    expect(elf.symbols.map((s) => [s.name, s.section, s.size])).toEqual([
      ['', 0, 0],
      ['prog', 1, 56],
      ['sub', 2, 16],
      ['bpf_obj_drop_impl', 0, 0],
    ]);
    expect(elf.relocations.get(1)).toEqual([
      { offset: 24, type: 1, symbol: 2 },
      { offset: 32, type: 1, symbol: 3 },
    ]);
  });
});
