// Self-contained type layouts: what `ebpm run` needs to decode ring buffer records and map
// values without BTF at run time. This is part of the ebpm package format (registry-spec/), so
// the shape below only grows by adding optional fields.
import { btfType, MAX_RESOLVE_DEPTH, type Btf, type BtfType } from './btf.js';
import { bpfError } from './cursor.js';

/**
 * The layout of one C type, JSON-serialisable. Every variant has `size` in bytes and, when the
 * source spelled it with a name users know (`pid_t`, `event`, `unsigned int`), `name`: the
 * outermost typedef name if there is one, else the type's own name. All integers are
 * little-endian (BPF objects are).
 */
export type TypeLayout = IntLayout | FloatLayout | EnumLayout | StringLayout | ArrayLayout | CompositeLayout | PointerLayout | OpaqueLayout;

interface LayoutBase {
  /** Size in bytes. */
  readonly size: number;
  readonly name?: string;
}

/** An integer of 1, 2, 4, 8 or 16 bytes. `bool` marks C `_Bool`/`bool`: print true/false. */
export interface IntLayout extends LayoutBase {
  readonly kind: 'int';
  readonly signed: boolean;
  readonly bool?: true;
}

/** An IEEE-754 float of `size` bytes. */
export interface FloatLayout extends LayoutBase {
  readonly kind: 'float';
}

/**
 * An enum stored as an integer of `size` bytes. `values` keeps declaration order; a value
 * outside ±2^53 (only possible in 64-bit enums) is a decimal string.
 */
export interface EnumLayout extends LayoutBase {
  readonly kind: 'enum';
  readonly signed: boolean;
  readonly values: readonly { readonly name: string; readonly value: number | string }[];
}

/** `char[N]`: a NUL-padded string of at most `size` bytes. */
export interface StringLayout extends LayoutBase {
  readonly kind: 'string';
}

/** `count` elements of `element`, `element.size` bytes apart. */
export interface ArrayLayout extends LayoutBase {
  readonly kind: 'array';
  readonly count: number;
  readonly element: TypeLayout;
}

/**
 * A struct or union. Members of anonymous inner structs/unions are lifted into `fields` with
 * their offsets adjusted, as C lets code name them directly.
 */
export interface CompositeLayout extends LayoutBase {
  readonly kind: 'struct' | 'union';
  readonly fields: readonly FieldLayout[];
}

/**
 * One member. `offset` is the byte offset from the start of the enclosing layout. A bitfield
 * also has `bitOffset` (0-7, counted from the least significant bit of the byte at `offset`)
 * and `bitSize`: read ceil((bitOffset + bitSize) / 8) bytes at `offset` as a little-endian
 * unsigned integer, shift right by `bitOffset`, keep `bitSize` bits (sign-extend if
 * `layout` is a signed int).
 */
export interface FieldLayout {
  readonly name: string;
  readonly offset: number;
  readonly bitOffset?: number;
  readonly bitSize?: number;
  readonly layout: TypeLayout;
}

/** A pointer: 8 bytes, printed as hex (its target is meaningless to user space). */
export interface PointerLayout extends LayoutBase {
  readonly kind: 'pointer';
}

/** Bytes with no usable structure (incomplete types, function pointers' targets): printed as hex. */
export interface OpaqueLayout extends LayoutBase {
  readonly kind: 'opaque';
}

/** Bounds on the work a hostile BTF can cause: nesting depth and layout nodes per call. */
const MAX_DEPTH = 64;
const MAX_NODES = 100_000;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/** `describeType` lays out BTF type `typeId` (modifiers dropped, typedef names kept). */
export function describeType(btf: Btf, typeId: number): TypeLayout {
  const budget = { nodes: 0 };
  return describe(btf, typeId, 0, budget);
}

function fail(t: BtfType, msg: string): Error {
  return bpfError('BTF_MALFORMED', `layout of btf type [${t.id}]${t.name ? ` ${t.name}` : ''}: ${msg}`, { typeId: t.id });
}

