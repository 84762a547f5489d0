/**
 * Decoding records by their type layout (registry-spec/package-v1.md §3.5) into the three forms
 * `ebpm run` prints: JSON text, plain text, and aligned columns with a TIME column (ecli's
 * plain-text export, bpf-loader-rs `export_event/`). Pure: bytes in, strings out.
 *
 * A layout is compiled once into closures so that the per-event path allocates little: a
 * million events must format faster than the kernel can make them.
 *
 * Values: integers of 1–8 bytes as decimal (64-bit ones exact in JSON too: the digits are
 * written out, not rounded through a double), 128-bit integers as JSON strings (as ecli), bools
 * as true/false, enums by name (the number when no name matches), `char[N]` up to the first NUL,
 * arrays and structs nested, pointers as `0x…` and bytes without a type as hex.
 */
import type { FieldLayout, TypeLayout } from '../bpf/layout.js';
import { errnoName, openFlagsText, signalName } from './value-names.js';

/** `ValueFormat` prints one value of a layout found at byte `offset` of `view`. */
export interface ValueFormat {
  json(view: DataView, offset: number): string;
  text(view: DataView, offset: number): string;
}

/** A column's heading: its dotted name (`addr.port`, shown upper-cased) and width. */
export interface ColumnHead {
  readonly name: string;
  readonly width: number;
}

/** One column of the plain output: a leaf of the layout. */
export interface Column extends ColumnHead {
  readonly format: ValueFormat;
  readonly offset: number;
  /** The raw number of an integer, bool or enum leaf, for `--filter`'s comparisons; undefined for other kinds. */
  readonly number?: (view: DataView, offset: number) => number | bigint;
}

/** Width of the TIME column: `HH:MM:SS` and a space. */
export const TIME_WIDTH = 8;

const utf8 = new TextDecoder('utf-8');

function hex(view: DataView, offset: number, size: number): string {
  let s = '';
  for (let i = 0; i < size; i++)
    s += view
      .getUint8(offset + i)
      .toString(16)
      .padStart(2, '0');
  return s;
}

/** The bytes behind `view`, kept while consecutive calls read the same batch buffer. */
function bytesOf(): (view: DataView) => Uint8Array {
  let buffer: ArrayBufferLike | undefined;
  let bytes: Uint8Array = new Uint8Array(0);
  return (view) => {
    if (view.buffer !== buffer) {
      buffer = view.buffer;
      bytes = new Uint8Array(view.buffer);
    }
    return bytes;
  };
}

function cString(view: DataView, offset: number, size: number): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, size);
  const end = bytes.indexOf(0);
  return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

const DEL_AND_C1 = /[\u007f-\u009f]/g;

/**
 * A `char[size]` up to its first NUL. Printable ASCII without `"` or `\\` (nearly every comm
 * and path) is read byte by byte; the last such text is remembered, since consecutive events
 * mostly name the same process. Anything else goes through UTF-8 decoding and JSON escaping.
 */
function stringFormat(size: number): ValueFormat {
  const bytesFor = bytesOf();
  const last = new Uint8Array(size + 1); // the remembered text's bytes, NUL-terminated
  let lastText = '';
  /** The text when plain ASCII, else undefined. */
  const plain = (view: DataView, offset: number): string | undefined => {
    const bytes = bytesFor(view);
    const start = view.byteOffset + offset;
    let same = true;
    let end = 0;
    for (; end < size; end++) {
      const c = bytes[start + end]!;
      if (c === 0) break;
      if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) return undefined;
      if (c !== last[end]) same = false;
    }
    if (same && last[end] === 0) return lastText;
    let s = '';
    for (let i = 0; i < end; i++) s += String.fromCharCode(bytes[start + i]!);
    last.set(bytes.subarray(start, start + end));
    last[end] = 0;
    lastText = s;
    return s;
  };
  return {
    json: (v, o) => {
      const s = plain(v, o);
      return s === undefined ? JSON.stringify(cString(v, o, size)) : `"${s}"`;
    },
    // Control characters are escaped as JSON does, so one record stays one line; DEL and C1
    // (which JSON leaves alone, and a terminal may obey: U+009B is CSI) too.
    text: (v, o) =>
      plain(v, o) ??
      JSON.stringify(cString(v, o, size))
        .slice(1, -1)
        .replace(DEL_AND_C1, (c) => `\\u00${c.charCodeAt(0).toString(16)}`),
  };
}

function same(f: (v: DataView, o: number) => string): ValueFormat {
  return { json: f, text: f };
}

