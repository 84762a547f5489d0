// The records a BPF object's programs send to ring buffers and perf event arrays (the map, and the
// constant size in the helper's size argument: sizes computed at run time are not seen), and what
// the programs write into them, for records whose struct is not in BTF (clang emits no BTF for a
// type used only by a local variable). A small abstract interpretation over each program
// (kernel Documentation/bpf/standardization/instruction-set.rst): registers and stack slots hold
// a pointer (to the stack, a map value, a ring buffer reservation, the context), a constant, a
// value of known origin (a helper's result, a CO-RE relocated field, a map value's BTF member, a
// context field), or nothing known. At bpf_perf_event_output / bpf_ringbuf_output, and for
// stores through a bpf_ringbuf_reserve pointer, the record's bytes are collected with where
// each came from. Pure: the parsed ELF in, facts out; naming them is record-layout.ts's.
import type { CoreRelocation } from './btf-ext.js';
import type { Btf } from './btf.js';
import type { ElfFile, ElfRelocation } from './elf.js';
import { describeType, type FieldLayout, type TypeLayout } from './layout.js';
import type { MapSpec } from './maps.js';
import { containing, functionsBySection, type Func } from './programs.js';
import { clone, derive, type FieldSource, join, type State, UNKNOWN, type Val, withOp } from './record-values.js';

export type { FieldSource } from './record-values.js';

/** One write into a record: `size` bytes at `offset`. */
export interface FieldFact {
  readonly offset: number;
  readonly size: number;
  readonly source: FieldSource;
}

/** The writes of records of `size` bytes to `map`, by the programs that send them. */
export interface RecordFacts {
  readonly map: string;
  readonly size: number;
  readonly programs: readonly string[];
  readonly fields: readonly FieldFact[];
}

const INSN = 8;
/** Instructions interpreted per program, all paths and inlined calls together: hostile code stays bounded. */
const BUDGET = 20_000;
/** bpf-to-bpf call depth the verifier allows (MAX_CALL_FRAMES). */
const MAX_FRAMES = 8;

const HELPER = {
  lookup: 1,
  update: 2,
  delete: 3,
  probeRead: 4,
  ktime: 5,
  cpu: 8,
  pidTgid: 14,
  uidGid: 15,
  comm: 16,
  perfOutput: 25,
  probeReadStr: 45,
  probeReadUser: 112,
  probeReadKernel: 113,
  probeReadUserStr: 114,
  probeReadKernelStr: 115,
  bootNs: 125,
  ringbufOutput: 130,
  ringbufReserve: 131,
} as const;
const NAMED_RESULTS = new Map<number, string>([
  [HELPER.ktime, 'ts'],
  [HELPER.bootNs, 'ts'],
  [HELPER.cpu, 'cpu'],
  [HELPER.pidTgid, 'pid_tgid'],
  [HELPER.uidGid, 'uid_gid'],
]);
const READS = new Set<number>([HELPER.probeRead, HELPER.probeReadUser, HELPER.probeReadKernel]);
const STR_READS = new Set<number>([HELPER.probeReadStr, HELPER.probeReadUserStr, HELPER.probeReadKernelStr]);

interface Context {
  readonly elf: ElfFile;
  readonly btf: Btf | null;
  readonly maps: ReadonlyMap<string, MapSpec>;
  readonly funcs: ReadonlyMap<number, readonly Func[]>;
  readonly core: ReadonlyMap<string, CoreRelocation>;
  /** Map value layouts, described once each. */
  readonly layouts: Map<string, TypeLayout>;
  readonly section: string;
  budget: number;
  /** Record facts by `map\0size`. */
  readonly records: Map<string, { map: string; size: number; programs: Set<string>; fields: Map<string, FieldFact> }>;
  /** Writes into map values, by map, as (offset, size) → source. */
  readonly values: Map<string, Map<string, FieldFact>>;
  readonly program: string;
}

/**
 * `readRecordFacts` interprets every program of `elf` and returns what it writes into the
 * records of each (map, size) it sends, sorted by map then size. `btf` gives map values' members
 * their names; `coreRelocations` the kernel fields read.
 */
