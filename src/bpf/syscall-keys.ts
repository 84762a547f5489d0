// Which maps an object keys by syscall number, proven from its instructions: in a program on
// the raw_syscalls tracepoints (sys_enter, sys_exit), the `id` field of the context (offset 8
// of `struct trace_event_raw_sys_enter`/`_sys_exit`, after the 8-byte common header) stored
// as the key of every lookup, update and delete of the map, on every path the code can take
// with this run's read-only globals (libbpf-tools' syscount keys `data` by pid instead when
// `count_by_process` is set). Every other path through the code is followed (both ways of a
// branch the constants do not decide); anything the walk cannot follow (a BPF-to-BPF call, a
// loop beyond the step budget, an unknown instruction) proves nothing. Instruction set:
// kernel Documentation/bpf/standardization/instruction-set.rst. Pure.
import { type ElfFile, SHF_EXECINSTR, SHT_PROGBITS } from './elf.js';

/** The context offset of the syscall number on the raw_syscalls tracepoints. */
const ID_OFFSET = 8;
const SECTIONS = /^tracepoint\/raw_syscalls\/sys_(enter|exit)$/;
/** Instructions walked in all, over every path, before giving up. */
const BUDGET = 200_000;

type Value =
  | { readonly t: 'ctx' }
  | { readonly t: 'fp'; readonly off: number }
  | { readonly t: 'id' }
  | { readonly t: 'map'; readonly name: string }
  | { readonly t: 'data'; readonly section: string; readonly off: number }
  | { readonly t: 'k'; readonly v: bigint }
  | { readonly t: '?' };

const UNKNOWN: Value = { t: '?' };

interface State {
  pc: number;
  regs: Value[];
  /** Stack slots by frame offset: the value stored and its size. */
  stack: Map<number, { value: Value; size: number }>;
}

const SIZES = [4, 2, 1, 8];

/**
 * `syscallKeyedMaps` lists the maps (sorted) that programs on the raw_syscalls tracepoints
 * access only with the syscall number as key, and that no other program accesses by key.
 * `readonly(section)` is a read-only data section's bytes as this run sets them (`.rodata`),
 * so branches on `const volatile` switches are decided; writable sections are unknown.
 */
export function syscallKeyedMaps(elf: ElfFile, readonly: (section: string) => Uint8Array | undefined): string[] {
  /** Per map: whether every access seen so far was keyed by the id. */
  const keyed = new Map<string, boolean>();
  for (const sec of elf.sections) {
    if (sec.type !== SHT_PROGBITS || (sec.flags & SHF_EXECINSTR) === 0 || sec.data.length === 0) continue;
    const ok = walk(elf, sec.index, readonly, SECTIONS.test(sec.name), keyed);
    if (!ok) return [];
  }
  return [...keyed]
    .filter(([, byId]) => byId)
    .map(([m]) => m)
    .sort();
}

/** Walks every path of one program section, noting in `keyed` how each map is keyed; false when it cannot. */
function walk(elf: ElfFile, index: number, readonly: (section: string) => Uint8Array | undefined, syscalls: boolean, keyed: Map<string, boolean>): boolean {
  const sec = elf.sections[index]!;
  const relos = new Map((elf.relocations.get(index) ?? []).map((r) => [r.offset, r]));
  const v = new DataView(sec.data.buffer, sec.data.byteOffset, sec.data.byteLength);
  const count = Math.floor(sec.data.length / 8);
  // Each function of the section starts at a symbol; the program's entry is at 0.
  const starts = elf.symbols.filter((s) => s.section === index && s.type === 2).map((s) => s.value / 8);
  const todo: State[] = (starts.length > 0 ? starts : [0]).map((pc) => ({
    pc,
    regs: Array.from({ length: 11 }, (_, r) => (r === 1 ? { t: 'ctx' } : r === 10 ? { t: 'fp', off: 0 } : UNKNOWN)),
    stack: new Map(),
  }));
  let steps = 0;
  const note = (map: string, byId: boolean) => keyed.set(map, (keyed.get(map) ?? true) && byId && syscalls);
  while (todo.length > 0) {
    const s = todo.pop()!;
    for (;;) {
      if (++steps > BUDGET || s.pc < 0 || s.pc >= count) return false;
      const at = s.pc * 8;
      const code = v.getUint8(at);
      const dst = v.getUint8(at + 1) & 0x0f;
      const src = v.getUint8(at + 1) >> 4;
      const off = v.getInt16(at + 2, true);
      const imm = v.getInt32(at + 4, true);
      const cls = code & 0x07;
      if (code === 0x18) {
        // lddw: a map, a global, or a 64-bit constant.
        const r = relos.get(at);
        const sym = r === undefined ? undefined : elf.symbols[r.symbol];
        const target = sym === undefined ? undefined : elf.sections[sym.section];
        if (sym === undefined) s.regs[dst] = { t: 'k', v: (BigInt(v.getUint32(at + 12, true)) << 32n) | BigInt(v.getUint32(at + 4, true)) };
        else if (target?.name === '.maps' || target?.name === 'maps') s.regs[dst] = { t: 'map', name: sym.name };
        else s.regs[dst] = target === undefined ? UNKNOWN : { t: 'data', section: target.name, off: sym.value + imm };
        s.pc += 2;
        continue;
      }
      if (cls === 0x07 || cls === 0x04) {
        alu(s, code, dst, src, imm, cls === 0x07);
        s.pc++;
        continue;
      }
      if (cls === 0x01 && (code & 0xe0) === 0x60) {
        s.regs[dst] = load(s, s.regs[src]!, off, SIZES[(code >> 3) & 3]!, readonly);
        s.pc++;
        continue;
      }
      if ((cls === 0x03 || cls === 0x02) && ((code & 0xe0) === 0x60 || (code & 0xe0) === 0xc0)) {
        const base = s.regs[dst]!;
        const size = SIZES[(code >> 3) & 3]!;
        const value: Value = (code & 0xe0) === 0xc0 ? UNKNOWN : cls === 0x02 ? { t: 'k', v: BigInt(imm) } : s.regs[src]!;
        if (base.t === 'fp') store(s, base.off + off, size, value);
        // An atomic may write back into its source register (fetch variants).
        if ((code & 0xe0) === 0xc0 && (imm & 1) !== 0) s.regs[imm === 0xf1 ? 0 : src] = UNKNOWN;
        s.pc++;
        continue;
      }
      if (cls === 0x05 || cls === 0x06) {
        const op = code & 0xf0;
        if (op === 0x90) break; // exit
        if (op === 0x80) {
          if (cls !== 0x05 || src === 1) return false; // BPF-to-BPF calls are not followed
          if (src === 0 && (imm === 1 || imm === 2 || imm === 3)) {
            const map = s.regs[1]!;
            const key = s.regs[2]!;
            if (map.t !== 'map') return false;
            const slot = key.t === 'fp' ? s.stack.get(key.off) : undefined;
            note(map.name, slot !== undefined && slot.value.t === 'id' && slot.size >= 4);
          }
          for (let r = 0; r <= 5; r++) s.regs[r] = UNKNOWN;
          s.pc++;
          continue;
        }
        if (op === 0x00) {
          if (cls !== 0x05) return false;
          s.pc += off + 1;
          continue;
        }
        const taken = decide(op, s.regs[dst]!, (code & 0x08) === 0 ? { t: 'k', v: BigInt(imm) } : s.regs[src]!, cls === 0x06);
        if (taken === undefined) {
          todo.push({ pc: s.pc + off + 1, regs: [...s.regs], stack: new Map(s.stack) });
          s.pc++;
        } else s.pc += taken ? off + 1 : 1;
        continue;
      }
      return false;
    }
  }
  return true;
}

