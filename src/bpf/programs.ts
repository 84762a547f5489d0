// Programs of a BPF object as libbpf finds them (bpf_object__add_programs): every STT_FUNC
// symbol in an executable section other than `.text` is a program; functions in `.text` are
// subprograms it may call. Instruction encoding: kernel Documentation/bpf/standardization/
// instruction-set.rst (8-byte slots; lddw takes two).
import { bpfError } from './cursor.js';
import { SHF_EXECINSTR, SHN_UNDEF, SHT_PROGBITS, STT_FUNC, type ElfFile, type ElfRelocation, type ElfSection } from './elf.js';
import { helperName } from './helpers.js';
import { sectionInfo, type ProgType } from './sections.js';

/** A helper a program calls (`call imm` with src_reg 0). `name` is null for ids newer than our table. */
export interface HelperUse {
  readonly id: number;
  readonly name: string | null;
}

export interface ProgramSpec {
  /** The function's symbol name, which is what libbpf and `bpftool prog` call the program. */
  readonly name: string;
  /** ELF section, i.e. the `SEC("…")` string. */
  readonly section: string;
  readonly type: ProgType;
  readonly expectedAttachType: string | null;
  /** Attach point named by the section (`signal/signal_generate`), or null. */
  readonly target: string | null;
  readonly autoAttach: boolean;
  readonly sleepable: boolean;
  /** Whether loading resolves this program's attach point in kernel BTF (tp_btf, fentry, lsm, iter, struct_ops). */
  readonly needsKernelBtf: boolean;
  /** Instruction slots of the program's own body (subprograms not counted). */
  readonly instructions: number;
  /** Helpers called by the program or any subprogram it reaches, by id. */
  readonly helpers: readonly HelperUse[];
  /** Kernel functions (kfuncs) called through `__ksym` externs, by name, sorted. */
  readonly kfuncs: readonly string[];
  /** `.text` functions reachable through bpf-to-bpf calls, sorted. */
  readonly subprograms: readonly string[];
}

const INSN = 8;
const LDDW = 0x18; // BPF_LD | BPF_IMM | BPF_DW: two slots
const CALL = 0x85; // BPF_JMP | BPF_CALL
const PSEUDO_CALL = 1;
const PSEUDO_KFUNC_CALL = 2;

/** A function's body: instruction indexes [start, end) of its section. */
export interface Func {
  readonly name: string;
  readonly section: ElfSection;
  readonly start: number;
  readonly end: number;
}

interface Calls {
  readonly helpers: Set<number>;
  readonly kfuncs: Set<string>;
  readonly callees: Set<Func>;
}

/** `readPrograms` lists the programs of `elf` with the helpers, kfuncs and subprograms each reaches. */
export function readPrograms(elf: ElfFile): ProgramSpec[] {
  const funcs = functionsBySection(elf);
  const calls = new Map<Func, Calls>();
  for (const list of funcs.values()) for (const f of list) calls.set(f, scan(elf, f, funcs));
  const programs: ProgramSpec[] = [];
  for (const [secIdx, list] of funcs) {
    const section = elf.sections[secIdx]!;
    if (section.name === '.text') continue;
    const info = sectionInfo(section.name);
    for (const f of list) {
      const reach = reachable(f, calls);
      const helpers = [...new Set([...reach].flatMap((g) => [...calls.get(g)!.helpers]))].sort((a, b) => a - b);
      programs.push({
        name: f.name,
        section: section.name,
        type: info?.type ?? 'unspec',
        expectedAttachType: info?.expectedAttachType ?? null,
        target: info?.target ?? null,
        autoAttach: info?.autoAttach ?? false,
        sleepable: info?.sleepable ?? false,
        needsKernelBtf: info?.needsKernelBtf ?? false,
        instructions: f.end - f.start,
        helpers: helpers.map((id) => ({ id, name: helperName(id) ?? null })),
        kfuncs: [...new Set([...reach].flatMap((g) => [...calls.get(g)!.kfuncs]))].sort(),
        subprograms: [...reach]
          .filter((g) => g !== f)
          .map((g) => g.name)
          .sort(),
      });
    }
  }
  return programs;
}