export function readRecordFacts(elf: ElfFile, btf: Btf | null, maps: readonly MapSpec[], coreRelocations: readonly CoreRelocation[]): RecordFacts[] {
  const funcs = functionsBySection(elf);
  const ctx: Omit<Context, 'section' | 'program'> = {
    elf,
    btf,
    maps: new Map(maps.map((m) => [m.name, m])),
    funcs,
    core: new Map(coreRelocations.map((r) => [`${r.section}\0${r.insn}`, r])),
    layouts: new Map(),
    budget: 0,
    records: new Map(),
    values: new Map(),
  };
  for (const [secIdx, list] of funcs) {
    const section = elf.sections[secIdx]!;
    if (section.name === '.text') continue;
    for (const f of list) {
      const c: Context = { ...ctx, section: section.name, program: f.name, budget: 0, records: ctx.records, values: new Map() };
      const regs: Val[] = Array.from({ length: 11 }, () => UNKNOWN);
      regs[1] = { k: 'ctx', off: 0 };
      regs[10] = { k: 'stack', frame: 0, off: 0 };
      try {
        run(c, f, { regs, stacks: new Map([[0, new Map()]]) }, 0);
      } catch (e) {
        if (e !== OUT_OF_BUDGET) throw e;
      }
    }
  }
  return [...ctx.records.values()]
    .map((r) => ({
      map: r.map,
      size: r.size,
      programs: [...r.programs].sort(),
      fields: [...r.fields.values()].sort((a, b) => a.offset - b.offset || a.size - b.size),
    }))
    .sort((a, b) => (a.map < b.map ? -1 : a.map > b.map ? 1 : a.size - b.size));
}

const OUT_OF_BUDGET = new Error('record-fields: budget spent');

/** Interprets `f` from `entry`; returns the join of its states at `exit`, or undefined if it never returns. */
function run(c: Context, f: Func, entry: State, frame: number): State | undefined {
  const sec = f.section;
  const v = new DataView(sec.data.buffer, sec.data.byteOffset, sec.data.byteLength);
  const relos = new Map<number, ElfRelocation>((c.elf.relocations.get(sec.index) ?? []).map((r) => [r.offset, r]));
  const fname = sec.name === '.text' ? sec.name : c.section;
  const at = new Map<number, State>([[f.start, entry]]);
  const todo = [f.start];
  let exit: State | undefined;
  const flow = (pc: number, s: State) => {
    if (pc < f.start || pc >= f.end) return;
    const old = at.get(pc);
    if (old === undefined) {
      at.set(pc, clone(s));
      todo.push(pc);
    } else if (join(old, s)) todo.push(pc);
  };
  while (todo.length > 0) {
    const start = todo.pop()!;
    const s = clone(at.get(start)!);
    for (let pc = start; pc < f.end; ) {
      if (pc !== start && at.has(pc)) {
        flow(pc, s);
        break;
      }
      if (++c.budget > BUDGET) throw OUT_OF_BUDGET;
      const o = pc * INSN;
      const code = v.getUint8(o);
      const dst = v.getUint8(o + 1) & 0x0f;
      const src = v.getUint8(o + 1) >> 4;
      const off = v.getInt16(o + 2, true);
      const imm = v.getInt32(o + 4, true);
      const cls = code & 0x07;
      const core = c.core.get(`${fname}\0${pc}`);
      // No such register: the verifier refuses the program, and nothing after this is worth reading.
      if (dst > 10 || src > 10) return exit;
      if (code === 0x18) {
        // lddw: a map, a global, or a 64-bit constant
        const r = relos.get(o);
        const sym = r === undefined ? undefined : c.elf.symbols[r.symbol];
        const target = sym === undefined ? undefined : c.elf.sections[sym.section];
        if (sym !== undefined && target !== undefined && (target.name === '.maps' || target.name === 'maps')) s.regs[dst] = { k: 'map', map: sym.name };
        else if (r !== undefined || src !== 0 || pc + 1 >= f.end) s.regs[dst] = UNKNOWN;
        else s.regs[dst] = { k: 'const', v: (BigInt(v.getUint32(o + 12, true)) << 32n) | BigInt(v.getUint32(o + 4, true)) };
        pc += 2;
        continue;
      }
      if (cls === 0x07 || cls === 0x04) {
        alu(s, code, dst, src, imm, cls === 0x04, core);
      } else if (cls === 0x01) {
        const mode = code & 0xe0;
        const size = [4, 2, 1, 8][(code >> 3) & 3]!;
        s.regs[dst] = mode === 0x60 || mode === 0x80 ? load(c, s, s.regs[src]!, off, size, core) : UNKNOWN;
      } else if (cls === 0x02 || cls === 0x03) {
        const size = [4, 2, 1, 8][(code >> 3) & 3]!;
        const atomic = (code & 0xe0) !== 0x60;
        const val = atomic ? UNKNOWN : cls === 0x02 ? { k: 'const' as const, v: BigInt(imm) } : s.regs[src]!;
        store(c, s, s.regs[dst]!, off, size, val);
        // BPF_FETCH and cmpxchg load the old value into src or r0
        if (atomic) s.regs[src] = s.regs[0] = UNKNOWN;
      } else if (cls === 0x00) {
        // legacy packet loads (BPF_ABS/BPF_IND) set r0 and clobber r1–r5
        for (let r = 0; r <= 5; r++) s.regs[r] = UNKNOWN;
      } else if (cls === 0x05 || cls === 0x06) {
        const op = code & 0xf0;
        if (op === 0x90) {
          if (exit === undefined) exit = clone(s);
          else join(exit, s);
          break;
        }
        if (op === 0x80) {
          call(c, s, f, pc, src, imm, frame);
          pc++;
          continue;
        }
        const jump = pc + 1 + (op === 0x00 && cls === 0x06 ? imm : off);
        if (op === 0x00) {
          flow(jump, s);
          break;
        }
        flow(jump, s);
      }
      pc++;
    }
  }
  return exit;
}