function intReader(size: number, signed: boolean): ((v: DataView, o: number) => number | bigint) | undefined {
  switch (size) {
    case 1:
      return signed ? (v, o) => v.getInt8(o) : (v, o) => v.getUint8(o);
    case 2:
      return signed ? (v, o) => v.getInt16(o, true) : (v, o) => v.getUint16(o, true);
    case 4:
      return signed ? (v, o) => v.getInt32(o, true) : (v, o) => v.getUint32(o, true);
    case 8:
      return signed ? (v, o) => v.getBigInt64(o, true) : (v, o) => v.getBigUint64(o, true);
    case 16:
      return (v, o) => {
        const x = (v.getBigUint64(o + 8, true) << 64n) | v.getBigUint64(o, true);
        return signed ? BigInt.asIntN(128, x) : x;
      };
    default:
      return undefined;
  }
}

/** `enumFormat` prints an enum read by `read` by its name (the first that has its value), else its number. */
function enumFormat(read: (v: DataView, o: number) => number | bigint, values: readonly { name: string; value: number | string }[]): ValueFormat {
  const names = new Map<string, string>();
  for (const { name, value } of values) if (!names.has(String(value))) names.set(String(value), name);
  return {
    json: (v, o) => {
      const x = String(read(v, o));
      const n = names.get(x);
      return n === undefined ? x : `"${n}"`;
    },
    text: (v, o) => {
      const x = String(read(v, o));
      return names.get(x) ?? x;
    },
  };
}

/** `valueFormat` compiles the formatter of one layout. */
export function valueFormat(layout: TypeLayout): ValueFormat {
  switch (layout.kind) {
    case 'int': {
      const read = intReader(layout.size, layout.signed);
      if (read === undefined) return opaque(layout.size);
      if (layout.bool) return same((v, o) => (read(v, o) ? 'true' : 'false'));
      if (layout.size === 16) return { json: (v, o) => `"${read(v, o)}"`, text: (v, o) => String(read(v, o)) };
      return same((v, o) => String(read(v, o)));
    }
    case 'float': {
      if (layout.size !== 4 && layout.size !== 8) return opaque(layout.size);
      const read = layout.size === 4 ? (v: DataView, o: number) => v.getFloat32(o, true) : (v: DataView, o: number) => v.getFloat64(o, true);
      return {
        json: (v, o) => {
          const x = read(v, o);
          return Number.isFinite(x) ? String(x) : 'null';
        },
        text: (v, o) => String(read(v, o)),
      };
    }
    case 'enum': {
      const read = intReader(layout.size, layout.signed);
      if (read === undefined) return opaque(layout.size);
      return enumFormat(read, layout.values);
    }
    case 'string':
      return stringFormat(layout.size);
    case 'pointer': {
      const text = (v: DataView, o: number) => `0x${v.getBigUint64(o, true).toString(16)}`;
      return { json: (v, o) => `"${text(v, o)}"`, text };
    }
    case 'opaque':
      return opaque(layout.size);
    case 'array': {
      const el = valueFormat(layout.element);
      const step = layout.element.size;
      const n = layout.count;
      const json = (v: DataView, o: number) => {
        let s = '[';
        for (let i = 0; i < n; i++) s += (i ? ',' : '') + el.json(v, o + i * step);
        return s + ']';
      };
      return { json, text: json };
    }
    case 'struct':
    case 'union': {
      const fields = layout.fields.map((f) => ({ key: JSON.stringify(f.name), offset: f.offset, format: fieldFormat(f) }));
      const json = (v: DataView, o: number) => {
        let s = '{';
        for (let i = 0; i < fields.length; i++) {
          const f = fields[i]!;
          s += (i ? ',' : '') + f.key + ':' + f.format.json(v, o + f.offset);
        }
        return s + '}';
      };
      return { json, text: json };
    }
  }
}

function opaque(size: number): ValueFormat {
  return { json: (v, o) => `"${hex(v, o, size)}"`, text: (v, o) => hex(v, o, size) };
}

/** The reader of a member's raw number: an integer, bool or enum of 1–16 bytes, or a bitfield of one. */
function fieldNumber(f: FieldLayout): Column['number'] {
  if (f.layout.kind !== 'int' && f.layout.kind !== 'enum') return undefined;
  return f.bitSize === undefined ? intReader(f.layout.size, f.layout.signed) : bitfieldReader(f);
}

