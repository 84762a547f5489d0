// Reader for BTF, the BPF Type Format (kernel Documentation/bpf/btf.rst, "2. BTF Type and
// String Encoding"; uapi linux/btf.h). Every kind up to Linux 6.0's ENUM64 is decoded; every
// type id a type refers to is checked against the table before anyone can follow it.
import { bpfError, Cursor, cstring } from './cursor.js';

export const BTF_MAGIC = 0xeb9f;
const HEADER_MIN = 24;
/** libbpf's MAX_RESOLVE_DEPTH: modifier and typedef chains longer than this are cycles. */
export const MAX_RESOLVE_DEPTH = 32;

export type BtfLinkage = 'static' | 'global' | 'extern';

export interface BtfVoid {
  readonly kind: 'void';
  readonly id: 0;
  readonly name: '';
}
/** BTF_KIND_INT. `bits` may be smaller than `size * 8` for legacy bitfield ints. */
export interface BtfInt {
  readonly kind: 'int';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly char: boolean;
  readonly bool: boolean;
  readonly bitOffset: number;
  readonly bits: number;
}
export interface BtfPtr {
  readonly kind: 'ptr';
  readonly id: number;
  readonly name: string;
  readonly type: number;
}
export interface BtfArray {
  readonly kind: 'array';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly indexType: number;
  readonly nelems: number;
}
/** A struct or union member; `bitfieldSize` is 0 for ordinary members. */
export interface BtfMember {
  readonly name: string;
  readonly type: number;
  readonly bitOffset: number;
  readonly bitfieldSize: number;
}
export interface BtfComposite {
  readonly kind: 'struct' | 'union';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly members: readonly BtfMember[];
}
export interface BtfEnum {
  readonly kind: 'enum';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly { readonly name: string; readonly value: number }[];
}
/** BTF_KIND_ENUM64 (Linux 6.0, LLVM 15): values are exact 64-bit integers. */
export interface BtfEnum64 {
  readonly kind: 'enum64';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly { readonly name: string; readonly value: bigint }[];
}
export interface BtfFwd {
  readonly kind: 'fwd';
  readonly id: number;
  readonly name: string;
  readonly union: boolean;
}
/** Kinds that only point at another type. */
export interface BtfRef {
  readonly kind: 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag';
  readonly id: number;
  readonly name: string;
  readonly type: number;
}
export interface BtfFunc {
  readonly kind: 'func';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly linkage: BtfLinkage;
}
export interface BtfFuncProto {
  readonly kind: 'func_proto';
  readonly id: number;
  readonly name: string;
  readonly returnType: number;
  readonly params: readonly { readonly name: string; readonly type: number }[];
}
export interface BtfVar {
  readonly kind: 'var';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly linkage: BtfLinkage;
}
export interface BtfVarSecinfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}
export interface BtfDatasec {
  readonly kind: 'datasec';
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly vars: readonly BtfVarSecinfo[];
}
export interface BtfFloat {
  readonly kind: 'float';
  readonly id: number;
  readonly name: string;
  readonly size: number;
}
/** BTF_KIND_DECL_TAG (Linux 5.16): `componentIdx` -1 tags the type itself, else a member or parameter. */
export interface BtfDeclTag {
  readonly kind: 'decl_tag';
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly componentIdx: number;
}

export type BtfType =
  | BtfVoid
  | BtfInt
  | BtfPtr
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfEnum64
  | BtfFwd
  | BtfRef
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;

/** Parsed BTF. `types[id]` is the type with that id; `types[0]` is void. */
export interface Btf {
  readonly types: readonly BtfType[];
}

const KINDS = [
  'void',
  'int',
  'ptr',
  'array',
  'struct',
  'union',
  'enum',
  'fwd',
  'typedef',
  'volatile',
  'const',
  'restrict',
  'func',
  'func_proto',
  'var',
  'datasec',
  'float',
  'decl_tag',
  'type_tag',
  'enum64',
] as const;
const LINKAGE: readonly BtfLinkage[] = ['static', 'global', 'extern'];

/** `parseBtf` decodes a `.BTF` section (or /sys/kernel/btf/vmlinux) and validates every reference. */
export function parseBtf(bytes: Uint8Array): Btf {
  const { typeBytes, strings } = split(bytes);
  const types = readTypes(new Cursor(typeBytes, 'BTF_MALFORMED', 'btf type section'), new Strings(strings));
  const btf = { types };
  for (const t of types) validate(btf, t);
  return btf;
}

