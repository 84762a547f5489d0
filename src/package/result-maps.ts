/**
 * Result maps: the maps of a BPF object without `@sample` annotations that hold what a
 * histogram or counter tool (libbpf-tools' runqlat, hardirqs, syscount…) prints when it stops,
 * found from their BTF types, and how `ebpm run` prints them. Pure: metadata in, a choice out;
 * bytes in, strings out.
 *
 * The rule: a hash, LRU hash or array map (or its per-CPU variant) is a result map when
 * 1. its value is a struct with an integer array named `slots` (a log2 histogram, per key), or
 * 2. its value is an integer and it is named `counts`, `counters` or `*_count(s)`, or
 * 3. its object has no ring or perf buffer, and its value is a struct of integers and char
 *    arrays only (a row of counters, as syscount's `data` and biopattern's `counters`), or
 * 4. its value is an integer or such a row and its key a struct with `*stack_id` integer fields,
 *    in an object with one stack trace map, where `bpf_get_stackid` put them (offcputime's
 *    `info`, wakeuptime's `counts`): printed with their stacks (stacks.ts).
 * Anything else is bookkeeping (`start` timestamps keyed by pid, cgroup filters) and is left out.
 */
import type { FieldLayout, TypeLayout } from '../bpf/layout.js';
import { EbpmError } from '../core/errors.js';
import { valueFormat, type ValueFormat } from './decode.js';
import { log2Histogram, sampleFormat, slotsOf, type SampleEntry, type SampleFormat } from './histogram.js';
import type { BpfObjectMeta, MapMeta, PackageMetadata, ParameterMeta } from './metadata.js';
import { isEventMapType } from '../bpf/event-maps.js';

/**
 * How a result map is printed: log2 histograms per key, a table of counters sorted by its first
 * one, or those counters each under the stacks its key names.
 */
export type ResultKind = 'histogram' | 'counters' | 'stacks';

export interface ResultMap {
  readonly map: string;
  readonly kind: ResultKind;
  /** Why the map was chosen, for `inspect` and `--verbose`. */
  readonly reason: string;
  /** A per-CPU map: each value holds one copy per CPU, summed before printing (`perCpuSum`). */
  readonly perCpu?: true;
  /** For `stacks`: the stack trace map whose ids the key holds. */
  readonly stackMap?: string;
}

/** A key field holding a stack id; `side` is what its name says (`kern_stack_id`, `user_stack_id`, `w_k_stack_id`). */
export interface StackIdField {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly side: 'kernel' | 'user' | 'unknown';
}

/** `stackIdOf` reads field `f` of a key: a stack id, negative when `bpf_get_stackid` failed (-EFAULT, -EEXIST). */
export function stackIdOf(f: StackIdField, key: DataView): number {
  return f.size === 8 ? Number(key.getBigInt64(f.offset, true)) : key.getInt32(f.offset, true);
}

/**
 * `stackIdFields` are the integer fields of a key struct named `*stack_id`/`*stackid` (libbpf-tools
 * and BCC name them so). Empty for any other key.
 */
export function stackIdFields(key: TypeLayout): StackIdField[] {
  if (key.kind !== 'struct') return [];
  return key.fields
    .filter((f) => f.bitSize === undefined && isCounter(f.layout) && f.layout.size >= 4 && /stack_?id$/i.test(f.name))
    .map((f) => {
      const words = f.name.toLowerCase().split('_');
      const side = words.some((w) => w === 'kern' || w === 'kernel' || w === 'k')
        ? 'kernel'
        : words.some((w) => w === 'user' || w === 'u')
          ? 'user'
          : 'unknown';
      return { name: f.name, offset: f.offset, size: f.layout.size, side };
    });
}

/** Map types whose entries a tool reads as its results. */
export const RESULT_MAP_TYPES: readonly string[] = ['hash', 'lru_hash', 'array', 'percpu_hash', 'lru_percpu_hash', 'percpu_array'];

/** Entries of a counter table printed by default (`--top`). */
export const DEFAULT_TOP = 10;

const COUNTER_NAME = /^(counts|counters)$|_counts?$/;

