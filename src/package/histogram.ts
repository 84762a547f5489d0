/**
 * Sample maps (`/// @sample`): what `ebpm run` prints each interval for a map it reads instead
 * of a ring buffer. Histograms are drawn as BCC and libbpf-tools draw them
 * (`trace_helpers.c` `print_log2_hist`/`print_linear_hist`), and entries are laid out as ecli's
 * `log2_hist` / `default_kv` samplers do (bpf-loader-rs `export_event/`). Pure: bytes in,
 * strings out.
 */
import type { TypeLayout } from '../bpf/layout.js';
import { EbpmError } from '../core/errors.js';
import { valueFormat, type ValueFormat } from './decode.js';
import type { SampleSpec } from './doc-comments.js';

/** Stars of the widest bar, as BCC. */
const STARS = 40;

function bar(val: number, max: number, width: number): string {
  const stars = max === 0 ? 0 : Math.floor((Math.min(val, max) * width) / max);
  return '*'.repeat(stars) + ' '.repeat(width - stars) + (val > max ? '+' : '');
}

/**
 * `log2Histogram` draws slot i as the range [2^i/2, 2^i - 1] (slot 0 is `0 -> 1`), up to the
 * last non-empty slot; nothing at all when every slot is empty. Wider columns and half-length
 * bars once a slot past 32 is used, as BCC.
 */
export function log2Histogram(counts: readonly number[], unit: string): string[] {
  let last = -1;
  let max = 0;
  counts.forEach((c, i) => {
    if (c > 0) last = i;
    if (c > max) max = c;
  });
  if (last < 0) return [];
  const wide = last > 32;
  const width = wide ? 20 : 10;
  const lines = [`${' '.repeat(wide ? 15 : 5)}${unit.padEnd(wide ? 29 : 19)} : count    distribution`];
  for (let i = 0; i <= last; i++) {
    let low = (1n << BigInt(i + 1)) >> 1n;
    const high = (1n << BigInt(i + 1)) - 1n;
    if (low === high) low -= 1n;
    const c = counts[i]!;
    lines.push(`${String(low).padStart(width)} -> ${String(high).padEnd(width)} : ${String(c).padEnd(8)} |${bar(c, max, wide ? STARS / 2 : STARS)}|`);
  }
  return lines;
}

/** `linearHistogram` draws the non-empty slots between the first and last used, slot i as `base + i * step`. */
export function linearHistogram(counts: readonly number[], unit: string, base = 0, step = 1): string[] {
  let first = -1;
  let last = -1;
  let max = 0;
  counts.forEach((c, i) => {
    if (c > 0) {
      last = i;
      if (first < 0) first = i;
    }
    if (c > max) max = c;
  });
  if (last < 0) return [];
  const lines = [`     ${unit.padEnd(13)} : count     distribution`];
  for (let i = first; i <= last; i++) {
    const c = counts[i]!;
    if (c === 0) continue;
    lines.push(`        ${String(base + i * step).padEnd(10)} : ${String(c).padEnd(8)} |${bar(c, max, STARS)}|`);
  }
  return lines;
}

/** One entry read from a sample map. */
export interface SampleEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** `SampleFormat` prints one interval's entries: a text block or JSON lines (`{"key":…,"value":…}`). */
export interface SampleFormat {
  text(entries: readonly SampleEntry[], time: string): string;
  json(entries: readonly SampleEntry[]): string;
}

