// Record sizes a BPF object writes to its ring buffers and perf event arrays, read from the
// instructions: at each call of bpf_ringbuf_reserve, bpf_ringbuf_output or
// bpf_perf_event_output, the map loaded into the map argument and the constant in the size
// argument (kernel Documentation/bpf/standardization/instruction-set.rst; helper arguments in
// r1–r5). Sizes computed at run time are not seen: the reader finds no constant, and says nothing.
import { type ElfFile, SHF_EXECINSTR, SHT_PROGBITS } from './elf.js';
import { HELPER_NAMES } from './helpers.js';

/** `RecordWrite` says that programs write records of `size` bytes to map `map`. */
export interface RecordWrite {
  readonly map: string;
  readonly size: number;
}

const INSN = 8;
const LDDW = 0x18;
const CALL = 0x85;
const MOV64_IMM = 0xb7;
const MOV32_IMM = 0xb4;
const EXIT = 0x95;
const CLASS_JMP = 0x05;
const CLASS_JMP32 = 0x06;
/** How far back from a call the arguments are looked for: clang sets them just before. */
const LOOKBACK = 32;

/** Helper → [register holding the map, register holding the size]. */
const WRITERS = new Map<number, readonly [number, number]>([
  [HELPER_NAMES.indexOf('ringbuf_reserve'), [1, 2]],
  [HELPER_NAMES.indexOf('ringbuf_output'), [1, 3]],
  [HELPER_NAMES.indexOf('perf_event_output'), [2, 5]],
]);

/** `readRecordWrites` lists the (map, size) pairs the object's code writes, sorted, each once. */
export function readRecordWrites(elf: ElfFile): RecordWrite[] {
  const seen = new Map<string, RecordWrite>();
  for (const sec of elf.sections) {
    if (sec.type !== SHT_PROGBITS || (sec.flags & SHF_EXECINSTR) === 0) continue;
    const relos = new Map((elf.relocations.get(sec.index) ?? []).map((r) => [r.offset, r]));
    const d = sec.data;
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const n = Math.floor(d.byteLength / INSN);
    for (let i = 0; i < n; i++) {
      if (v.getUint8(i * INSN) !== CALL || v.getUint8(i * INSN + 1) >> 4 !== 0) continue;
      const regs = WRITERS.get(v.getInt32(i * INSN + 4, true));
      if (regs === undefined) continue;
      let map: string | undefined;
      let size: number | undefined;
      // Walk back over straight-line code: the last write to each argument register wins.
      for (let j = i - 1, found = new Set<number>(); j >= 0 && j >= i - LOOKBACK && found.size < 2; j--) {
        const code = v.getUint8(j * INSN);
        const cls = code & 0x07;
        if (code === CALL || code === EXIT || ((cls === CLASS_JMP || cls === CLASS_JMP32) && code !== CALL)) break;
        const dst = v.getUint8(j * INSN + 1) & 0x0f;
        if (!regs.includes(dst) || found.has(dst)) continue;
        // An lddw's second slot (opcode 0) is not an instruction of its own.
        if (j > 0 && v.getUint8((j - 1) * INSN) === LDDW && code === 0) continue;
        found.add(dst);
        if (dst === regs[0] && code === LDDW) {
          const r = relos.get(j * INSN);
          const sym = r === undefined ? undefined : elf.symbols[r.symbol];
          const target = sym === undefined ? undefined : elf.sections[sym.section];
          if (target !== undefined && (target.name === '.maps' || target.name === 'maps')) map = sym!.name;
        } else if (dst === regs[1] && (code === MOV64_IMM || code === MOV32_IMM)) {
          size = v.getInt32(j * INSN + 4, true);
        }
      }
      if (map !== undefined && size !== undefined && size > 0) seen.set(`${map}\0${size}`, { map, size });
    }
  }
  return [...seen.values()].sort((a, b) => (a.map < b.map ? -1 : a.map > b.map ? 1 : a.size - b.size));
}