/** An integer that counts: 1, 2, 4 or 8 bytes, not a bool. */
export const isCounter = (l: TypeLayout): boolean => l.kind === 'int' && !l.bool && [1, 2, 4, 8].includes(l.size);
const typeName = (l: TypeLayout): string => (l.name === undefined ? `a ${l.kind}` : `${l.kind} ${l.name}`);

/** A struct with an integer array `slots`: a log2 histogram. */
export function hasSlots(value: TypeLayout): boolean {
  const slots = value.kind === 'struct' ? value.fields.find((f) => f.name === 'slots' && f.bitSize === undefined) : undefined;
  return slots?.layout.kind === 'array' && isCounter(slots.layout.element);
}

function isCounterRow(value: TypeLayout): boolean {
  if (value.kind !== 'struct') return false;
  const plain = value.fields.every((f) => f.bitSize === undefined && (isCounter(f.layout) || f.layout.kind === 'string'));
  return plain && value.fields.some((f) => isCounter(f.layout));
}

/**
 * `printableKind` is how a map would be printed by its value type alone (what `--print-map`
 * accepts): undefined for a map of another type than `RESULT_MAP_TYPES`, or whose value is
 * neither a histogram nor counters, or has no type.
 */
export function printableKind(m: MapMeta): ResultKind | undefined {
  if (!RESULT_MAP_TYPES.includes(m.type) || m.value === undefined || m.key === undefined) return undefined;
  if (hasSlots(m.value)) return 'histogram';
  if (isCounter(m.value) || isCounterRow(m.value)) return 'counters';
  return undefined;
}

/** `resultMaps` applies the rule above to one object's maps, in their order. */
export function resultMaps(o: BpfObjectMeta): ResultMap[] {
  const withEvents = o.maps.some((m) => isEventMapType(m.type));
  const stackMaps = o.maps.filter((m) => m.type === 'stack_trace');
  const out: ResultMap[] = [];
  for (const m of o.maps) {
    if (!RESULT_MAP_TYPES.includes(m.type) || m.value === undefined || m.key === undefined) continue;
    const perCpu = m.type.includes('percpu') ? ({ perCpu: true } as const) : {};
    const ids = stackIdFields(m.key);
    if (stackMaps.length === 1 && ids.length > 0 && (isCounter(m.value) || isCounterRow(m.value)))
      out.push({
        map: m.name,
        kind: 'stacks',
        reason: `key ${typeName(m.key)} holds ids (${ids.map((f) => f.name).join(', ')}) of stack trace map ${stackMaps[0]!.name}`,
        stackMap: stackMaps[0]!.name,
        ...perCpu,
      });
    else if (hasSlots(m.value)) out.push({ map: m.name, kind: 'histogram', reason: `value ${typeName(m.value)} has an integer array \`slots\``, ...perCpu });
    else if (isCounter(m.value) && COUNTER_NAME.test(m.name))
      out.push({ map: m.name, kind: 'counters', reason: 'integer value, named as a counter map', ...perCpu });
    else if (!withEvents && isCounterRow(m.value))
      out.push({
        map: m.name,
        kind: 'counters',
        reason: `value ${typeName(m.value)} holds only integers and names, and the object has no event map`,
        ...perCpu,
      });
  }
  return out;
}

/**
 * `packageResultMaps` is what `ebpm run` prints at the stop by default: every object's result
 * maps, or none when the package declares `@sample` maps (those it prints as declared).
 */
export function packageResultMaps(meta: PackageMetadata): (ResultMap & { readonly object: string })[] {
  if (meta.objects.some((o) => o.maps.some((m) => m.sample !== undefined))) return [];
  return meta.objects.flatMap((o) => resultMaps(o).map((r) => ({ ...r, object: o.name })));
}

/**
 * `histogramUnit` names the buckets of a histogram as libbpf-tools' latency tools do, from the
 * `const volatile bool` switches their user space reads the same way: microseconds, unless
 * `targ_ms` (biolatency, biostacks, cpudist, runqlat, tcprtt) or `in_ms` (fsdist and
 * ext4/xfs/btrfs/nfsdist) asks for milliseconds or `targ_ns` (hardirqs, softirqs) for
 * nanoseconds. Any other tool gets `value`: nothing in an object says what else it counts (the
 * Kbytes of bitesize live in its user space only). `value(name)` is the switch's value for this run.
 */