/** Reads a bitfield as the doc of FieldLayout says. */
function bitfieldReader(f: FieldLayout): (v: DataView, o: number) => bigint {
  const bitOffset = BigInt(f.bitOffset ?? 0);
  const bitSize = f.bitSize ?? 0;
  const bytes = Math.ceil(((f.bitOffset ?? 0) + bitSize) / 8);
  const signed = (f.layout.kind === 'int' || f.layout.kind === 'enum') && f.layout.signed;
  return (v, o) => {
    let x = 0n;
    for (let i = bytes - 1; i >= 0; i--) x = (x << 8n) | BigInt(v.getUint8(o + i));
    x = BigInt.asUintN(bitSize, x >> bitOffset);
    return signed ? BigInt.asIntN(bitSize, x) : x;
  };
}

/** A member's format: its layout's, or for a bitfield the bits `bitfieldReader` reads. */
function fieldFormat(f: FieldLayout): ValueFormat {
  if (f.bitSize === undefined) return valueFormat(f.layout);
  const read = bitfieldReader(f);
  if (f.layout.kind === 'int' && f.layout.bool) return same((v, o) => (read(v, o) ? 'true' : 'false'));
  if (f.layout.kind === 'enum') {
    return enumFormat(read, f.layout.values);
  }
  return same((v, o) => String(read(v, o)));
}

/** Natural column width of a leaf: wide enough for typical values, as libbpf-tools size theirs. */
function naturalWidth(layout: TypeLayout): number {
  switch (layout.kind) {
    case 'int':
      if (layout.bool) return 5;
      return ({ 1: 4, 2: 6, 4: 7, 8: 12 } as Record<number, number>)[layout.size] ?? 20;
    case 'float':
      return 10;
    case 'enum':
      return Math.min(16, Math.max(6, ...layout.values.map((v) => v.name.length)));
    case 'string':
      return Math.min(layout.size, 16);
    case 'pointer':
      return 18;
    case 'array':
    case 'struct':
    case 'union':
    case 'opaque':
      return 16;
  }
}

/** Which fields print by name (value-names.ts) besides those the name of the field gives away. */
export interface Naming {
  /** A `flags` field holds open(2) flags: the events are of open or openat. */
  readonly openFlags?: boolean;
}

const SIGNAL_FIELDS = new Set(['sig', 'signal', 'signo']);
const ERROR_FIELDS = new Set(['ret', 'err', 'errno']);

/**
 * `named` is a leaf's format with its text shown by name where the field's name says what the
 * number is: a signal, a negative error, open flags. The JSON keeps the number.
 */
function named(f: FieldLayout, naming: Naming): { format: ValueFormat; width: number } {
  const format = fieldFormat(f);
  const width = naturalWidth(f.layout);
  const l = f.layout;
  if (l.kind !== 'int' || l.bool || l.size > 4 || f.bitSize !== undefined) return { format, width };
  const read = intReader(l.size, l.signed) as (v: DataView, o: number) => number;
  // Widths for the common names: SIGVTALRM, -ENOTDIR, O_RDONLY|O_CLOEXEC.
  const [name, wide] = SIGNAL_FIELDS.has(f.name)
    ? [signalName, 9]
    : ERROR_FIELDS.has(f.name) && l.signed
      ? [errnoName, 8]
      : f.name === 'flags' && naming.openFlags
        ? [openFlagsText, 18]
        : [undefined, 0];
  if (name === undefined) return { format, width };
  const text = (v: DataView, o: number) => {
    const n = read(v, o);
    return name(n) ?? String(n);
  };
  return { format: { json: format.json, text }, width: Math.max(width, wide) };
}

/** `columns` flattens a layout into leaf columns; nested structs give dotted names. */
export function columns(layout: TypeLayout, naming: Naming = {}): Column[] {
  const out: Column[] = [];
  const walk = (fields: readonly FieldLayout[], prefix: string, base: number) => {
    for (const f of fields) {
      const name = prefix + f.name;
      if (f.bitSize === undefined && (f.layout.kind === 'struct' || f.layout.kind === 'union')) {
        walk(f.layout.fields, `${name}.`, base + f.offset);
        continue;
      }
      const number = fieldNumber(f);
      const { format, width } = named(f, naming);
      out.push({
        name,
        offset: base + f.offset,
        format,
        width: Math.max(name.length, width),
        ...(number === undefined ? {} : { number }),
      });
    }
  };
  if (layout.kind === 'struct' || layout.kind === 'union') walk(layout.fields, '', 0);
  else {
    const number = layout.kind === 'int' || layout.kind === 'enum' ? intReader(layout.size, layout.signed) : undefined;
    out.push({ name: 'value', offset: 0, format: valueFormat(layout), width: Math.max(5, naturalWidth(layout)), ...(number === undefined ? {} : { number }) });
  }
  return out;
}

/**
 * `EventFormat` prints records of one export: a header and lines for the plain output, JSON
 * lines, and cells for the live table. `length` is the record's size as the kernel gave it; a
 * record shorter than its layout is read as zero-padded.
 */
