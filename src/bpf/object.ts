// `parseObject`: everything ebpm needs to know about a BPF object without a kernel. Pure: the
// same bytes give the same spec on any machine (cilium/ebpf's CollectionSpec rule); what
// depends on the running kernel happens at load time in the native loader.
import { btfStrings, parseBtf, skipModifiers, typeName, typeSize, type Btf, type BtfDatasec, type BtfLinkage } from './btf.js';
import { essentialName, parseBtfExt, type BtfExt, type CoreRelocation } from './btf-ext.js';
import { bpfError } from './cursor.js';
import { parseElf, SHT_NOBITS, STT_OBJECT, type ElfFile, type ElfSection } from './elf.js';
import { describeType, type TypeLayout } from './layout.js';
import { readBtfMaps, readLegacyMaps, type MapSpec } from './maps.js';
import { readPrograms, type ProgramSpec } from './programs.js';
import { readRecordFacts, type RecordFacts } from './record-fields.js';
import { isEventMapType } from './event-maps.js';

export type { MapSlot, MapSpec } from './maps.js';
export type { HelperUse, ProgramSpec } from './programs.js';
export type { FieldFact, FieldSource, RecordFacts } from './record-fields.js';

/** A global variable in `.rodata`, `.data`, `.bss` or a custom `.rodata.*`/`.data.*`/`.bss.*` section. */
export interface GlobalSpec {
  readonly name: string;
  readonly section: string;
  /** Byte offset inside the section: the ELF symbol's value, or the DATASEC entry's in a linked object without one. */
  readonly offset: number;
  readonly size: number;
  /** BTF id of the variable's type, qualifiers included (`const volatile pid_t`). */
  readonly typeId: number;
  /** The type spelled as C would, without qualifiers (`pid_t`, `struct event *`). */
  readonly type: string;
  readonly linkage: BtfLinkage;
  /** Whether the section is read-only to BPF programs (`.rodata*`): settable only before load. */
  readonly readonly: boolean;
  /** The initial bytes: from the section data, zeros for `.bss`. */
  readonly defaultValue: Uint8Array;
  readonly layout: TypeLayout;
}

/**
 * `EBPM_EXPORT(map, type)` from <ebpm/ebpm.h>: records in `map` have the layout of `type`.
 * The reader does not check that `map` exists; whoever builds the package reports that.
 */
export interface ExportSpec {
  readonly map: string;
  /** BTF id of `type` (the pointee of the marker global, qualifiers dropped). */
  readonly typeId: number;
  readonly layout: TypeLayout;
}

export interface ObjectSpec {
  /** The `license` section's string (`Dual BSD/GPL`), or null without one. */
  readonly license: string | null;
  readonly programs: readonly ProgramSpec[];
  readonly maps: readonly MapSpec[];
  /** Data section variables, by section then offset; `EBPM_EXPORT` markers are in `exports` instead. */
  readonly globals: readonly GlobalSpec[];
  readonly exports: readonly ExportSpec[];
  /**
   * The records of constant size the code writes to ring buffers and perf event arrays, by map
   * and size, with what it writes into them (for records whose struct is not in BTF).
   */
  readonly recordFacts: readonly RecordFacts[];
  /** The object's BTF, or null for an object built without -g. */
  readonly btf: Btf | null;
  readonly btfExt: BtfExt | null;
  readonly coreRelocations: readonly CoreRelocation[];
  /** Kernel type names CO-RE relocations resolve against kernel BTF, sorted. */
  readonly kernelTypes: readonly string[];
  /** Whether loading needs the running kernel's BTF (CO-RE, BTF-attached programs, kfuncs). */
  readonly needsKernelBtf: boolean;
}

/** The marker prefix `EBPM_EXPORT` gives its unused global. */
export const EXPORT_MARKER = '__ebpm_export__';

const utf8 = new TextDecoder('utf-8');
const DATA_SECTION = /^\.(rodata|data|bss)(\..+)?$/;

/**
 * `parseObject` reads a BPF ELF object. Malformed input of any kind throws EbpmError with code
 * BPF_NOT_ELF, BPF_WRONG_MACHINE, BPF_BIG_ENDIAN, BPF_MALFORMED or BTF_MALFORMED.
 */