/** `btfStrings` is the string section of a `.BTF` blob, which `.BTF.ext` names also index. */
export function btfStrings(bytes: Uint8Array): Uint8Array {
  return split(bytes).strings;
}

/**
 * `enumsWithMember` lists the enums (kind ENUM) of a `.BTF` blob that have a member named
 * `member`, each as its members in order. It walks the type section without decoding other
 * types, so the kernel's 100k+ types cost milliseconds instead of a full `parseBtf`.
 */
export function enumsWithMember(bytes: Uint8Array, member: string): { name: string; value: number }[][] {
  const { typeBytes, strings } = split(bytes);
  const want = new TextEncoder().encode(`\0${member}\0`);
  const hits = new Set<number>();
  const table = Buffer.from(strings.buffer, strings.byteOffset, strings.length);
  for (let i = table.indexOf(want); i >= 0; i = table.indexOf(want, i + 1)) hits.add(i + 1);
  if (hits.size === 0) return [];
  const c = new Cursor(typeBytes, 'BTF_MALFORMED', 'btf type section');
  const str = new Strings(strings);
  const out: { name: string; value: number }[][] = [];
  for (let at = 0, id = 1; at < c.length; id++) {
    c.check(at, 12, () => `type [${id}] header`);
    const info = c.view.getUint32(at + 4, true);
    const vlen = info & 0xffff;
    const kind = (info >>> 24) & 0x1f;
    const extra = extraSize(kind, vlen);
    c.check(at + 12, extra, () => `type [${id}] with vlen ${vlen}`);
    if (kind === 6) {
      const offsets = Array.from({ length: vlen }, (_, i) => c.view.getUint32(at + 12 + 8 * i, true));
      if (offsets.some((o) => hits.has(o))) out.push(offsets.map((o, i) => ({ name: str.at(o, id), value: c.view.getInt32(at + 16 + 8 * i, true) })));
    }
    at += 12 + extra;
  }
  return out;
}

/** `split` checks `struct btf_header` and returns the type and string sections it frames. */
export function split(bytes: Uint8Array): { typeBytes: Uint8Array; strings: Uint8Array } {
  const h = new Cursor(bytes, 'BTF_MALFORMED', 'btf header');
  const magic = h.u16(0, 'magic');
  if (magic === 0x9feb) throw bpfError('BPF_BIG_ENDIAN', 'btf header: big-endian BTF; only little-endian is supported');
  if (magic !== BTF_MAGIC) throw h.fail(`bad magic 0x${magic.toString(16)}`);
  const version = h.u8(2, 'version');
  if (version !== 1) throw h.fail(`unsupported version ${version}`);
  const hdrLen = h.u32(4, 'hdr_len');
  if (hdrLen < HEADER_MIN) throw h.fail(`hdr_len ${hdrLen} shorter than ${HEADER_MIN}`);
  h.check(0, hdrLen, `${hdrLen}-byte header`);
  const typeOff = h.u32(8, 'type_off');
  const typeLen = h.u32(12, 'type_len');
  const strOff = h.u32(16, 'str_off');
  const strLen = h.u32(20, 'str_len');
  if (typeOff % 4 !== 0) throw h.fail(`type_off ${typeOff} not 4-byte aligned`);
  const typeBytes = h.slice(hdrLen + typeOff, typeLen, 'type section');
  const strings = h.slice(hdrLen + strOff, strLen, 'string section');
  if (strLen === 0 || strings[0] !== 0 || strings[strLen - 1] !== 0) {
    throw h.fail('string section must start and end with NUL');
  }
  return { typeBytes, strings };
}

/** Names are looked up by offset; vmlinux repeats the same few thousand, so decode each once. */
class Strings {
  private readonly cache: (string | undefined)[];
  constructor(private readonly table: Uint8Array) {
    this.cache = new Array<string | undefined>(table.length);
  }
  at(off: number, id: number): string {
    let s = off < this.table.length ? this.cache[off] : undefined;
    if (s === undefined) {
      s = cstring(this.table, off, 'BTF_MALFORMED', `btf type [${id}] name`);
      this.cache[off] = s;
    }
    return s;
  }
}