export function histogramUnit(parameters: readonly ParameterMeta[], value: (name: string) => unknown): string {
  const switches = ['targ_ms', 'in_ms', 'targ_ns'].filter((n) => parameters.some((p) => p.name === n && p.kind === 'bool' && p.section === '.rodata'));
  if (switches.length === 0) return 'value';
  const on = (n: string) => switches.includes(n) && value(n) === true;
  return on('targ_ms') || on('in_ms') ? 'msecs' : on('targ_ns') ? 'nsecs' : 'usecs';
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function readInt(size: number, v: DataView, o: number): bigint {
  switch (size) {
    case 1:
      return BigInt(v.getUint8(o));
    case 2:
      return BigInt(v.getUint16(o, true));
    case 4:
      return BigInt(v.getUint32(o, true));
    default:
      return v.getBigUint64(o, true);
  }
}

/** Where the counters of a value are: its integer fields and the elements of its integer arrays (`slots`). */
function counterCells(l: TypeLayout): { offset: number; size: number }[] {
  if (isCounter(l)) return [{ offset: 0, size: l.size }];
  if (l.kind !== 'struct') return [];
  return l.fields.flatMap((f) => {
    if (f.bitSize !== undefined) return [];
    if (isCounter(f.layout)) return [{ offset: f.offset, size: f.layout.size }];
    const a = f.layout;
    if (a.kind !== 'array' || !isCounter(a.element)) return [];
    return Array.from({ length: a.count }, (_, i) => ({ offset: f.offset + i * a.element.size, size: a.element.size }));
  });
}

/**
 * `perCpuSum` folds the value of a per-CPU map, one copy per possible CPU each padded to 8
 * bytes (as `BPF_MAP_LOOKUP_ELEM` returns them), into one: its counters summed (wrapping as the
 * kernel's do), its other bytes (a `comm`) from the first copy that is not all zero.
 */
export function perCpuSum(value: TypeLayout, bytes: Uint8Array): Uint8Array {
  const stride = Math.ceil(value.size / 8) * 8;
  const copies = Math.floor(bytes.length / stride);
  const out = new Uint8Array(value.size);
  for (let c = 0; c < copies; c++) {
    const copy = bytes.subarray(c * stride, c * stride + value.size);
    if (copy.some((b) => b !== 0)) {
      out.set(copy);
      break;
    }
  }
  const o = view(out);
  for (const { offset, size } of counterCells(value)) {
    let sum = 0n;
    for (let c = 0; c < copies; c++) sum += readInt(size, view(bytes), c * stride + offset);
    const wrapped = BigInt.asUintN(size * 8, sum);
    if (size === 8) o.setBigUint64(offset, wrapped, true);
    else if (size === 4) o.setUint32(offset, Number(wrapped), true);
    else if (size === 2) o.setUint16(offset, Number(wrapped), true);
    else o.setUint8(offset, Number(wrapped));
  }
  return out;
}

/** The table's columns of a key or value: its fields (`slots` left out), or one column named `name`. */
function columns(l: TypeLayout, name: string): FieldLayout[] {
  if (l.kind !== 'struct') return [{ name, offset: 0, layout: l }];
  return l.fields.filter(
    (f) => f.name !== 'slots' && f.bitSize === undefined && (isCounter(f.layout) || f.layout.kind === 'string' || f.layout.kind === 'enum'),
  );
}

/**
 * `resultFormat` compiles the printer of a result map. Histograms are drawn per key as
 * `@sample` log2 histograms are; one whose slots are all empty, beside other counters, is
 * printed as their table (hardirqs counts without `-d`). Counter tables list the `top`
 * entries with the largest first counter, leaving out entries whose counters are all 0 (the
 * unused slots of an array map). JSON: one object per snapshot, `{"map":…,"entries":[{"key":…,"value":…}]}`.
 * With `perCpu`, each value is summed over its CPUs first.
 */
export function resultFormat(map: string, kind: ResultKind, key: TypeLayout, value: TypeLayout, opts: ResultOptions): SampleFormat {
  const f = printer(map, kind, key, value, opts);
  if (!opts.perCpu) return f;
  const fold = (entries: readonly SampleEntry[]) => entries.map((e) => ({ key: e.key, value: perCpuSum(value, e.value) }));
  return { text: (entries, time) => f.text(fold(entries), time), json: (entries) => f.json(fold(entries)) };
}

/** Names stack frames (kernel/symbolize.ts on this machine); undefined: not named. */
export interface FrameNamer {
  kernel(address: bigint): string | undefined;
  user(pid: number, address: bigint): string | undefined;
  /** No kernel address can be named: `/proc/kallsyms` shows zeros to this process. */
  readonly kernelHidden: boolean;
}

/** The frames of one snapshot's stacks, by stack id, innermost first, as the stack trace map holds them. */
export type StackFrames = ReadonlyMap<number, readonly bigint[]>;

/** One column of `--sort`: ascending, or largest first with `descending` (written `-field`). */
export interface SortKey {
  readonly field: string;
  readonly descending: boolean;
}

/** `parseSort` reads `--sort count,-comm`: columns in order of precedence, each `-` for largest first. */
export function parseSort(text: string): SortKey[] {
  return text.split(',').map((f) => {
    const field = f.trim().replace(/^[-+]/, '');
    if (!/^[A-Za-z_]\w*$/.test(field))
      throw new EbpmError('USAGE', `run: --sort ${JSON.stringify(text)}: ${JSON.stringify(f)} is not a field`, {
        hint: 'name the columns of the table, - before one for largest first: --sort -count,comm',
      });
    return { field, descending: f.trim().startsWith('-') };
  });
}

export interface ResultOptions {
  readonly unit: string;
  readonly top: number;
  /** `--sort`: the order of a table's rows and of a map's histograms; default: the first counter, largest first. */
  readonly sort?: readonly SortKey[];
  readonly perCpu?: boolean;
  /** For `stacks`: the stacks the snapshot's keys name, and how to name their frames. */
  readonly stacks?: { readonly frames: StackFrames; readonly names: FrameNamer };
}

function printer(map: string, kind: ResultKind, key: TypeLayout, value: TypeLayout, opts: ResultOptions): SampleFormat {
  const keyCols = columns(key, 'key');
  const valueCols = columns(value, 'count');
  const counters = valueCols.filter((c) => isCounter(c.layout));
  const cols = [...keyCols.map((c) => ({ ...c, key: true })), ...valueCols.map((c) => ({ ...c, key: false }))].map((c) => ({
    ...c,
    format: valueFormat(c.layout),
  }));
  const keyJson = valueFormat(key);
  const valueJson = valueFormat(value);
  const first = counters[0];
  const slots = kind === 'histogram' ? slotsOf(map, value) : undefined;
  const countsOf = (e: SampleEntry) => {
    const v = view(e.value);
    return Array.from({ length: slots!.count }, (_, i) => slots!.read(v, slots!.offset + i * slots!.step));
  };
  const slotsUsed = (e: SampleEntry) => countsOf(e).some((c) => c !== 0);
  const used = (e: SampleEntry) => (slots !== undefined && slotsUsed(e)) || counters.some((c) => readInt(c.layout.size, view(e.value), c.offset) !== 0n);
  const order = opts.sort === undefined ? undefined : sortOrder(map, cols, opts.sort);
  /** Used entries, in `--sort` order, else the largest first counter first (map order without one). */
  const sorted = (entries: readonly SampleEntry[]) => {
    const kept = entries.filter(used);
    if (order !== undefined) return kept.sort(order);
    if (first === undefined) return kept;
    const at = (e: SampleEntry) => readInt(first.layout.size, view(e.value), first.offset);
    return kept.sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0));
  };
  const by = opts.sort === undefined ? first?.name : opts.sort.map((k) => `${k.descending ? '-' : ''}${k.field}`).join(',');
  const table = (entries: readonly SampleEntry[], time: string) => {
    const all = sorted(entries);
    const rows = all.slice(0, opts.top).map((e) => cols.map((c) => c.format.text(view(c.key ? e.key : e.value), c.offset)));
    const heads = cols.map((c) => c.name.toUpperCase());
    const widths = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) =>
      cells
        .map((s, i) => s.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    const title = `${time} ${map}: ${all.length === 0 ? 'no entries' : `${Math.min(all.length, opts.top)} of ${all.length} entries${by ? ` by ${by}` : ''}`}`;
    return [title, ...(rows.length > 0 ? [line(heads), ...rows.map(line)] : [])].join('\n') + '\n\n';
  };
  const json = (entries: readonly SampleEntry[]) => {
    const list = kind === 'counters' ? sorted(entries) : entries.filter(used);
    const items = list.map((e) => `{"key":${keyJson.json(view(e.key), 0)},"value":${valueJson.json(view(e.value), 0)}}`);
    return `{"map":${JSON.stringify(map)},"entries":[${items.join(',')}]}\n`;
  };
  if (kind === 'counters') return { text: table, json };
  if (kind === 'stacks') {
    if (opts.stacks === undefined) throw new EbpmError('INTERNAL', `map ${map}: printed as stacks without them`);
    return stackPrinter(map, key, value, cols, sorted, opts.top, opts.stacks);
  }
  const hist = sampleFormat(map, { interval: 0, type: 'log2_hist', unit: opts.unit, clearMap: false }, key, value);
  const text = (entries: readonly SampleEntry[], time: string) => {
    const drawn = entries.filter(slotsUsed);
    if (drawn.length === 0) return counters.length > 0 ? table(entries, time) : `${time} ${map}: no entries\n\n`;
    // One histogram is the tool's global one (runqlat's key -1): drawn alone, as the tool draws it.
    if (drawn.length === 1) return `${time} ${map}:\n${log2Histogram(countsOf(drawn[0]!), opts.unit).join('\n')}\n\n`;
    return hist.text(order === undefined ? drawn : drawn.sort(order), `${time} ${map}:`);
  };
  return { text, json };
}

