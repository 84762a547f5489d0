/**
 * A pure WebAssembly binary parser (core spec 2.0, https://webassembly.github.io/spec/core/binary/):
 * it reads what ebpm needs to know about a module without instantiating it: types, imports,
 * exports, memories and data segments. It never allocates from a size it has not checked
 * against the bytes it was given.
 */
import { EbpmError } from '../core/errors.js';

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

export interface Limits {
  readonly min: number;
  readonly max?: number;
}

export type ImportDesc =
  | { readonly kind: 'function'; readonly type: FuncType }
  | { readonly kind: 'table'; readonly element: ValType; readonly limits: Limits }
  | { readonly kind: 'memory'; readonly limits: Limits; readonly shared: boolean; readonly memory64: boolean }
  | { readonly kind: 'global'; readonly type: ValType; readonly mutable: boolean }
  | { readonly kind: 'tag'; readonly type: FuncType };

export type Import = { readonly module: string; readonly name: string } & ImportDesc;

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export interface Export {
  readonly name: string;
  readonly kind: ExternKind;
  readonly index: number;
}

export interface Memory {
  readonly limits: Limits;
  readonly shared: boolean;
  readonly memory64: boolean;
}

/**
 * One data segment. An active segment has the memory it initialises and its constant offset
 * (`undefined` when the offset is a `global.get` or another expression not known statically).
 */
export type DataSegment =
  | { readonly mode: 'active'; readonly memory: number; readonly offset: number | undefined; readonly bytes: Uint8Array }
  | { readonly mode: 'passive'; readonly bytes: Uint8Array };

export interface WasmModule {
  readonly types: readonly FuncType[];
  readonly imports: readonly Import[];
  readonly exports: readonly Export[];
  /** Memories the module defines itself (imported memories are in `imports`). */
  readonly memories: readonly Memory[];
  readonly data: readonly DataSegment[];
  /** Names of custom sections, in order (`name`, `producers`, `target_features`, …). */
  readonly customSections: readonly string[];
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const KINDS: readonly ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];
const VALTYPES: Record<number, ValType> = { 127: 'i32', 126: 'i64', 125: 'f32', 124: 'f64', 123: 'v128', 112: 'funcref', 111: 'externref' };
/** One decoder for every name: a module has dozens, and each new TextDecoder is validated and set up. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Known section ids in their required order (the data count section 12 comes before code 10). */
export const SECTION_ORDER: Readonly<Record<number, number>> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

export function invalid(what: string, offset: number): EbpmError {
  return new EbpmError('WASM_INVALID', `parse wasm module: ${what} at offset ${offset}`, {
    hint: 'the file is not a valid WebAssembly module; rebuild it with clang --target=wasm32-wasi',
    data: { offset },
  });
}

/** A bounds-checked cursor over the module bytes. */
export class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  byte(): number {
    if (this.pos >= this.end) throw invalid('unexpected end', this.pos);
    return this.bytes[this.pos++]!;
  }
  /** Unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) throw invalid('integer too large', this.pos - 1);
        return result;
      }
    }
    throw invalid('integer representation too long', this.pos);
  }
  /** Unsigned LEB128 of at most 64 bits. */
  u64(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (result >= 1n << 64n) throw invalid('integer too large', this.pos - 1);
        return result;
      }
    }
    throw invalid('integer representation too long', this.pos);
  }
  /** Signed LEB128 of `bits` bits, as a bigint. */
  sleb(bits: number): bigint {
    let result = 0n;
    let shift = 0n;
    const maxBytes = Math.ceil(bits / 7);
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= 1n << shift;
        return BigInt.asIntN(bits, result);
      }
    }
    throw invalid('integer representation too long', this.pos);
  }
  /** Skips a LEB128 of at most `bits` bits without decoding it (BigInt arithmetic is slow where only boundaries matter). */
  skipLeb(bits: number): void {
    for (let i = Math.ceil(bits / 7); i > 0; i--) if ((this.byte() & 0x80) === 0) return;
    throw invalid('integer representation too long', this.pos);
  }
  take(n: number): Uint8Array {
    if (n > this.end - this.pos) throw invalid(`length ${n} runs past the end`, this.pos);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    const at = this.pos;
    const raw = this.take(this.u32());
    try {
      return UTF8.decode(raw);
    } catch {
      throw invalid('name is not UTF-8', at);
    }
  }
  /** A vector length, checked against the bytes left (every element takes at least one byte). */
  count(): number {
    const at = this.pos;
    const n = this.u32();
    if (n > this.end - this.pos) throw invalid(`vector of ${n} elements runs past the end`, at);
    return n;
  }
}

function valType(r: Reader): ValType {
  const at = r.pos;
  const t = VALTYPES[r.byte()];
  if (!t) throw invalid('unknown value type', at);
  return t;
}