/** Bytes each kind adds after the 12-byte `struct btf_type`, by kind number and vlen. */
export function extraSize(kind: number, vlen: number): number {
  switch (kind) {
    case 1:
    case 14:
    case 17:
      return 4; // int encoding, var linkage, decl_tag component_idx
    case 3:
      return 12; // struct btf_array
    case 4:
    case 5:
    case 15:
    case 19:
      return 12 * vlen; // members, var_secinfo, enum64 values
    case 6:
    case 13:
      return 8 * vlen; // enum values, params
    default:
      return 0;
  }
}

function readTypes(c: Cursor, str: Strings): BtfType[] {
  const types: BtfType[] = [{ kind: 'void', id: 0, name: '' }];
  const v = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength);
  const u32 = (off: number) => v.getUint32(off, true);
  let at = 0;
  while (at < c.length) {
    const id = types.length;
    c.check(at, 12, () => `type [${id}] header`);
    const info = u32(at + 4);
    const vlen = info & 0xffff;
    const kindNo = (info >>> 24) & 0x1f;
    const kflag = info >>> 31 === 1;
    const kind = KINDS[kindNo];
    if (kind === undefined || kind === 'void') throw c.fail(`type [${id}]: unknown kind ${kindNo}`);
    c.check(at + 12, extraSize(kindNo, vlen), () => `type [${id}] ${kind} with vlen ${vlen}`);
    const name = str.at(u32(at), id);
    const sizeOrType = u32(at + 8);
    at += 12;
    let t: BtfType;
    switch (kind) {
      case 'int': {
        const enc = u32(at);
        const e = (enc >>> 24) & 0xf;
        t = {
          kind,
          id,
          name,
          size: sizeOrType,
          signed: (e & 1) !== 0,
          char: (e & 2) !== 0,
          bool: (e & 4) !== 0,
          bitOffset: (enc >>> 16) & 0xff,
          bits: enc & 0xff,
        };
        break;
      }
      case 'array':
        t = { kind, id, name, type: u32(at), indexType: u32(at + 4), nelems: u32(at + 8) };
        break;
      case 'struct':
      case 'union': {
        const members: BtfMember[] = [];
        for (let i = 0, m = at; i < vlen; i++, m += 12) {
          const off = u32(m + 8);
          // kind_flag set: offset packs bitfield_size << 24 | bit_offset (btf.rst 2.2.5).
          members.push({ name: str.at(u32(m), id), type: u32(m + 4), bitOffset: kflag ? off & 0xffffff : off, bitfieldSize: kflag ? off >>> 24 : 0 });
        }
        t = { kind, id, name, size: sizeOrType, members };
        break;
      }
      case 'enum': {
        const values: { name: string; value: number }[] = [];
        for (let i = 0, m = at; i < vlen; i++, m += 8) {
          values.push({ name: str.at(u32(m), id), value: kflag ? v.getInt32(m + 4, true) : u32(m + 4) });
        }
        t = { kind, id, name, size: sizeOrType, signed: kflag, values };
        break;
      }
      case 'enum64': {
        const values: { name: string; value: bigint }[] = [];
        for (let i = 0, m = at; i < vlen; i++, m += 12) {
          const u = (BigInt(u32(m + 8)) << 32n) | BigInt(u32(m + 4));
          values.push({ name: str.at(u32(m), id), value: kflag ? BigInt.asIntN(64, u) : u });
        }
        t = { kind, id, name, size: sizeOrType, signed: kflag, values };
        break;
      }
      case 'fwd':
        t = { kind, id, name, union: kflag };
        break;
      case 'ptr':
        t = { kind, id, name, type: sizeOrType };
        break;
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        t = { kind, id, name, type: sizeOrType };
        break;
      case 'func': {
        const linkage = LINKAGE[vlen];
        if (linkage === undefined) throw c.fail(`type [${id}]: func linkage ${vlen} unknown`);
        t = { kind, id, name, type: sizeOrType, linkage };
        break;
      }
      case 'func_proto': {
        const params: { name: string; type: number }[] = [];
        for (let i = 0, m = at; i < vlen; i++, m += 8) params.push({ name: str.at(u32(m), id), type: u32(m + 4) });
        t = { kind, id, name, returnType: sizeOrType, params };
        break;
      }
      case 'var': {
        const linkage = LINKAGE[u32(at)];
        if (linkage === undefined) throw c.fail(`type [${id}]: var linkage ${u32(at)} unknown`);
        t = { kind, id, name, type: sizeOrType, linkage };
        break;
      }
      case 'datasec': {
        const vars: BtfVarSecinfo[] = [];
        for (let i = 0, m = at; i < vlen; i++, m += 12) vars.push({ type: u32(m), offset: u32(m + 4), size: u32(m + 8) });
        t = { kind, id, name, size: sizeOrType, vars };
        break;
      }
      case 'float':
        t = { kind, id, name, size: sizeOrType };
        break;
      case 'decl_tag':
        t = { kind, id, name, type: sizeOrType, componentIdx: v.getInt32(at, true) };
        break;
    }
    at += extraSize(kindNo, vlen);
    types.push(t);
  }
  return types;
}