/**
 * `sortOrder` compares entries by the `--sort` columns of a table: counters and other integers
 * as numbers, names as text. A column the table does not have is `USAGE`, naming those it has.
 */
function sortOrder(map: string, cols: readonly Cell[], keys: readonly SortKey[]): (a: SampleEntry, b: SampleEntry) => number {
  const parts = keys.map((k) => {
    const c = cols.find((x) => x.name === k.field);
    if (c === undefined)
      throw new EbpmError('USAGE', `run: --sort ${k.field}: the table of ${map} has no column ${k.field}`, {
        hint: `its columns: ${cols.map((x) => x.name).join(', ')}`,
      });
    const bytes = (e: SampleEntry) => view(c.key ? e.key : e.value);
    const at: (e: SampleEntry) => bigint | string =
      c.layout.kind === 'int' && c.layout.size <= 8 ? (e) => readInt(c.layout.size, bytes(e), c.offset) : (e) => c.format.text(bytes(e), c.offset);
    const sign = k.descending ? -1 : 1;
    return (a: SampleEntry, b: SampleEntry) => {
      const x = at(a);
      const y = at(b);
      return x < y ? -sign : x > y ? sign : 0;
    };
  });
  return (a, b) => {
    for (const p of parts) {
      const d = p(a, b);
      if (d !== 0) return d;
    }
    return 0;
  };
}

