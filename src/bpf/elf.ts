// Reader for the ELF files clang writes for `-target bpf`: 64-bit, little-endian, relocatable,
// e_machine EM_BPF; and, for naming the user-space frames of a stack, the symbols and loadable
// segments of 64-bit little-endian executables and shared libraries. Layouts follow the System V
// gABI (ELF-64 Object File Format 1.5) and /usr/include/elf.h; only what is needed is read.
import { bpfError, Cursor, cstring } from './cursor.js';

/** `EM_BPF` is the e_machine of BPF objects (elf.h, Linux 3.18+). */
export const EM_BPF = 247;

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHF_EXECINSTR = 0x4;

export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const SHN_UNDEF = 0;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const SHN_XINDEX = 0xffff;

/** One section header, with its bytes (empty for SHT_NOBITS such as `.bss`). */
export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  /** The low 32 bits of sh_flags, which hold every SHF_* flag BPF objects use. */
  readonly flags: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly entsize: number;
  readonly data: Uint8Array;
}

/** One `.symtab` entry. `section` is st_shndx, checked by whoever follows it. */
export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  readonly bind: number;
  readonly type: number;
  readonly visibility: number;
  readonly section: number;
  readonly value: number;
  readonly size: number;
}

/** One SHT_REL entry (BPF objects use REL, never RELA). `symbol` indexes `ElfFile.symbols`. */
export interface ElfRelocation {
  readonly offset: number;
  readonly type: number;
  readonly symbol: number;
}

export interface ElfFile {
  readonly sections: readonly ElfSection[];
  readonly symbols: readonly ElfSymbol[];
  /** Relocations by the index of the section they patch (the REL section's sh_info). */
  readonly relocations: ReadonlyMap<number, readonly ElfRelocation[]>;
}

/**
 * `parseElf` reads the headers, section names, the symbol table and the REL sections of a
 * BPF object. It rejects anything but ELFCLASS64/ELFDATA2LSB/ET_REL/EM_BPF with a typed error.
 */
export function parseElf(bytes: Uint8Array): ElfFile {
  const c = elfHeader(bytes);
  const type = c.u16(16, 'e_type');
  const machine = c.u16(18, 'e_machine');
  if (machine !== EM_BPF) {
    throw bpfError('BPF_WRONG_MACHINE', `elf header: e_machine ${machine}, not EM_BPF (${EM_BPF})`, { machine });
  }
  if (type !== 1) throw c.fail(`e_type ${type}, not a relocatable object (ET_REL)`);
  const sections = readSections(c);
  const tabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (tabs.length > 1) throw bpfError('BPF_MALFORMED', `elf: ${tabs.length} symbol tables, expected one`);
  const symbols = tabs.length === 0 ? [] : readSymbols(sections, tabs[0]!);
  return { sections, symbols, relocations: readRelocations(sections, symbols) };
}

/** One PT_LOAD segment: file bytes `[offset, offset+fileSize)` are mapped at `vaddr`. */
export interface ElfSegment {
  readonly offset: number;
  readonly vaddr: number;
  readonly fileSize: number;
}

/** What names the code of an executable or shared library: its function symbols and loaded segments. */
export interface ElfImage {
  /** STT_FUNC symbols of `.symtab` and `.dynsym` with an address, sorted by it. */
  readonly functions: readonly ElfSymbol[];
  readonly segments: readonly ElfSegment[];
}

const PHDR_SIZE = 56;
const PT_LOAD = 1;

/**
 * `parseImage` reads an executable (ET_EXEC) or shared object (ET_DYN) of any machine: its
 * PT_LOAD segments and the functions of its symbol tables (a stripped file keeps `.dynsym`).
 */