/** `validate` applies the kernel's per-kind checks (kernel/bpf/btf.c *_check_meta) we rely on. */
function validate(btf: Btf, t: BtfType): void {
  const where = () => `btf type [${t.id}] ${t.kind}${t.name ? ` ${t.name}` : ''}`;
  const ref = (id: number, what: string) => {
    if (id >= btf.types.length) throw bpfError('BTF_MALFORMED', `${where()}: ${what} type id ${id} out of range (${btf.types.length} types)`, { typeId: t.id });
  };
  switch (t.kind) {
    case 'void':
      return;
    case 'int':
      if (![1, 2, 4, 8, 16].includes(t.size) || t.bits === 0 || t.bitOffset + t.bits > t.size * 8) {
        throw bpfError('BTF_MALFORMED', `${where()}: size ${t.size} with ${t.bits} bits at offset ${t.bitOffset} is not a valid integer`, { typeId: t.id });
      }
      return;
    case 'float':
      if (![2, 4, 8, 12, 16].includes(t.size)) throw bpfError('BTF_MALFORMED', `${where()}: size ${t.size} is not a valid float`, { typeId: t.id });
      return;
    case 'enum':
    case 'enum64':
      if (![1, 2, 4, 8].includes(t.size)) throw bpfError('BTF_MALFORMED', `${where()}: size ${t.size} is not a valid enum size`, { typeId: t.id });
      return;
    case 'fwd':
      return;
    case 'array':
      ref(t.type, 'element');
      ref(t.indexType, 'index');
      return;
    case 'struct':
    case 'union':
      t.members.forEach((m, i) => {
        ref(m.type, `member ${i}`);
        if (m.bitOffset + m.bitfieldSize > t.size * 8 && !(t.size === 0 && m.bitOffset === 0)) {
          throw bpfError('BTF_MALFORMED', `${where()}: member ${i} ${m.name} at bit ${m.bitOffset} lies outside size ${t.size}`, { typeId: t.id });
        }
      });
      return;
    case 'func':
      ref(t.type, 'prototype');
      if (btf.types[t.type]?.kind !== 'func_proto') throw bpfError('BTF_MALFORMED', `${where()}: type ${t.type} is not a func_proto`, { typeId: t.id });
      return;
    case 'func_proto':
      ref(t.returnType, 'return');
      for (const [i, p] of t.params.entries()) ref(p.type, `param ${i}`);
      return;
    case 'datasec':
      t.vars.forEach((v, i) => {
        ref(v.type, `var ${i}`);
        if (btf.types[v.type]?.kind !== 'var' && btf.types[v.type]?.kind !== 'func') {
          throw bpfError('BTF_MALFORMED', `${where()}: entry ${i} type ${v.type} is not a var`, { typeId: t.id });
        }
      });
      return;
    case 'decl_tag':
      ref(t.type, 'tagged');
      if (t.componentIdx < -1) throw bpfError('BTF_MALFORMED', `${where()}: component_idx ${t.componentIdx} invalid`, { typeId: t.id });
      return;
    case 'ptr':
    case 'typedef':
    case 'volatile':
    case 'const':
    case 'restrict':
    case 'type_tag':
    case 'var':
      ref(t.type, 'target');
      return;
  }
}

/** `btfType` returns type `id`, or throws BTF_MALFORMED naming `where`. */
export function btfType(btf: Btf, id: number, where = 'btf'): BtfType {
  const t = btf.types[id];
  if (t === undefined) throw bpfError('BTF_MALFORMED', `${where}: type id ${id} out of range (${btf.types.length} types)`, { typeId: id });
  return t;
}

function follow(btf: Btf, id: number, skip: (t: BtfType) => t is BtfRef): BtfType {
  let t = btfType(btf, id);
  for (let depth = 0; skip(t); depth++) {
    if (depth >= MAX_RESOLVE_DEPTH)
      throw bpfError('BTF_MALFORMED', `btf type [${id}]: modifier/typedef chain longer than ${MAX_RESOLVE_DEPTH} (a cycle?)`, { typeId: id });
    t = btfType(btf, t.type);
  }
  return t;
}

