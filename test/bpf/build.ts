// Byte-level builders for BTF blobs and ELF objects, for inputs no compiler on this machine
// writes (ENUM64 needs LLVM 15+) and for deliberately broken files.

/** BTF kind numbers (uapi linux/btf.h). */
export const KIND = {
  int: 1,
  ptr: 2,
  array: 3,
  struct: 4,
  union: 5,
  enum: 6,
  fwd: 7,
  typedef: 8,
  volatile: 9,
  const: 10,
  restrict: 11,
  func: 12,
  func_proto: 13,
  var: 14,
  datasec: 15,
  float: 16,
  decl_tag: 17,
  type_tag: 18,
  enum64: 19,
} as const;

/** `BtfBuilder` appends types (ids from 1) and strings, then writes a `.BTF` blob. */
export class BtfBuilder {
  private readonly words: number[] = [];
  private strings = '\0';
  private count = 0;

  str(s: string): number {
    if (s === '') return 0;
    const at = this.strings.indexOf(`\0${s}\0`);
    if (at >= 0) return at + 1;
    const off = this.strings.length;
    this.strings += `${s}\0`;
    return off;
  }

  /** Adds a type: name, kind, vlen, kind_flag, size/type, then the kind's extra u32 words. */
  type(name: string, kind: number, vlen: number, sizeOrType: number, extra: number[] = [], kflag = false): number {
    this.words.push(this.str(name), ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType, ...extra);
    return ++this.count;
  }

  int(name: string, size: number, encoding = 0, bits = size * 8, offset = 0): number {
    return this.type(name, KIND.int, 0, size, [(encoding << 24) | (offset << 16) | bits]);
  }

  struct(name: string, size: number, members: [string, number, number][], kind: 'struct' | 'union' = 'struct', kflag = false): number {
    return this.type(
      name,
      KIND[kind],
      members.length,
      size,
      members.flatMap(([n, t, off]) => [this.str(n), t, off]),
      kflag,
    );
  }

  bytes(): Uint8Array {
    const strBytes = new TextEncoder().encode(this.strings);
    const typeLen = this.words.length * 4;
    const out = new Uint8Array(24 + typeLen + strBytes.length);
    const v = new DataView(out.buffer);
    v.setUint16(0, 0xeb9f, true);
    v.setUint8(2, 1);
    v.setUint32(4, 24, true);
    v.setUint32(8, 0, true);
    v.setUint32(12, typeLen, true);
    v.setUint32(16, typeLen, true);
    v.setUint32(20, strBytes.length, true);
    for (const [i, w] of this.words.entries()) v.setUint32(24 + i * 4, w >>> 0, true);
    out.set(strBytes, 24 + typeLen);
    return out;
  }
}

export interface SectionDef {
  readonly name: string;
  readonly type: number;
  readonly flags?: number;
  readonly data?: Uint8Array;
  /** For SHT_NOBITS: the size with no bytes in the file. */
  readonly size?: number;
  readonly link?: number;
  readonly info?: number;
  readonly entsize?: number;
}

export interface SymbolDef {
  readonly name: string;
  readonly section: number;
  readonly value: number;
  readonly size: number;
  /** st_info: bind << 4 | type. */
  readonly info: number;
}

/**
 * `buildElf` writes an ELF64 LE relocatable for EM_BPF with the given sections (indexes from 1)
 * and, when `symbols` is given, a `.symtab` + `.strtab` appended after them.
 */
export function buildElf(sections: SectionDef[], symbols?: SymbolDef[]): Uint8Array {
  const all = [...sections];
  if (symbols !== undefined) {
    let strtab = '\0';
    const sym = new Uint8Array(24 * (symbols.length + 1));
    const sv = new DataView(sym.buffer);
    symbols.forEach((s, i) => {
      const at = 24 * (i + 1);
      sv.setUint32(at, strtab.length, true);
      strtab += `${s.name}\0`;
      sv.setUint8(at + 4, s.info);
      sv.setUint16(at + 6, s.section, true);
      sv.setBigUint64(at + 8, BigInt(s.value), true);
      sv.setBigUint64(at + 16, BigInt(s.size), true);
    });
    const strIdx = all.length + 2;
    all.push({ name: '.symtab', type: 2, data: sym, link: strIdx, entsize: 24 });
    all.push({ name: '.strtab', type: 3, data: new TextEncoder().encode(strtab) });
  }
  let shstr = '\0';
  const nameOff = all.map((s) => {
    const off = shstr.length;
    shstr += `${s.name}\0`;
    return off;
  });
  const shstrOff = shstr.length;
  shstr += '.shstrtab\0';
  all.push({ name: '.shstrtab', type: 3, data: new TextEncoder().encode(shstr) });
  nameOff.push(shstrOff);

  const dataOffsets: number[] = [];
  let at = 64;
  for (const s of all) {
    at = (at + 7) & ~7;
    dataOffsets.push(at);
    if (s.type !== 8) at += s.data?.length ?? 0;
  }
  const shoff = (at + 7) & ~7;
  const out = new Uint8Array(shoff + 64 * (all.length + 1));
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 1, true); // ET_REL
  v.setUint16(18, 247, true); // EM_BPF
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, all.length + 1, true);
  v.setUint16(62, all.length, true);
  all.forEach((s, i) => {
    const h = shoff + 64 * (i + 1);
    if (s.type !== 8 && s.data) out.set(s.data, dataOffsets[i]!);
    v.setUint32(h, nameOff[i]!, true);
    v.setUint32(h + 4, s.type, true);
    v.setBigUint64(h + 8, BigInt(s.flags ?? 0), true);
    v.setBigUint64(h + 24, BigInt(dataOffsets[i]!), true);
    v.setBigUint64(h + 32, BigInt(s.type === 8 ? (s.size ?? 0) : (s.data?.length ?? 0)), true);
    v.setUint32(h + 40, s.link ?? 0, true);
    v.setUint32(h + 44, s.info ?? 0, true);
    v.setBigUint64(h + 48, 8n, true);
    v.setBigUint64(h + 56, BigInt(s.entsize ?? 0), true);
  });
  return out;
}

/** `buildBtfExt` writes a 32-byte-header `.BTF.ext` from blocks given as u32 words (rec_size first). */
export function buildBtfExt(blocks: { func?: number[]; line?: number[]; core?: number[] }): Uint8Array {
  const parts = [blocks.func ?? [], blocks.line ?? [], blocks.core ?? []];
  const words = parts.flat();
  const out = new Uint8Array(32 + words.length * 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 32, true);
  let off = 0;
  parts.forEach((p, i) => {
    v.setUint32(8 + i * 8, off, true);
    v.setUint32(12 + i * 8, p.length * 4, true);
    off += p.length * 4;
  });
  for (const [i, w] of words.entries()) v.setUint32(32 + i * 4, w >>> 0, true);
  return out;
}

/** `btfStringTable` returns the string section of a BTF blob written by `BtfBuilder`. */
export function btfStringTable(btf: Uint8Array): Uint8Array {
  const v = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  return btf.subarray(24 + v.getUint32(16, true));
}