export function parseImage(bytes: Uint8Array): ElfImage {
  const c = elfHeader(bytes);
  const type = c.u16(16, 'e_type');
  if (type !== 2 && type !== 3) throw c.fail(`e_type ${type}, not an executable or shared object`);
  const phoff = c.u64(32, 'e_phoff');
  const phnum = c.u16(56, 'e_phnum');
  if (phnum > 0 && c.u16(54, 'e_phentsize') !== PHDR_SIZE) throw c.fail(`e_phentsize ${c.u16(54, 'e_phentsize')}, expected ${PHDR_SIZE}`);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * PHDR_SIZE;
    if (c.u32(at, () => `program header ${i}`) !== PT_LOAD) continue;
    segments.push({
      offset: c.u64(at + 8, () => `program header ${i} p_offset`),
      vaddr: c.u64(at + 16, () => `program header ${i} p_vaddr`),
      fileSize: c.u64(at + 32, () => `program header ${i} p_filesz`),
    });
  }
  const sections = readSections(c);
  const functions = sections
    .filter((s) => s.type === SHT_SYMTAB || s.type === SHT_DYNSYM)
    .flatMap((t) => readSymbols(sections, t))
    .filter((s) => s.type === STT_FUNC && s.value !== 0)
    .sort((a, b) => a.value - b.value);
  return { functions, segments };
}

/** Checks the magic, the byte order and the class every ELF file ebpm reads has. */
function elfHeader(bytes: Uint8Array): Cursor {
  const c = new Cursor(bytes, 'BPF_MALFORMED', 'elf header');
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw bpfError('BPF_NOT_ELF', 'not an ELF file: no \\x7fELF magic');
  }
  if (bytes.length < EHDR_SIZE) throw c.fail(`truncated: ${bytes.length} bytes, header needs ${EHDR_SIZE}`);
  if (bytes[5] === 2) {
    throw bpfError('BPF_BIG_ENDIAN', 'elf header: big-endian object (clang -target bpfeb); only little-endian BPF is supported');
  }
  if (bytes[5] !== 1) throw c.fail(`unknown data encoding ${bytes[5]}`);
  if (bytes[4] !== 2) throw c.fail(`not a 64-bit ELF (class ${bytes[4]})`);
  return c;
}

/**
 * `elfSection` returns the bytes of section `name` of any 64-bit little-endian ELF file (a
 * vmlinux, whatever its machine), or undefined when it has none.
 */
export function elfSection(bytes: Uint8Array, name: string): Uint8Array | undefined {
  return elfSections(bytes, [name])[0];
}

/** `elfSections` is `elfSection` of each of `names`, from one read of the section headers. */
export function elfSections(bytes: Uint8Array, names: readonly string[]): (Uint8Array | undefined)[] {
  const sections = readSections(elfHeader(bytes));
  return names.map((name) => sections.find((s) => s.name === name)?.data);
}

/** The section headers, with their names and bytes. */
function readSections(c: Cursor): ElfSection[] {
  const shoff = c.u64(40, 'e_shoff');
  const shentsize = c.u16(58, 'e_shentsize');
  let shnum = c.u16(60, 'e_shnum');
  let shstrndx = c.u16(62, 'e_shstrndx');
  if (shoff === 0) throw c.fail('no section header table');
  if (shentsize !== SHDR_SIZE) throw c.fail(`e_shentsize ${shentsize}, expected ${SHDR_SIZE}`);
  // gABI "Extended section numbering": counts that overflow 16 bits live in section 0.
  if (shnum === 0) shnum = c.u64(shoff + 32, 'section 0 sh_size (extended e_shnum)');
  if (shstrndx === SHN_XINDEX) shstrndx = c.u32(shoff + 40, 'section 0 sh_link (extended e_shstrndx)');
  c.check(shoff, shnum * SHDR_SIZE, `section header table (${shnum} entries)`);
  if (shstrndx >= shnum) throw c.fail(`e_shstrndx ${shstrndx} out of range (${shnum} sections)`);

  const raw = Array.from({ length: shnum }, (_, i) => readHeader(c, shoff + i * SHDR_SIZE, i));
  const shstr = raw[shstrndx]!;
  if (shstr.type !== SHT_STRTAB) throw c.fail(`e_shstrndx ${shstrndx} is not a string table`);
  return raw.map(
    (h): ElfSection => ({
      ...h,
      name: h.index === 0 ? '' : cstring(shstr.data, h.nameOff, 'BPF_MALFORMED', () => `section ${h.index} name`),
    }),
  );
}