const MODIFIERS: ReadonlySet<string> = new Set(['const', 'volatile', 'restrict', 'type_tag']);
const isModifier = (t: BtfType): t is BtfRef => MODIFIERS.has(t.kind);
const isModifierOrTypedef = (t: BtfType): t is BtfRef => MODIFIERS.has(t.kind) || t.kind === 'typedef';

/** `skipModifiers` follows const, volatile, restrict and type_tag, keeping typedefs. */
export function skipModifiers(btf: Btf, id: number): BtfType {
  return follow(btf, id, isModifier);
}

/** `resolveType` follows modifiers and typedefs to the underlying type (libbpf skip_mods_and_typedefs). */
export function resolveType(btf: Btf, id: number): BtfType {
  return follow(btf, id, isModifierOrTypedef);
}

/**
 * `typeSize` is the byte size of a type as the compiler laid it out (pointers are 8 bytes: BPF
 * is a 64-bit target). Types without a size (void, func, fwd) are BTF_MALFORMED here.
 */
export function typeSize(btf: Btf, id: number, depth = 0): number {
  if (depth > MAX_RESOLVE_DEPTH) throw bpfError('BTF_MALFORMED', `btf type [${id}]: nested too deeply to size`, { typeId: id });
  const t = resolveType(btf, id);
  switch (t.kind) {
    case 'int':
    case 'enum':
    case 'enum64':
    case 'float':
    case 'struct':
    case 'union':
    case 'datasec':
      return t.size;
    case 'ptr':
      return 8;
    case 'array': {
      const n = typeSize(btf, t.type, depth + 1) * t.nelems;
      if (!Number.isSafeInteger(n)) throw bpfError('BTF_MALFORMED', `btf type [${t.id}]: array size overflows`, { typeId: t.id });
      return n;
    }
    case 'var':
      return typeSize(btf, t.type, depth + 1);
    case 'void':
    case 'fwd':
    case 'func':
    case 'func_proto':
    case 'decl_tag':
      throw bpfError('BTF_MALFORMED', `btf type [${id}] ${t.kind}${t.name ? ` ${t.name}` : ''} has no size`, { typeId: id });
    case 'typedef':
    case 'const':
    case 'volatile':
    case 'restrict':
    case 'type_tag':
      throw bpfError('BTF_MALFORMED', `btf type [${id}]: unresolved ${t.kind}`, { typeId: id });
  }
}

/**
 * `typeName` spells a type the way C would, without qualifiers: `pid_t`, `struct event`,
 * `char[16]`, `u32 *`. Anonymous composites print as `struct {...}`.
 */
export function typeName(btf: Btf, id: number, depth = 0): string {
  if (depth > MAX_RESOLVE_DEPTH) throw bpfError('BTF_MALFORMED', `btf type [${id}]: nested too deeply to name`, { typeId: id });
  const t = skipModifiers(btf, id);
  switch (t.kind) {
    case 'void':
      return 'void';
    case 'struct':
    case 'union':
      return `${t.kind} ${t.name || '{...}'}`;
    case 'enum':
    case 'enum64':
      return `enum ${t.name || '{...}'}`;
    case 'fwd':
      return `${t.union ? 'union' : 'struct'} ${t.name}`;
    case 'ptr':
      return `${typeName(btf, t.type, depth + 1)} *`;
    case 'array':
      return `${typeName(btf, t.type, depth + 1)}[${t.nelems}]`;
    case 'func_proto':
      return 'fn';
    case 'var':
      return typeName(btf, t.type, depth + 1);
    case 'int':
    case 'float':
    case 'typedef':
    case 'func':
    case 'datasec':
    case 'decl_tag':
      return t.name;
    case 'const':
    case 'volatile':
    case 'restrict':
    case 'type_tag':
      throw bpfError('BTF_MALFORMED', `btf type [${id}]: unresolved ${t.kind}`, { typeId: id });
  }
}

/** `findType` returns the first type of `kind` named `name`, if any. */
export function findType<K extends BtfType['kind']>(btf: Btf, kind: K, name: string): (BtfType & { kind: K }) | undefined {
  return btf.types.find((t): t is BtfType & { kind: K } => t.kind === kind && t.name === name);
}