function describe(btf: Btf, id: number, depth: number, budget: { nodes: number }): TypeLayout {
  let t = btfType(btf, id, 'layout');
  if (depth > MAX_DEPTH) throw fail(t, `nested deeper than ${MAX_DEPTH}`);
  if (++budget.nodes > MAX_NODES) throw fail(t, `more than ${MAX_NODES} fields`);
  let name: string | undefined;
  for (let hops = 0; ; hops++) {
    if (hops > MAX_RESOLVE_DEPTH) throw fail(t, `modifier/typedef chain longer than ${MAX_RESOLVE_DEPTH}`);
    if (t.kind === 'typedef') name ??= t.name;
    else if (t.kind !== 'const' && t.kind !== 'volatile' && t.kind !== 'restrict' && t.kind !== 'type_tag' && t.kind !== 'var') break;
    t = btfType(btf, t.type, 'layout');
  }
  name ??= t.name || undefined;
  const named = <L extends TypeLayout>(l: L): L => (name === undefined ? l : { ...l, name });
  switch (t.kind) {
    case 'int':
      return named(t.bool || name === 'bool' ? { kind: 'int', size: t.size, signed: false, bool: true } : { kind: 'int', size: t.size, signed: t.signed });
    case 'float':
      return named({ kind: 'float', size: t.size });
    case 'enum':
      return named({ kind: 'enum', size: t.size, signed: t.signed, values: t.values.map((v) => ({ name: v.name, value: v.value })) });
    case 'enum64':
      return named({
        kind: 'enum',
        size: t.size,
        signed: t.signed,
        values: t.values.map((v) => ({ name: v.name, value: v.value >= MIN_SAFE && v.value <= MAX_SAFE ? Number(v.value) : v.value.toString() })),
      });
    case 'ptr':
      return named({ kind: 'pointer', size: 8 });
    case 'array': {
      const element = describe(btf, t.type, depth + 1, budget);
      const size = element.size * t.nelems;
      if (!Number.isSafeInteger(size)) throw fail(t, 'array size overflows');
      if (element.kind === 'int' && element.size === 1 && element.name === 'char') return named({ kind: 'string', size });
      return named({ kind: 'array', size, count: t.nelems, element });
    }
    case 'struct':
    case 'union':
      return named({ kind: t.kind, size: t.size, fields: fields(btf, t, depth, budget) });
    case 'datasec':
      return named({ kind: 'opaque', size: t.size });
    case 'fwd':
    case 'void':
    case 'func':
    case 'func_proto':
    case 'decl_tag':
      return named({ kind: 'opaque', size: 0 });
  }
}

function fields(btf: Btf, t: Extract<BtfType, { kind: 'struct' | 'union' }>, depth: number, budget: { nodes: number }): FieldLayout[] {
  const out: FieldLayout[] = [];
  for (const m of t.members) {
    const layout = describe(btf, m.type, depth + 1, budget);
    let bit = m.bitOffset;
    let bitSize = m.bitfieldSize;
    // Before kind_flag bitfields (LLVM < 7 style), the member's int type carried the width.
    if (bitSize === 0) {
      const target = btf.types[m.type];
      if (target?.kind === 'int' && (target.bits !== target.size * 8 || target.bitOffset !== 0)) {
        bit += target.bitOffset;
        bitSize = target.bits;
      }
    }
    if (!m.name && (layout.kind === 'struct' || layout.kind === 'union') && bitSize === 0) {
      if (bit % 8 !== 0) throw fail(t, `anonymous member at bit ${bit} is not byte aligned`);
      out.push(...layout.fields.map((f) => ({ ...f, offset: f.offset + bit / 8 })));
      continue;
    }
    if (bitSize > 0) {
      out.push({ name: m.name, offset: Math.floor(bit / 8), bitOffset: bit % 8, bitSize, layout });
    } else {
      if (bit % 8 !== 0) throw fail(t, `member ${m.name} at bit ${bit} is not byte aligned`);
      out.push({ name: m.name, offset: bit / 8, layout });
    }
  }
  return out;
}
