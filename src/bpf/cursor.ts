import { EbpmError } from '../core/errors.js';

/** The error codes of the BPF object reader; callers match on these. */
export type BpfErrorCode = 'BPF_MALFORMED' | 'BPF_NOT_ELF' | 'BPF_WRONG_MACHINE' | 'BPF_BIG_ENDIAN' | 'BTF_MALFORMED';

const HINT = 'rebuild the object with clang -target bpf -g -O2; the file is damaged or was not produced by a BPF compiler';

/** `bpfError` builds the one error type every malformed input ends in. */
export function bpfError(code: BpfErrorCode, message: string, data?: Record<string, unknown>): EbpmError {
  return new EbpmError(code, message, data === undefined ? { hint: HINT } : { hint: HINT, data });
}

/** A description of where a read happens; a function is only called when the read fails. */
export type Where = string | (() => string);
const text = (w: Where): string => (typeof w === 'string' ? w : w());

/**
 * `Cursor` is a little-endian, bounds-checked view of part of a buffer. Every read names what
 * it reads so an out-of-range access becomes a typed error pointing at the field, never a
 * RangeError or a silent `undefined`. Hot loops `check` a whole table once, then read `view`.
 */
export class Cursor {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly code: BpfErrorCode;
  private readonly where: string;

  constructor(bytes: Uint8Array, code: BpfErrorCode, where: string) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.code = code;
    this.where = where;
  }

  get length(): number {
    return this.bytes.length;
  }

  fail(message: string): EbpmError {
    return bpfError(this.code, `${this.where}: ${message}`);
  }

  /** `check` throws unless `[off, off+len)` lies inside the buffer. */
  check(off: number, len: number, what: Where): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > this.bytes.length) {
      throw this.fail(`${text(what)}: offset ${off} size ${len} past end (${this.bytes.length} bytes)`);
    }
  }

  u8(off: number, what: Where): number {
    this.check(off, 1, what);
    return this.view.getUint8(off);
  }

  u16(off: number, what: Where): number {
    this.check(off, 2, what);
    return this.view.getUint16(off, true);
  }

  u32(off: number, what: Where): number {
    this.check(off, 4, what);
    return this.view.getUint32(off, true);
  }

  i32(off: number, what: Where): number {
    this.check(off, 4, what);
    return this.view.getInt32(off, true);
  }

  /** `u64` reads an offset or size; values past 2^53 cannot describe this buffer and fail. */
  u64(off: number, what: Where): number {
    this.check(off, 8, what);
    const lo = this.view.getUint32(off, true);
    const hi = this.view.getUint32(off + 4, true);
    if (hi > 0x1fffff) throw this.fail(`${text(what)}: value 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} too large`);
    return hi * 0x1_0000_0000 + lo;
  }

  /** `slice` returns a view (no copy) of `[off, off+len)`. */
  slice(off: number, len: number, what: Where): Uint8Array {
    this.check(off, len, what);
    return this.bytes.subarray(off, off + len);
  }
}

const utf8 = new TextDecoder('utf-8');

/**
 * `cstring` reads the NUL-terminated string at `off` of a string table. A string that runs to
 * the end of the table without a NUL is malformed (ELF gABI "String Table"; BTF spec §2.1).
 */
export function cstring(table: Uint8Array, off: number, code: BpfErrorCode, where: Where): string {
  if (!Number.isSafeInteger(off) || off < 0 || off >= table.length) {
    throw bpfError(code, `${text(where)}: string offset ${off} outside string table (${table.length} bytes)`);
  }
  // Identifiers are short ASCII: build them directly, TextDecoder costs more than it saves.
  let s = '';
  for (let i = off; i < table.length; i++) {
    const b = table[i]!;
    if (b === 0) return s;
    if (b >= 0x80 || i - off >= 256) {
      const end = table.indexOf(0, off);
      if (end < 0) break;
      return utf8.decode(table.subarray(off, end));
    }
    s += String.fromCharCode(b);
  }
  throw bpfError(code, `${text(where)}: string at offset ${off} is not NUL-terminated`);
}