function alu(s: State, code: number, dst: number, src: number, imm: number, is32: boolean, core: CoreRelocation | undefined): void {
  const op = code & 0xf0;
  const x = code & 0x08;
  const other: Val = x ? s.regs[src]! : { k: 'const', v: BigInt(imm), ...(core?.kind === 'field_byte_offset' ? { core: core.path } : {}) };
  const d = s.regs[dst]!;
  const k = other.k === 'const' ? other.v : undefined;
  let out: Val = UNKNOWN;
  switch (op) {
    case 0xb0: // mov
      out = is32 ? (other.k === 'const' ? { k: 'const', v: BigInt.asUintN(32, other.v) } : withOp(other, 'mov32', 0n)) : other;
      break;
    case 0x00: // add
    case 0x10: // sub
      if (k !== undefined && other.k === 'const' && other.core === undefined) {
        const delta = Number(op === 0x00 ? k : -k);
        if (d.k === 'stack' || d.k === 'ctx' || d.k === 'value' || d.k === 'rec') out = { ...d, off: d.off + delta };
        else if (d.k === 'const' && d.core === undefined) out = { k: 'const', v: op === 0x00 ? d.v + k : d.v - k };
      } else if (op === 0x00) {
        // base + CO-RE offset, either way round: the address of that kernel field
        const field = other.k === 'const' && other.core !== undefined ? other.core : d.k === 'const' && d.core !== undefined ? d.core : undefined;
        const base = other.k === 'const' && other.core !== undefined ? d : other;
        const via = base.k === 'num' && base.src.kind === 'core' && base.src.op === '' ? base.src : undefined;
        if (field !== undefined)
          out = via
            ? { k: 'field', name: `${via.name}_${lastField(field)}`, path: `${via.path} → ${field}` }
            : { k: 'field', name: lastField(field), path: field };
      }
      break;
    case 0x60:
      out = k === undefined ? UNKNOWN : withOp(d, 'lsh', k);
      break;
    case 0x70:
    case 0xc0:
      out = k === undefined ? UNKNOWN : withOp(d, 'rsh', k);
      break;
    case 0x50:
      out = k === undefined ? UNKNOWN : withOp(d, 'and', BigInt.asUintN(64, k));
      break;
    default:
      out = UNKNOWN;
  }
  if (is32 && op !== 0xb0 && out.k !== 'unknown') out = out.k === 'num' ? withOp(out, 'mov32', 0n) : UNKNOWN;
  s.regs[dst] = out;
}

/** The name a CO-RE access path gives what it reads: its last field (`task_struct.exit_code` → `exit_code`). */
function lastField(path: string): string {
  return path
    .split('.')
    .pop()!
    .replace(/\[\d+\]$/, '');
}

function load(c: Context, s: State, base: Val, off: number, size: number, core: CoreRelocation | undefined): Val {
  if (base.k === 'stack') {
    const slot = s.stacks.get(base.frame)?.get(base.off + off);
    if (slot === undefined) return UNKNOWN;
    if (slot.size === size) return slot.val;
    return slot.size === 8 && size === 4 ? withOp(slot.val, 'mov32', 0n) : UNKNOWN;
  }
  if (base.k === 'ctx' && base.off + off >= 0) {
    return { k: 'num', size, src: { kind: 'ctx', section: c.section, offset: base.off + off, op: '' } };
  }
  if (base.k === 'value') return memberAt(c, base.map, base.off + off, size);
  if (core?.kind === 'field_byte_offset') return { k: 'num', size, src: { kind: 'core', name: lastField(core.path), path: core.path, op: '' } };
  return UNKNOWN;
}

