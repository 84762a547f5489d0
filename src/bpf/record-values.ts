// The values record-fields.ts tracks in registers and stack slots, and how they join where
// paths meet: what each register or slot is known to hold, or nothing. Pure.
import type { TypeLayout } from './layout.js';

/** Where a record's bytes came from. `op` says how the value was derived from its origin. */
export type FieldSource =
  /** A member of map `map`'s value struct, copied (`args_t.flags`), or for a string, read through that pointer member. */
  | { readonly kind: 'member'; readonly map: string; readonly name: string; readonly layout: TypeLayout; readonly through?: true }
  /**
   * A kernel field read through a CO-RE relocation: its last field name, prefixed by the
   * pointer's when read through one; `path` the accesses (`task_struct.real_parent → task_struct.tgid`).
   */
  | { readonly kind: 'core'; readonly name: string; readonly path: string; readonly op: string; readonly text?: true }
  /** A field of the program's context: a tracepoint's record at `offset`, named by its format file. */
  | { readonly kind: 'ctx'; readonly section: string; readonly offset: number; readonly op: string; readonly text?: true }
  /** A helper's result (`get_current_pid_tgid`), or what it wrote (`comm`). */
  | { readonly kind: 'helper'; readonly helper: string; readonly op: string; readonly text?: true }
  /** Text (a `*_str` read) or bytes whose origin is unknown; `text` says which. */
  | { readonly kind: 'bytes'; readonly text: boolean }
  /** A number whose origin is unknown. */
  | { readonly kind: 'number' };

/** What a register or stack slot holds: a pointer (into a stack frame, the context, a map value, a reservation), a constant, a value of known origin, or nothing known. */
export type Val =
  | { readonly k: 'unknown' }
  /** `core`: the CO-RE field path whose offset this constant is. */
  | { readonly k: 'const'; readonly v: bigint; readonly core?: string }
  | { readonly k: 'num'; readonly src: FieldSource; readonly size: number }
  | { readonly k: 'stack'; readonly frame: number; readonly off: number }
  | { readonly k: 'ctx'; readonly off: number }
  | { readonly k: 'map'; readonly map: string }
  | { readonly k: 'value'; readonly map: string; readonly off: number }
  | { readonly k: 'rec'; readonly map: string; readonly size: number; readonly off: number }
  /** The address of a kernel field (a base plus a CO-RE offset): what a probe read there gets. */
  | { readonly k: 'field'; readonly name: string; readonly path: string };

export const UNKNOWN: Val = { k: 'unknown' };

/** A stack slot: `size` bytes holding `val`. */
export interface Slot {
  readonly size: number;
  readonly val: Val;
}

/** The machine state at one instruction: registers r0–r10 and the stack slots of every frame. */
export interface State {
  regs: Val[];
  /** Stack slots by frame, then by offset from that frame's r10. */
  stacks: Map<number, Map<number, Slot>>;
}

export function same(a: Val, b: Val): boolean {
  if (a === b) return true;
  switch (a.k) {
    case 'unknown':
      return b.k === 'unknown';
    case 'const':
      return b.k === 'const' && a.v === b.v && a.core === b.core;
    case 'num':
      return b.k === 'num' && a.size === b.size && JSON.stringify(a.src) === JSON.stringify(b.src);
    case 'stack':
      return b.k === 'stack' && a.frame === b.frame && a.off === b.off;
    case 'ctx':
      return b.k === 'ctx' && a.off === b.off;
    case 'map':
      return b.k === 'map' && a.map === b.map;
    case 'value':
      return b.k === 'value' && a.map === b.map && a.off === b.off;
    case 'rec':
      return b.k === 'rec' && a.map === b.map && a.size === b.size && a.off === b.off;
    case 'field':
      return b.k === 'field' && a.name === b.name && a.path === b.path;
  }
}

export function clone(s: State): State {
  return { regs: [...s.regs], stacks: new Map([...s.stacks].map(([f, m]) => [f, new Map(m)])) };
}

/** `into` joined with `from` (values that differ become unknown; slots only one side has are dropped); whether `into` changed. */
export function join(into: State, from: State): boolean {
  let changed = false;
  for (let r = 0; r < into.regs.length; r++) {
    if (into.regs[r]!.k !== 'unknown' && !same(into.regs[r]!, from.regs[r]!)) {
      into.regs[r] = UNKNOWN;
      changed = true;
    }
  }
  for (const [f, slots] of into.stacks) {
    const other = from.stacks.get(f);
    for (const [off, slot] of slots) {
      const o = other?.get(off);
      if (o === undefined || o.size !== slot.size || !same(o.val, slot.val)) {
        slots.delete(off);
        changed = true;
      }
    }
  }
  return changed;
}

/** The op a scalar's origin has after `op`, or undefined when the result means nothing nameable. */
export function derive(prev: string, op: 'rsh' | 'lsh' | 'and' | 'mov32', n: bigint): string | undefined {
  if (op === 'mov32') return prev === '' ? 'lo32' : prev === 'shl32' ? undefined : prev;
  if (op === 'lsh') return n === 32n && (prev === '' || prev === 'lo32') ? 'shl32' : undefined;
  if (op === 'rsh') {
    if (n === 32n) return prev === '' ? 'hi32' : prev === 'shl32' ? 'lo32' : undefined;
    return prev === '' || prev === 'lo32' ? `>>${n}` : undefined;
  }
  if (n === 0xffffffffn) return prev === '' ? 'lo32' : prev === 'lo32' ? prev : undefined;
  return prev === '' || prev === 'lo32' ? `&0x${n.toString(16)}` : undefined;
}

export function withOp(v: Val, op: 'rsh' | 'lsh' | 'and' | 'mov32', n: bigint): Val {
  if (v.k !== 'num' || !('op' in v.src)) return UNKNOWN;
  const next = derive(v.src.op, op, n);
  return next === undefined ? UNKNOWN : { ...v, src: { ...v.src, op: next } };
}
