/**
 * Result globals: arrays in `.bss` or `.data` where a tool counts instead of in a map
 * (libbpf-tools' softirqs: `__u64 counts[NR_SOFTIRQS]`, `struct hist hists[NR_SOFTIRQS]`),
 * printed as result maps are, one row or histogram per index. Pure: specs in, a choice out.
 *
 * The rule: a global of a writable data section (`.bss`, `.data`, not `.rodata`, whose
 * `const volatile` values configure the tool), not named `_*`, that is an array of at least two
 * counters or of structs with a `slots` array. Scalars (flags, a pid) are never results.
 */
import type { EnumLayout, TypeLayout } from '../bpf/layout.js';
import type { GlobalSpec } from '../bpf/object.js';
import type { SampleEntry } from './histogram.js';
import { hasSlots, isCounter } from './result-maps.js';

export interface ResultGlobal {
  readonly name: string;
  readonly section: string;
  readonly offset: number;
  readonly count: number;
  readonly element: TypeLayout;
  readonly kind: 'histogram' | 'counters';
  /** Why it was chosen, for `--verbose`. */
  readonly reason: string;
}

const WRITABLE = /^\.(bss|data)(\..+)?$/;

/** `resultGlobals` applies the rule above to one object's globals, in their order. */
export function resultGlobals(globals: readonly GlobalSpec[]): ResultGlobal[] {
  const out: ResultGlobal[] = [];
  for (const g of globals) {
    const a = g.layout;
    if (g.readonly || !WRITABLE.test(g.section) || g.name.startsWith('_') || a.kind !== 'array' || a.count < 2) continue;
    const kind = isCounter(a.element) ? 'counters' : hasSlots(a.element) ? 'histogram' : undefined;
    if (kind === undefined) continue;
    const what = kind === 'counters' ? 'integers' : 'structs with an integer array `slots`';
    out.push({
      name: g.name,
      section: g.section,
      offset: g.offset,
      count: a.count,
      element: a.element,
      kind,
      reason: `${g.section} array of ${a.count} ${what}`,
    });
  }
  return out;
}

/** Kernel enums that have a member of this name, each as its members (`enumsWithMember` over the kernel's BTF). */
export type KernelEnums = (member: string) => readonly (readonly { name: string; value: number }[])[];

/**
 * `indexKey` is the key layout of a result global's rows: a struct with one field naming the
 * index. An array of `count` elements in an object attached to tracepoint `<word>_*`
 * (`softirq_entry`) is indexed by the kernel enum whose members are `<X>_<WORD>` = 0…count-1
 * and `NR_<WORD>S` = count (`HI_SOFTIRQ`…`RCU_SOFTIRQ`, `NR_SOFTIRQS`), and its rows are named
 * as the native tool names them (`hi`, `timer`, …); anything less certain keeps the index.
 */
export function indexKey(attach: readonly string[], count: number, enums: KernelEnums): TypeLayout {
  const words = new Set(attach.map((a) => a.split('/').at(-1)!.split('_')[0]!).filter((w) => /^[a-z]+$/.test(w)));
  for (const word of words) {
    const suffix = `_${word.toUpperCase()}`;
    for (const members of enums(`NR${suffix}S`)) {
      const named = members.filter((m) => m.name !== `NR${suffix}S`);
      const exact =
        members.some((m) => m.name === `NR${suffix}S` && m.value === count) &&
        named.length === count &&
        named.every((m, i) => m.value === i && m.name.endsWith(suffix) && m.name.length > suffix.length);
      if (!exact) continue;
      const values = named.map((m) => ({ name: m.name.slice(0, -suffix.length).toLowerCase(), value: m.value }));
      const layout: EnumLayout = { kind: 'enum', size: 4, signed: false, values };
      return { kind: 'struct', size: 4, fields: [{ name: word, offset: 0, layout }] };
    }
  }
  return { kind: 'struct', size: 4, fields: [{ name: 'index', offset: 0, layout: { kind: 'int', size: 4, signed: false } }] };
}

/** `globalEntries` cuts a result global out of its section's bytes: one entry per index, keyed by the index as a u32. */
export function globalEntries(g: ResultGlobal, section: Uint8Array): SampleEntry[] {
  const stride = g.element.size;
  return Array.from({ length: g.count }, (_, i) => ({
    key: new Uint8Array(new Uint32Array([i]).buffer),
    value: section.slice(g.offset + i * stride, g.offset + (i + 1) * stride),
  }));
}