export function parseObject(bytes: Uint8Array): ObjectSpec {
  const elf = parseElf(bytes);
  const btfSec = elf.sections.find((s) => s.name === '.BTF');
  const btf = btfSec === undefined ? null : parseBtf(btfSec.data);
  const extSec = elf.sections.find((s) => s.name === '.BTF.ext');
  const btfExt = btf === null || btfSec === undefined || extSec === undefined ? null : parseBtfExt(extSec.data, btf, btfStrings(btfSec.data));
  const programs = readPrograms(elf);
  const maps = [...readBtfMaps(elf, btf, programs), ...readLegacyMaps(elf)];
  const data = btf === null ? [] : readGlobals(elf, btf);
  const globals = data.filter((g) => !g.name.startsWith(EXPORT_MARKER));
  const markers = data.filter((g) => g.name.startsWith(EXPORT_MARKER));
  const coreRelocations = btfExt?.coreRelocations ?? [];
  const kernelRelos = coreRelocations.filter((r) => r.kind !== 'type_id_local');
  const events = maps.some((m) => isEventMapType(m.type));
  return {
    license: readLicense(elf),
    programs,
    maps,
    globals,
    exports: btf === null ? [] : readExports(btf, markers),
    recordFacts: events ? readRecordFacts(elf, btf, maps, coreRelocations) : [],
    btf,
    btfExt,
    coreRelocations,
    kernelTypes: [...new Set(kernelRelos.map((r) => essentialName(r.typeName)))].sort(),
    needsKernelBtf: kernelRelos.length > 0 || programs.some((p) => p.needsKernelBtf || p.kfuncs.length > 0),
  };
}

function readLicense(elf: ElfFile): string | null {
  const sec = elf.sections.find((s) => s.name === 'license');
  if (sec === undefined) return null;
  // libbpf copies up to the first NUL; a license without one is read to the section end.
  const end = sec.data.indexOf(0);
  return utf8.decode(sec.data.subarray(0, end < 0 ? sec.data.length : end));
}

function readGlobals(elf: ElfFile, btf: Btf): GlobalSpec[] {
  const sections = new Map(elf.sections.map((s) => [s.name, s]));
  // clang leaves DATASEC offsets 0 in object files; libbpf takes them from the symbols.
  const objects = new Map(elf.symbols.filter((s) => s.type === STT_OBJECT).map((s) => [`${s.section}:${s.name}`, s.value]));
  const out: GlobalSpec[] = [];
  for (const t of btf.types) {
    if (t.kind !== 'datasec' || !DATA_SECTION.test(t.name)) continue;
    const sec = sections.get(t.name);
    if (sec === undefined) throw bpfError('BTF_MALFORMED', `btf datasec ${t.name}: no ELF section of that name`, { typeId: t.id });
    out.push(...sectionGlobals(btf, t, sec, objects));
  }
  const order = new Map(elf.sections.map((s) => [s.name, s.index]));
  return out.sort((a, b) => order.get(a.section)! - order.get(b.section)! || a.offset - b.offset);
}

/** Larger variables are not plausible BPF globals, and their defaults would be allocated. */
const MAX_GLOBAL_SIZE = 64 << 20;

function sectionGlobals(btf: Btf, sec: BtfDatasec, elfSec: ElfSection, objects: ReadonlyMap<string, number>): GlobalSpec[] {
  return sec.vars.flatMap((entry): GlobalSpec[] => {
    const v = btf.types[entry.type]!;
    if (v.kind !== 'var') return [];
    const where = `global ${v.name} in ${sec.name}`;
    const symOffset = objects.get(`${elfSec.index}:${v.name}`);
    if (symOffset === undefined && sec.size === 0) throw bpfError('BPF_MALFORMED', `${where}: no symbol gives its offset`);
    const offset = symOffset ?? entry.offset;
    const size = entry.size || typeSize(btf, v.type);
    if (size > MAX_GLOBAL_SIZE) throw bpfError('BPF_MALFORMED', `${where}: size ${size} larger than ${MAX_GLOBAL_SIZE} bytes`);
    if (offset + size > elfSec.size) {
      throw bpfError('BPF_MALFORMED', `${where}: offset ${offset} size ${size} past the section's ${elfSec.size} bytes`);
    }
    return [
      {
        name: v.name,
        section: sec.name,
        offset,
        size,
        typeId: v.type,
        type: typeName(btf, v.type),
        linkage: v.linkage,
        readonly: sec.name.startsWith('.rodata'),
        defaultValue: elfSec.type === SHT_NOBITS ? new Uint8Array(size) : elfSec.data.slice(offset, offset + size),
        layout: describeType(btf, v.type),
      },
    ];
  });
}

function readExports(btf: Btf, markers: readonly GlobalSpec[]): ExportSpec[] {
  return markers.map((g) => {
    const ptr = skipModifiers(btf, g.typeId);
    if (ptr.kind !== 'ptr') throw bpfError('BPF_MALFORMED', `global ${g.name}: EBPM_EXPORT marker is a ${ptr.kind}, not a pointer`);
    const target = skipModifiers(btf, ptr.type);
    return { map: g.name.slice(EXPORT_MARKER.length), typeId: target.id, layout: describeType(btf, target.id) };
  });
}