/** A load of `size` bytes at `off` of a map value: named after the BTF member it reads exactly. */
function memberAt(c: Context, map: string, off: number, size: number): Val {
  const m = c.maps.get(map);
  if (c.btf === null || m?.valueTypeId === null || m === undefined) return UNKNOWN;
  const layout = c.layouts.get(map) ?? describeType(c.btf, m.valueTypeId);
  c.layouts.set(map, layout);
  const f = layout.kind === 'struct' ? layout.fields.find((x: FieldLayout) => x.offset === off && x.bitSize === undefined) : undefined;
  return f !== undefined && f.layout.size === size ? { k: 'num', size, src: { kind: 'member', map, name: f.name, layout: f.layout } } : UNKNOWN;
}

function store(c: Context, s: State, base: Val, off: number, size: number, val: Val): void {
  if (base.k === 'stack') {
    const slots = s.stacks.get(base.frame);
    if (slots === undefined) return;
    const at = base.off + off;
    for (const [o, slot] of slots) if (o < at + size && at < o + slot.size) slots.delete(o);
    slots.set(at, { size, val });
  } else if (val.k === 'const' && val.v === 0n) {
    // Zeroing a reservation or a map value initialises it; it names nothing.
  } else if (base.k === 'rec') {
    record(c, base.map, base.size).set(`${base.off + off}:${size}`, { offset: base.off + off, size, source: sourceOf(val, size) });
  } else if (base.k === 'value') {
    const m = c.values.get(base.map) ?? new Map<string, FieldFact>();
    c.values.set(base.map, m);
    m.set(`${base.off + off}:${size}`, { offset: base.off + off, size, source: sourceOf(val, size) });
  }
}

function record(c: Context, map: string, size: number) {
  const key = `${map}\0${size}`;
  const r = c.records.get(key) ?? { map, size, programs: new Set<string>(), fields: new Map<string, FieldFact>() };
  c.records.set(key, r);
  r.programs.add(c.program);
  return r.fields;
}

/** What a value stored in `size` bytes says of its origin; a narrower store keeps the low half. */
function sourceOf(val: Val, size: number): FieldSource {
  if (val.k === 'num') {
    if (size === val.size || val.src.kind === 'member' || val.src.kind === 'bytes' || val.src.kind === 'number') return val.src;
    if (size === 4 && val.size === 8 && 'op' in val.src) {
      const op = derive(val.src.op, 'mov32', 0n);
      return op === undefined ? { kind: 'number' } : { ...val.src, op };
    }
  }
  return { kind: 'number' };
}

function constOf(v: Val): number | undefined {
  return v.k === 'const' && v.v > 0n && v.v < 1n << 24n ? Number(v.v) : undefined;
}

function call(c: Context, s: State, f: Func, pc: number, src: number, imm: number, frame: number): void {
  if (src === 1) {
    // As programs.ts resolves it: the relocation's symbol + imm + 1, else pc-relative.
    const rel = c.elf.relocations.get(f.section.index)?.find((x) => x.offset === pc * INSN);
    const sym = rel === undefined ? undefined : c.elf.symbols[rel.symbol];
    const callee =
      sym === undefined ? containing(c.funcs.get(f.section.index) ?? [], pc + 1 + imm) : containing(c.funcs.get(sym.section) ?? [], sym.value / INSN + imm + 1);
    const result = callee !== undefined && frame + 1 < MAX_FRAMES ? inline(c, s, callee, frame) : undefined;
    s.regs[0] = result ?? UNKNOWN;
    for (let r = 1; r <= 5; r++) s.regs[r] = UNKNOWN;
    return;
  }
  // A kfunc (src 2) is not a helper: its id is a BTF id. What it returns is not known.
  s.regs[0] = src === 0 ? helper(c, s, imm) : UNKNOWN;
  for (let i = 1; i <= 5; i++) s.regs[i] = UNKNOWN;
}