interface RawHeader extends Omit<ElfSection, 'name'> {
  readonly nameOff: number;
}

function readHeader(c: Cursor, at: number, index: number): RawHeader {
  // The whole table was bounds-checked; only offsets and sizes need validating.
  const v = c.view;
  const type = v.getUint32(at + 4, true);
  const offset = c.u64(at + 24, () => `section ${index} sh_offset`);
  const size = c.u64(at + 32, () => `section ${index} sh_size`);
  const data = type === SHT_NOBITS || index === 0 ? new Uint8Array(0) : c.slice(offset, size, () => `section ${index} data`);
  return {
    index,
    nameOff: v.getUint32(at, true),
    type,
    flags: v.getUint32(at + 8, true),
    offset,
    size,
    link: v.getUint32(at + 40, true),
    info: v.getUint32(at + 44, true),
    entsize: c.u64(at + 56, () => `section ${index} sh_entsize`),
    data,
  };
}

function readSymbols(sections: readonly ElfSection[], tab: ElfSection): ElfSymbol[] {
  const where = `section ${tab.name}`;
  if (tab.entsize !== SYM_SIZE || tab.size % SYM_SIZE !== 0) {
    throw bpfError('BPF_MALFORMED', `${where}: entry size ${tab.entsize} / size ${tab.size} do not fit ${SYM_SIZE}-byte symbols`);
  }
  const strtab = sections[tab.link];
  if (strtab === undefined || strtab.type !== SHT_STRTAB) {
    throw bpfError('BPF_MALFORMED', `${where}: sh_link ${tab.link} is not a string table`);
  }
  // sh_size is a whole number of entries inside the file (checked above and by readHeader).
  const c = new Cursor(tab.data, 'BPF_MALFORMED', where);
  const v = c.view;
  const out: ElfSymbol[] = [];
  for (let i = 0, at = 0; at < tab.data.length; i++, at += SYM_SIZE) {
    const info = v.getUint8(at + 4);
    out.push({
      index: i,
      name: cstring(strtab.data, v.getUint32(at, true), 'BPF_MALFORMED', () => `${where}: symbol ${i} name`),
      bind: info >> 4,
      type: info & 0xf,
      visibility: v.getUint8(at + 5) & 0x3,
      section: v.getUint16(at + 6, true),
      value: c.u64(at + 8, () => `symbol ${i} st_value`),
      size: c.u64(at + 16, () => `symbol ${i} st_size`),
    });
  }
  return out;
}

function readRelocations(sections: readonly ElfSection[], symbols: readonly ElfSymbol[]): Map<number, ElfRelocation[]> {
  const out = new Map<number, ElfRelocation[]>();
  for (const s of sections) {
    if (s.type !== SHT_REL) continue;
    const where = `section ${s.name}`;
    if (s.entsize !== REL_SIZE || s.size % REL_SIZE !== 0) {
      throw bpfError('BPF_MALFORMED', `${where}: entry size ${s.entsize} / size ${s.size} do not fit ${REL_SIZE}-byte relocations`);
    }
    if (s.info === 0 || s.info >= sections.length) throw bpfError('BPF_MALFORMED', `${where}: sh_info ${s.info} names no section`);
    if (sections[s.link]?.type !== SHT_SYMTAB) throw bpfError('BPF_MALFORMED', `${where}: sh_link ${s.link} is not the symbol table`);
    const c = new Cursor(s.data, 'BPF_MALFORMED', where);
    const list = out.get(s.info) ?? [];
    for (let at = 0; at < s.data.length; at += REL_SIZE) {
      const symbol = c.view.getUint32(at + 12, true);
      if (symbol >= symbols.length) {
        throw c.fail(`relocation ${at / REL_SIZE}: symbol index ${symbol} out of range (${symbols.length} symbols)`);
      }
      list.push({ offset: c.u64(at, () => `relocation ${at / REL_SIZE} r_offset`), type: c.view.getUint32(at + 8, true), symbol });
    }
    out.set(s.info, list);
  }
  return out;
}