function alu(s: State, code: number, dst: number, src: number, imm: number, wide: boolean): void {
  const op = code & 0xf0;
  const b: Value = (code & 0x08) === 0 ? { t: 'k', v: BigInt(imm) } : s.regs[src]!;
  const a = s.regs[dst]!;
  if (op === 0xb0) {
    // mov; a 32-bit move of the id keeps it (a syscall number fits in 32 bits)
    s.regs[dst] = wide || b.t === 'id' ? b : b.t === 'k' ? { t: 'k', v: BigInt.asUintN(32, b.v) } : UNKNOWN;
    return;
  }
  if (op === 0x00 && wide && b.t === 'k' && (a.t === 'fp' || a.t === 'data')) {
    s.regs[dst] = { ...a, off: a.off + Number(b.v) };
    return;
  }
  s.regs[dst] = UNKNOWN;
}

function load(s: State, base: Value, off: number, size: number, readonly: (section: string) => Uint8Array | undefined): Value {
  if (base.t === 'ctx') return off === ID_OFFSET && size === 8 ? { t: 'id' } : UNKNOWN;
  if (base.t === 'fp') {
    const slot = s.stack.get(base.off + off);
    return slot !== undefined && slot.size === size ? slot.value : UNKNOWN;
  }
  if (base.t !== 'data') return UNKNOWN;
  const bytes = readonly(base.section);
  const at = base.off + off;
  if (bytes === undefined || at < 0 || at + size > bytes.length) return UNKNOWN;
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const k = size === 1 ? d.getUint8(at) : size === 2 ? d.getUint16(at, true) : size === 4 ? d.getUint32(at, true) : d.getBigUint64(at, true);
  return { t: 'k', v: BigInt(k) };
}

function store(s: State, off: number, size: number, value: Value): void {
  for (const [o, slot] of s.stack) if (o < off + size && off < o + slot.size) s.stack.delete(o);
  s.stack.set(off, { value, size });
}

/** Whether a conditional jump is taken, when both sides are constants; undefined otherwise. */
function decide(op: number, a: Value, b: Value, narrow: boolean): boolean | undefined {
  if (a.t !== 'k' || b.t !== 'k') return undefined;
  const bits = narrow ? 32 : 64;
  const [x, y] = [BigInt.asUintN(bits, a.v), BigInt.asUintN(bits, b.v)];
  const [sx, sy] = [BigInt.asIntN(bits, a.v), BigInt.asIntN(bits, b.v)];
  switch (op) {
    case 0x10:
      return x === y;
    case 0x50:
      return x !== y;
    case 0x20:
      return x > y;
    case 0x30:
      return x >= y;
    case 0xa0:
      return x < y;
    case 0xb0:
      return x <= y;
    case 0x40:
      return (x & y) !== 0n;
    case 0x60:
      return sx > sy;
    case 0x70:
      return sx >= sy;
    case 0xc0:
      return sx < sy;
    case 0xd0:
      return sx <= sy;
    default:
      return undefined;
  }
}