export interface EventFormat {
  readonly columns: readonly ColumnHead[];
  /** `TIME     PID     COMM …`, without a newline. */
  header(): string;
  /** One aligned line, newline included. */
  line(view: DataView, offset: number, length: number, time: string): string;
  /** One JSON object, newline included. */
  json(view: DataView, offset: number, length: number): string;
  cells(view: DataView, offset: number, length: number): string[];
  /** Whether the record passes the run's `--filter` (always, without one). */
  accepts(view: DataView, offset: number, length: number): boolean;
}

/** `EventShape` is what `--fields` and `--filter` made of a layout's `columns` (event-select.ts). */
export interface EventShape {
  /** The columns to print, in order; JSON then holds these, by their dotted names. Default: every column, and JSON the whole record. */
  readonly columns?: readonly Column[];
  /** Records to print; default: all. */
  readonly test?: (view: DataView, offset: number) => boolean;
  /** How the default columns name values (`columns`). */
  readonly naming?: Naming;
}

/** `eventFormat` compiles the formats of an export's record layout, shaped by `shape`. */
export function eventFormat(layout: TypeLayout, shape: EventShape = {}): EventFormat {
  const cols = shape.columns ?? columns(layout, shape.naming);
  const whole = shape.columns === undefined ? valueFormat(layout) : pickedJson(shape.columns);
  const size = layout.size;
  const scratch = new DataView(new ArrayBuffer(size));
  // Short records (a truncated perf sample) are copied into zeroed scratch space first.
  const at = (view: DataView, offset: number, length: number): [DataView, number] => {
    if (length >= size) return [view, offset];
    new Uint8Array(scratch.buffer).fill(0).set(new Uint8Array(view.buffer, view.byteOffset + offset, length));
    return [scratch, 0];
  };
  const last = cols.length - 1;
  // pads[n]: n spaces and the separator, shared by every line instead of a padEnd per cell
  const pads = Array.from({ length: Math.max(0, ...cols.map((c) => c.width)) + 1 }, (_, n) => ' '.repeat(n + 1));
  const test = shape.test;
  return {
    columns: cols,
    header: () => 'TIME'.padEnd(TIME_WIDTH) + ' ' + cols.map((c, i) => (i === last ? c.name.toUpperCase() : c.name.toUpperCase().padEnd(c.width))).join(' '),
    line(view, offset, length, time) {
      const [v, o] = at(view, offset, length);
      let s = time + ' ';
      for (let i = 0; i < last; i++) {
        const c = cols[i]!;
        const t = c.format.text(v, o + c.offset);
        s += t.length < c.width ? t + pads[c.width - t.length] : t + ' ';
      }
      const c = cols[last]!;
      return s + c.format.text(v, o + c.offset) + '\n';
    },
    json(view, offset, length) {
      const [v, o] = at(view, offset, length);
      return whole.json(v, o) + '\n';
    },
    cells(view, offset, length) {
      const [v, o] = at(view, offset, length);
      return cols.map((c) => c.format.text(v, o + c.offset));
    },
    accepts:
      test === undefined
        ? () => true
        : (view, offset, length) => {
            const [v, o] = at(view, offset, length);
            return test(v, o);
          },
  };
}

/** The JSON of the picked columns only: an object keyed by their dotted names. */
function pickedJson(cols: readonly Column[]): ValueFormat {
  const keys = cols.map((c) => JSON.stringify(c.name));
  const json = (v: DataView, o: number) => {
    let s = '{';
    for (let i = 0; i < cols.length; i++) s += (i ? ',' : '') + keys[i] + ':' + cols[i]!.format.json(v, o + cols[i]!.offset);
    return s + '}';
  };
  return { json, text: json };
}

/** `rawEventFormat` prints records of a map with no export type: their bytes in hex. */
export function rawEventFormat(): EventFormat {
  const data = (view: DataView, offset: number, length: number) => hex(view, offset, length);
  return {
    columns: [{ name: 'data', width: 4 }],
    header: () => 'TIME'.padEnd(TIME_WIDTH) + ' DATA',
    line: (view, offset, length, time) => `${time} ${data(view, offset, length)}\n`,
    json: (view, offset, length) => `{"data":"${data(view, offset, length)}"}\n`,
    cells: (view, offset, length) => [data(view, offset, length)],
    accepts: () => true,
  };
}

/** `clockTime` is `HH:MM:SS` in local time, the TIME column of ecli and libbpf-tools. */
export function clockTime(d: Date): string {
  const p = (n: number) => (n < 10 ? '0' : '') + n;
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