/** The effects of helper `id` on the record facts and the stack; its result. Arguments are in r1–r5. */
function helper(c: Context, s: State, id: number): Val {
  const r = s.regs;
  const named = NAMED_RESULTS.get(id);
  if (named !== undefined) return { k: 'num', size: 8, src: { kind: 'helper', helper: named, op: '' } };
  const map = r[1]!.k === 'map' ? r[1]!.map : undefined;
  if (id === HELPER.lookup && map !== undefined) return { k: 'value', map, off: 0 };
  if (id === HELPER.ringbufReserve && map !== undefined && constOf(r[2]!) !== undefined) {
    record(c, map, constOf(r[2]!)!);
    return { k: 'rec', map, size: constOf(r[2]!)!, off: 0 };
  }
  const n = constOf(r[2]!);
  if (id === HELPER.comm && n !== undefined) writeBytes(c, s, r[1]!, n, { kind: 'helper', helper: 'comm', op: '', text: true });
  else if ((READS.has(id) || STR_READS.has(id)) && n !== undefined) writeBytes(c, s, r[1]!, n, readSource(c, s, r[3]!, n, STR_READS.has(id)));
  else if (id === HELPER.perfOutput && r[2]!.k === 'map') sent(c, s, r[2]!.map, r[4]!, constOf(r[5]!));
  else if (id === HELPER.ringbufOutput && map !== undefined) sent(c, s, map, r[2]!, constOf(r[3]!));
  else if (id !== HELPER.lookup && id !== HELPER.update && id !== HELPER.delete) {
    // Any other helper handed a stack buffer and its size (bpf_get_stack) may have written anything there.
    for (let a = 1; a <= 4; a++) {
      const buf = r[a]!;
      const size = constOf(r[a + 1]!);
      const slots = buf.k === 'stack' && size !== undefined ? s.stacks.get(buf.frame) : undefined;
      if (slots && buf.k === 'stack') for (const [o, slot] of slots) if (o < buf.off + size! && buf.off < o + slot.size) slots.delete(o);
    }
  }
  return UNKNOWN;
}

/** What a probe read of `n` bytes from `from` brings: a named field, a member, or bytes of no known origin. */
function readSource(c: Context, s: State, from: Val, n: number, text: boolean): FieldSource {
  const flag = text ? { text: true as const } : {};
  // A copy of what an earlier read put on the stack carries its origin on.
  if (!text && from.k === 'stack') {
    const slot = s.stacks.get(from.frame)?.get(from.off);
    if (slot?.size === n && slot.val.k === 'num') return slot.val.src;
  }
  if (from.k === 'field') return { kind: 'core', name: from.name, path: from.path, op: '', ...flag };
  // A string read from a pointer carries the pointer's name (`args_t.fname` → `fname`).
  if (text && from.k === 'num') {
    const s = from.src;
    if (s.kind === 'member') return { kind: 'member', map: s.map, name: s.name, layout: { kind: 'string', size: n }, through: true };
    if ((s.kind === 'core' || s.kind === 'ctx') && s.op === '') return { ...s, text: true };
  }
  if (!text && from.k === 'value') {
    const v = memberAt(c, from.map, from.off, n);
    if (v.k === 'num') return v.src;
  }
  return n <= 8 && !text ? { kind: 'number' } : { kind: 'bytes', text };
}

function writeBytes(c: Context, s: State, dst: Val, n: number, source: FieldSource): void {
  const val: Val = { k: 'num', size: n, src: source };
  store(c, s, dst, 0, n, val);
}

/** A record of `size` bytes at `data` sent to `map`: its bytes' origins join the map's facts. */
function sent(c: Context, s: State, map: string, data: Val, size: number | undefined): void {
  if (size === undefined) return;
  const fields = record(c, map, size);
  const add = (offset: number, n: number, source: FieldSource) => {
    if (offset >= 0 && offset + n <= size) fields.set(`${offset}:${n}`, { offset, size: n, source });
  };
  if (data.k === 'stack') {
    // Constant zeros are the record's initialisation (`= {}`), not a field.
    for (const [o, slot] of s.stacks.get(data.frame) ?? [])
      if (!(slot.val.k === 'const' && slot.val.v === 0n)) add(o - data.off, slot.size, sourceOf(slot.val, slot.size));
  } else if (data.k === 'value') {
    for (const fact of c.values.get(data.map)?.values() ?? []) add(fact.offset - data.off, fact.size, fact.source);
  }
}

function inline(c: Context, s: State, callee: Func, frame: number): Val | undefined {
  const entry = clone(s);
  for (let r = 6; r <= 9; r++) entry.regs[r] = UNKNOWN;
  entry.regs[10] = { k: 'stack', frame: frame + 1, off: 0 };
  entry.stacks.set(frame + 1, new Map());
  const out = run(c, callee, entry, frame + 1);
  if (out === undefined) return undefined;
  // The callee's writes through pointers into this frame's stack (and further out) stay.
  for (const [f, slots] of out.stacks) if (f <= frame) s.stacks.set(f, slots);
  return out.regs[0];
}