/** A kernel address: the upper half of the address space on x86_64 and arm64. */
const isKernel = (address: bigint) => address >= 0x8000_0000_0000_0000n;
const hex = (address: bigint) => `0x${address.toString(16)}`;

type Cell = FieldLayout & { key: boolean; format: ValueFormat };

/**
 * Each used entry, the largest first counter first, as offcputime and wakeuptime print them: its
 * kernel stack then its user stack (innermost frame first, `[missed kernel stack]` for a
 * negative id, as `bpf_get_stackid` returns on failure), a `-` line with the other fields, and
 * its counters. User frames are named in the process the key's `tgid` (else `pid`) names.
 * JSON adds `stacks`: per id field, its frames (`{"address","symbol"}`, symbol null when
 * unnamed), or null when missed.
 */
function stackPrinter(
  map: string,
  key: TypeLayout,
  value: TypeLayout,
  cols: readonly Cell[],
  sorted: (entries: readonly SampleEntry[]) => SampleEntry[],
  top: number,
  stacks: NonNullable<ResultOptions['stacks']>,
): SampleFormat {
  const ids = stackIdFields(key).sort((a, b) => (a.side === b.side ? 0 : a.side === 'kernel' ? -1 : b.side === 'kernel' ? 1 : 0));
  const pidField = cols.find((c) => c.key && c.name === 'tgid') ?? cols.find((c) => c.key && c.name === 'pid');
  const shown = cols.filter((c) => !ids.some((i) => i.name === c.name));
  const counters = shown.filter((c) => !c.key && isCounter(c.layout));
  const others = [...shown.filter((c) => c.layout.kind === 'string'), ...shown.filter((c) => c.key && isCounter(c.layout))];
  const keyJson = valueFormat(key);
  const valueJson = valueFormat(value);
  /** Per id field: its frames named, or undefined when missed or no longer in the stack map. */
  const framesOf = (e: SampleEntry) => {
    const k = view(e.key);
    const pid = pidField === undefined ? 0 : Number(readInt(pidField.layout.size, k, pidField.offset));
    return ids.map((f) => {
      const id = stackIdOf(f, k);
      const frames = id < 0 ? undefined : stacks.frames.get(id);
      const named = frames?.map((address) => ({ address, symbol: isKernel(address) ? stacks.names.kernel(address) : stacks.names.user(pid, address) }));
      return { field: f, id, frames: named };
    });
  };
  const text = (entries: readonly SampleEntry[], time: string) => {
    const all = sorted(entries);
    const first = counters[0];
    const head = `${time} ${map}: ${all.length === 0 ? 'no entries' : `${Math.min(all.length, top)} of ${all.length} entries${first ? ` by ${first.name}` : ''}`}`;
    const hidden = stacks.names.kernelHidden
      ? ['  kernel frames not named: /proc/kallsyms shows every address as 0 (ebpm needs root, and kernel.kptr_restrict below 2)']
      : [];
    const blocks = all.slice(0, top).map((e) => {
      const lines: string[] = [];
      for (const s of framesOf(e)) {
        const side = s.field.side === 'unknown' ? '' : `${s.field.side} `;
        if (s.frames === undefined) lines.push(s.id < 0 ? `    [missed ${side}stack]` : `    [${side}stack ${s.id}: no longer in the stack map]`);
        else for (const f of s.frames) lines.push(`    ${f.symbol ?? `[unknown] ${hex(f.address)}`}`);
      }
      const cell = (c: Cell) => c.format.text(view(c.key ? e.key : e.value), c.offset);
      lines.push(`    - ${others.map((c) => `${c.name} ${cell(c)}`).join(', ')}`);
      lines.push(`        ${counters.length === 1 ? cell(counters[0]!) : counters.map((c) => `${c.name} ${cell(c)}`).join(', ')}`);
      return lines.join('\n');
    });
    return [[head, ...hidden].join('\n'), ...blocks].join('\n\n') + '\n\n';
  };
  const json = (entries: readonly SampleEntry[]) => {
    const items = sorted(entries).map((e) => {
      const s = framesOf(e).map(
        (x) =>
          `${JSON.stringify(x.field.name)}:${x.frames === undefined ? 'null' : `[${x.frames.map((f) => `{"address":"${hex(f.address)}","symbol":${f.symbol === undefined ? 'null' : JSON.stringify(f.symbol)}}`).join(',')}]`}`,
      );
      return `{"key":${keyJson.json(view(e.key), 0)},"value":${valueJson.json(view(e.value), 0)},"stacks":{${s.join(',')}}}`;
    });
    return `{"map":${JSON.stringify(map)},"entries":[${items.join(',')}]}\n`;
  };
  return { text, json };
}