function sampleError(map: string, problem: string): EbpmError {
  return new EbpmError('SAMPLE_LAYOUT', `sample map ${map}: ${problem}`, {
    hint: 'a histogram map needs a value that is an array of integer counts or a struct with one (`__u32 slots[N]`), declared with `__type(value, …)`',
  });
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Where the counts of a histogram value are, and how to read one. */
export interface Slots {
  readonly offset: number;
  readonly count: number;
  readonly read: (v: DataView, o: number) => number;
  readonly step: number;
}

/** `slotsOf` finds a histogram value's counts: the value itself when an array, else its `slots` field; `SAMPLE_LAYOUT` when neither holds integers. */
export function slotsOf(map: string, value: TypeLayout): Slots {
  const arr = value.kind === 'array' ? { layout: value, offset: 0 } : undefined;
  const field = value.kind === 'struct' ? value.fields.find((f) => f.name === 'slots' && f.bitSize === undefined) : undefined;
  const found = arr ?? (field === undefined ? undefined : { layout: field.layout, offset: field.offset });
  if (found === undefined || found.layout.kind !== 'array') throw sampleError(map, 'value has no `slots` array');
  const el = found.layout.element;
  if (el.kind !== 'int' || el.bool || ![1, 2, 4, 8].includes(el.size)) throw sampleError(map, '`slots` are not integers of 1 to 8 bytes');
  const read: Slots['read'] =
    el.size === 1
      ? (v, o) => v.getUint8(o)
      : el.size === 2
        ? (v, o) => v.getUint16(o, true)
        : el.size === 4
          ? (v, o) => v.getUint32(o, true)
          : (v, o) => Number(v.getBigUint64(o, true));
  return { offset: found.offset, count: found.layout.count, read, step: el.size };
}

/** Lines naming a key (or a value's other fields): `name = value`, empty strings left out. */
function namedLines(layout: TypeLayout, label: string, skip?: string): (v: DataView) => string[] {
  if (layout.kind !== 'struct' && layout.kind !== 'union') {
    const f = valueFormat(layout);
    return (v) => [`${label} = ${f.text(v, 0)}`];
  }
  const fields = layout.fields
    .filter((f) => f.name !== skip && f.bitSize === undefined)
    .map((f) => ({ name: f.name, offset: f.offset, format: valueFormat(f.layout) }));
  return (v) =>
    fields
      .map((f) => [f.name, f.format.text(v, f.offset)] as const)
      .filter(([, t]) => t !== '')
      .map(([n, t]) => `${n} = ${t}`);
}

/**
 * `sampleFormat` compiles the printer of a sample map from its spec and its key and value
 * layouts. A map without layouts, or a histogram without a `slots` array, is `SAMPLE_LAYOUT`
 * (raised before anything is loaded).
 */
export function sampleFormat(map: string, spec: SampleSpec, key: TypeLayout | undefined, value: TypeLayout | undefined): SampleFormat {
  if (key === undefined || value === undefined) throw sampleError(map, 'key or value type unknown (declare them with `__type(key, …)` and `__type(value, …)`)');
  const keyFmt: ValueFormat = valueFormat(key);
  const valueFmt: ValueFormat = valueFormat(value);
  const json = (entries: readonly SampleEntry[]) =>
    entries.map((e) => `{"key":${keyFmt.json(view(e.key), 0)},"value":${valueFmt.json(view(e.value), 0)}}\n`).join('');
  switch (spec.type) {
    case 'log2_hist':
    case 'linear_hist': {
      const slots = slotsOf(map, value);
      const keyLines = namedLines(key, 'key');
      const restLines = value.kind === 'struct' ? namedLines(value, 'value', 'slots') : () => [];
      const unit = spec.unit ?? 'value';
      const draw = spec.type === 'log2_hist' ? log2Histogram : linearHistogram;
      const text = (entries: readonly SampleEntry[], time: string) => {
        let s = `${time}\n`;
        for (const e of entries) {
          const v = view(e.value);
          const counts = Array.from({ length: slots.count }, (_, i) => slots.read(v, slots.offset + i * slots.step));
          s += [...keyLines(view(e.key)), ...restLines(v), ...draw(counts, unit)].join('\n') + '\n\n';
        }
        return s;
      };
      return { text, json };
    }
    case 'default_kv': {
      const text = (entries: readonly SampleEntry[], time: string) =>
        entries.map((e) => `${time} ${keyFmt.text(view(e.key), 0)} ${valueFmt.text(view(e.value), 0)}\n`).join('');
      return { text, json };
    }
  }
}