function limits(r: Reader): { limits: Limits; shared: boolean; memory64: boolean } {
  const at = r.pos;
  const flags = r.byte();
  if (flags > 0x07) throw invalid('unknown limits flags', at);
  const memory64 = (flags & 0x04) !== 0;
  const read = () => (memory64 ? Number(r.u64()) : r.u32());
  const min = read();
  const max = flags & 0x01 ? read() : undefined;
  return { limits: max === undefined ? { min } : { min, max }, shared: (flags & 0x02) !== 0, memory64 };
}

function funcType(r: Reader): FuncType {
  const at = r.pos;
  if (r.byte() !== 0x60) throw invalid('unsupported type form (only function types are)', at);
  const params = Array.from({ length: r.count() }, () => valType(r));
  const results = Array.from({ length: r.count() }, () => valType(r));
  return { params, results };
}

function typeAt(types: readonly FuncType[], index: number, at: number): FuncType {
  const t = types[index];
  if (!t) throw invalid(`type index ${index} out of range`, at);
  return t;
}

/**
 * A constant expression (spec §3.3.10): the value when it is a lone `i32.const`/`i64.const`,
 * `undefined` for `global.get` and extended-const arithmetic.
 */
function constExpr(r: Reader): number | undefined {
  let value: number | undefined;
  let ops = 0;
  for (;;) {
    const at = r.pos;
    const op = r.byte();
    if (op === 0x0b) break;
    ops++;
    if (op === 0x41) value = Number(r.sleb(32)) >>> 0;
    else if (op === 0x42) value = Number(BigInt.asUintN(64, r.sleb(64)));
    else if (op === 0x23) {
      r.u32();
      value = undefined;
    } else if (op === 0x6a || op === 0x6b || op === 0x6c || op === 0x7c || op === 0x7d || op === 0x7e) value = undefined;
    else throw invalid(`unsupported opcode 0x${op.toString(16)} in constant expression`, at);
  }
  return ops === 1 ? value : undefined;
}

function importDesc(r: Reader, types: readonly FuncType[]): ImportDesc {
  const at = r.pos;
  const kind = r.byte();
  switch (kind) {
    case 0x00:
      return { kind: 'function', type: typeAt(types, r.u32(), at) };
    case 0x01: {
      const element = valType(r);
      return { kind: 'table', element, limits: limits(r).limits };
    }
    case 0x02:
      return { kind: 'memory', ...limits(r) };
    case 0x03: {
      const type = valType(r);
      const m = r.byte();
      if (m > 1) throw invalid('bad global mutability', r.pos - 1);
      return { kind: 'global', type, mutable: m === 1 };
    }
    case 0x04:
      if (r.byte() !== 0x00) throw invalid('bad tag attribute', r.pos - 1);
      return { kind: 'tag', type: typeAt(types, r.u32(), at) };
    default:
      throw invalid(`unknown import kind ${kind}`, at);
  }
}

function dataSegment(r: Reader): DataSegment {
  const at = r.pos;
  const flags = r.u32();
  if (flags === 1) return { mode: 'passive', bytes: r.take(r.u32()) };
  if (flags !== 0 && flags !== 2) throw invalid(`unknown data segment flags ${flags}`, at);
  const memory = flags === 2 ? r.u32() : 0;
  const offset = constExpr(r);
  return { mode: 'active', memory, offset, bytes: r.take(r.u32()) };
}

/** `isWasmModule` tells a Wasm module by its magic number (`\0asm`). */
export function isWasmModule(bytes: Uint8Array): boolean {
  return MAGIC.every((b, i) => bytes[i] === b);
}

/** `parseWasm` decodes the module-level structure of a Wasm binary; function bodies are skipped. */
export function parseWasm(bytes: Uint8Array): WasmModule {
  const r = new Reader(bytes);
  if (bytes.length < 8 || !isWasmModule(bytes)) throw invalid('missing \\0asm magic', 0);
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw invalid('unsupported binary version', 4);
  r.pos = 8;
  const types: FuncType[] = [];
  const imports: Import[] = [];
  const exports: Export[] = [];
  const memories: Memory[] = [];
  const data: DataSegment[] = [];
  const customSections: string[] = [];
  let lastOrder = 0;
  while (!r.done) {
    const at = r.pos;
    const id = r.byte();
    const size = r.u32();
    const s = new Reader(bytes, r.pos, r.pos + size);
    r.take(size);
    if (id === 0) {
      customSections.push(s.name());
      continue;
    }
    const order = SECTION_ORDER[id];
    if (order === undefined) throw invalid(`unknown section id ${id}`, at);
    if (order <= lastOrder) throw invalid(`section ${id} out of order`, at);
    lastOrder = order;
    switch (id) {
      case 1:
        for (let n = s.count(); n > 0; n--) types.push(funcType(s));
        break;
      case 2:
        for (let n = s.count(); n > 0; n--) {
          const module = s.name();
          const name = s.name();
          imports.push({ module, name, ...importDesc(s, types) });
        }
        break;
      case 5:
        for (let n = s.count(); n > 0; n--) memories.push(limits(s));
        break;
      case 7:
        for (let n = s.count(); n > 0; n--) {
          const name = s.name();
          const kindAt = s.pos;
          const kind = KINDS[s.byte()];
          if (!kind) throw invalid('unknown export kind', kindAt);
          exports.push({ name, kind, index: s.u32() });
        }
        break;
      case 11:
        for (let n = s.count(); n > 0; n--) data.push(dataSegment(s));
        break;
      default:
        // function, table, global, start, element, code, data count, tag: not needed here.
        s.pos = s.end;
    }
    if (s.pos !== s.end) throw invalid(`section ${id} size mismatch`, at);
  }
  return { types, imports, exports, memories, data, customSections };
}