/** Functions of each executable PROGBITS section, sorted by start, checked to lie inside it. */
export function functionsBySection(elf: ElfFile): Map<number, Func[]> {
  const out = new Map<number, Func[]>();
  for (const sym of elf.symbols) {
    if (sym.type !== STT_FUNC || sym.section === SHN_UNDEF) continue;
    const section = elf.sections[sym.section];
    if (section === undefined) throw bpfError('BPF_MALFORMED', `symbol ${sym.name}: section index ${sym.section} out of range`);
    if (section.type !== SHT_PROGBITS || (section.flags & SHF_EXECINSTR) === 0) continue;
    if (sym.value % INSN !== 0 || sym.size % INSN !== 0 || sym.size === 0 || sym.value + sym.size > section.size) {
      throw bpfError(
        'BPF_MALFORMED',
        `section ${section.name}: function ${sym.name} at offset ${sym.value} size ${sym.size} is not whole instructions inside the section (${section.size} bytes)`,
      );
    }
    const list = out.get(sym.section) ?? [];
    list.push({ name: sym.name, section, start: sym.value / INSN, end: (sym.value + sym.size) / INSN });
    out.set(sym.section, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.start - b.start);
  return new Map([...out].sort(([a], [b]) => a - b));
}

function scan(elf: ElfFile, f: Func, funcs: ReadonlyMap<number, readonly Func[]>): Calls {
  const relos = new Map<number, ElfRelocation>();
  for (const r of elf.relocations.get(f.section.index) ?? []) relos.set(r.offset, r);
  const out: Calls = { helpers: new Set(), kfuncs: new Set(), callees: new Set() };
  // functionsBySection checked [start, end) lies inside the section.
  const d = f.section.data;
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  for (let i = f.start; i < f.end; i++) {
    const code = v.getUint8(i * INSN);
    if (code === LDDW) {
      i++;
      continue;
    }
    if (code !== CALL) continue;
    const src = v.getUint8(i * INSN + 1) >> 4;
    const imm = v.getInt32(i * INSN + 4, true);
    const where = () => `section ${f.section.name}: ${f.name}: call at insn ${i}`;
    if (src === 0) {
      out.helpers.add(imm);
      continue;
    }
    if (src !== PSEUDO_CALL && src !== PSEUDO_KFUNC_CALL) throw bpfError('BPF_MALFORMED', `${where()}: unknown src_reg ${src}`);
    const r = relos.get(i * INSN);
    const sym = r === undefined ? undefined : elf.symbols[r.symbol]!;
    // clang encodes calls to `__ksym` externs as pseudo calls against an undefined symbol;
    // libbpf turns them into kfunc calls once it finds the function in kernel BTF.
    if (src === PSEUDO_KFUNC_CALL || sym?.section === SHN_UNDEF) {
      if (sym !== undefined) out.kfuncs.add(sym.name);
      continue;
    }
    // Target = symbol's insn + imm + 1 across sections (libbpf's sub_insn_idx), else pc-relative.
    const secIdx = sym === undefined ? f.section.index : sym.section;
    const target = sym === undefined ? i + imm + 1 : sym.value / INSN + imm + 1;
    const callee = containing(funcs.get(secIdx) ?? [], target);
    if (callee === undefined) throw bpfError('BPF_MALFORMED', `${where()}: target insn ${target} of section ${secIdx} is in no function`);
    out.callees.add(callee);
  }
  return out;
}

/** The function of `list` (sorted by start) whose body holds instruction `insn`: a binary search. */
export function containing(list: readonly Func[], insn: number): Func | undefined {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.start <= insn) lo = mid + 1;
    else hi = mid - 1;
  }
  const f = list[hi];
  return f !== undefined && insn < f.end ? f : undefined;
}

function reachable(root: Func, calls: ReadonlyMap<Func, Calls>): Set<Func> {
  const seen = new Set<Func>([root]);
  const todo = [root];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    for (const g of calls.get(f)!.callees) {
      if (!seen.has(g)) {
        seen.add(g);
        todo.push(g);
      }
    }
  }
  return seen;
}