/** `EmbeddedObject` is a BPF ELF object found in a module's initial memory image. */
export interface EmbeddedObject {
  /** Linear-memory address of the first byte (for passive segments: offset within the segment). */
  readonly address: number;
  readonly bytes: Uint8Array;
}

/** Gaps up to this size between active segments are read as zeros (memory starts zeroed). */
const MAX_GAP = 64 * 1024;
const EM_BPF = 247;

/**
 * `embeddedObjects` finds BPF ELF objects (ELF64, little endian, ET_REL, EM_BPF) in the
 * module's data. Active segments are laid out at their offsets first, so an object that the
 * linker split across adjacent segments (TinyGo does) is found whole; the object's extent is
 * taken from its own headers (the end of the section header table or of the last section).
 */
export function embeddedObjects(mod: WasmModule): EmbeddedObject[] {
  const found: EmbeddedObject[] = [];
  for (const image of memoryImages(mod)) {
    for (let i = image.bytes.indexOf(0x7f); i >= 0 && i + 64 <= image.bytes.length; i = image.bytes.indexOf(0x7f, i + 1)) {
      const size = bpfElfSize(image.bytes, i);
      if (size === undefined) continue;
      found.push({ address: image.address + i, bytes: image.bytes.slice(i, i + size) });
      i += size - 1;
    }
  }
  return found;
}

function memoryImages(mod: WasmModule): { address: number; bytes: Uint8Array }[] {
  const active = mod.data
    .filter((d): d is Extract<DataSegment, { mode: 'active' }> => d.mode === 'active' && d.offset !== undefined)
    .sort((a, b) => a.memory - b.memory || a.offset! - b.offset!);
  const images: { address: number; memory: number; parts: { offset: number; bytes: Uint8Array }[]; end: number }[] = [];
  for (const seg of active) {
    const last = images[images.length - 1];
    const offset = seg.offset!;
    if (last && last.memory === seg.memory && offset <= last.end + MAX_GAP) {
      last.parts.push({ offset, bytes: seg.bytes });
      last.end = Math.max(last.end, offset + seg.bytes.length);
    } else {
      images.push({ address: offset, memory: seg.memory, parts: [{ offset, bytes: seg.bytes }], end: offset + seg.bytes.length });
    }
  }
  const out: { address: number; bytes: Uint8Array }[] = images.map((img) => {
    const bytes = new Uint8Array(img.end - img.address);
    for (const p of img.parts) bytes.set(p.bytes, p.offset - img.address);
    return { address: img.address, bytes };
  });
  for (const d of mod.data) if (d.mode === 'passive') out.push({ address: 0, bytes: d.bytes });
  return out;
}

/** The size of the BPF ELF object starting at `at`, or undefined when it is not one or is cut off. */
function bpfElfSize(b: Uint8Array, at: number): number | undefined {
  if (b[at] !== 0x7f || b[at + 1] !== 0x45 || b[at + 2] !== 0x4c || b[at + 3] !== 0x46) return undefined;
  if (b[at + 4] !== 2 || b[at + 5] !== 1) return undefined; // ELFCLASS64, ELFDATA2LSB
  const v = new DataView(b.buffer, b.byteOffset + at, b.length - at);
  if (v.getUint16(16, true) !== 1 || v.getUint16(18, true) !== EM_BPF) return undefined;
  const shoff = Number(v.getBigUint64(40, true));
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  if (shentsize !== 64) return undefined;
  let end = shoff + shnum * shentsize;
  if (end > v.byteLength) return undefined;
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    const type = v.getUint32(sh + 4, true);
    if (type === 8) continue; // SHT_NOBITS occupies no file space
    const secEnd = Number(v.getBigUint64(sh + 24, true)) + Number(v.getBigUint64(sh + 32, true));
    end = Math.max(end, secEnd);
  }
  return end <= v.byteLength ? end : undefined;
}
