// Map definitions: BTF-defined maps in `.maps` (libbpf's parse_btf_map_def, the __uint/__type
// macros of bpf/bpf_helpers.h) and legacy `struct bpf_map_def` entries in a `maps` section
// (dropped by libbpf 1.0, still produced by old sources and iproute2's tooling).
import { findType, resolveType, typeSize, type Btf, type BtfComposite } from './btf.js';
import { bpfError, Cursor } from './cursor.js';
import { STT_SECTION, type ElfFile } from './elf.js';
import { mapTypeName } from './map-types.js';

export interface MapSpec {
  readonly name: string;
  /** `.maps` (BTF-defined) or `maps` (legacy bpf_map_def). */
  readonly section: string;
  /** libbpf's map type name (`hash`, `ringbuf`, `perf_event_array`). */
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  /** 0 where libbpf fills in a default at load (perf_event_array: the number of CPUs). */
  readonly maxEntries: number;
  readonly flags: number;
  /** BTF ids of `__type(key, …)` / `__type(value, …)`; null when only a size was given. */
  readonly keyTypeId: number | null;
  readonly valueTypeId: number | null;
  /** `__uint(pinning, LIBBPF_PIN_BY_NAME)`: pin under /sys/fs/bpf by map name. */
  readonly pinByName: boolean;
}

/** `readBtfMaps` reads the BTF-defined maps of the `.maps` section. */
export function readBtfMaps(elf: ElfFile, btf: Btf | null): MapSpec[] {
  if (!elf.sections.some((s) => s.name === '.maps')) return [];
  if (btf === null) throw bpfError('BPF_MALFORMED', 'section .maps: BTF-defined maps need a .BTF section');
  const sec = findType(btf, 'datasec', '.maps');
  if (sec === undefined) throw bpfError('BTF_MALFORMED', 'section .maps: no DATASEC .maps in BTF');
  return sec.vars.map((v) => {
    const variable = btf.types[v.type]!;
    const where = `map ${variable.name || `[${v.type}]`}`;
    if (variable.kind !== 'var') throw bpfError('BTF_MALFORMED', `${where}: .maps entry is a ${variable.kind}, not a var`);
    const def = resolveType(btf, variable.type);
    if (def.kind !== 'struct') throw bpfError('BTF_MALFORMED', `${where}: definition is a ${def.kind}, not a struct`, { typeId: def.id });
    return btfMap(btf, variable.name, def, where);
  });
}

function btfMap(btf: Btf, name: string, def: BtfComposite, where: string): MapSpec {
  const f = { type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, pinning: 0 };
  let keyTypeId: number | null = null;
  let valueTypeId: number | null = null;
  for (const m of def.members) {
    const ptr = resolveType(btf, m.type);
    if (ptr.kind !== 'ptr') throw bpfError('BTF_MALFORMED', `${where}: field ${m.name} is a ${ptr.kind}, not a pointer`, { typeId: def.id });
    // __uint(name, n) is `int (*name)[n]`: the value is the array's length.
    const uint = () => {
      const arr = resolveType(btf, ptr.type);
      if (arr.kind !== 'array') throw bpfError('BTF_MALFORMED', `${where}: field ${m.name} is not __uint(${m.name}, …)`, { typeId: def.id });
      return arr.nelems;
    };
    switch (m.name) {
      case 'type': f.type = uint(); break;
      case 'max_entries': f.maxEntries = uint(); break;
      case 'map_flags': f.flags = uint(); break;
      case 'pinning': f.pinning = uint(); break;
      case 'key_size': f.keySize = uint(); break;
      case 'value_size': f.valueSize = uint(); break;
      case 'key':
        keyTypeId = ptr.type;
        f.keySize = typeSize(btf, ptr.type);
        break;
      case 'value':
        valueTypeId = ptr.type;
        f.valueSize = typeSize(btf, ptr.type);
        break;
      default:
        // values (map-in-map, prog_array contents), numa_node, map_extra and fields of
        // newer libbpf versions: not part of the metadata ebpm publishes.
        break;
    }
  }
  if (f.pinning > 1) throw bpfError('BTF_MALFORMED', `${where}: pinning ${f.pinning} unknown (0 none, 1 by name)`);
  return { name, section: '.maps', type: mapTypeName(f.type), keySize: f.keySize, valueSize: f.valueSize, maxEntries: f.maxEntries, flags: f.flags, keyTypeId, valueTypeId, pinByName: f.pinning === 1 };
}

const LEGACY_DEF = 20; // struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; }

/** `readLegacyMaps` reads `struct bpf_map_def` entries of a `maps` section, one per symbol. */
export function readLegacyMaps(elf: ElfFile): MapSpec[] {
  const sec = elf.sections.find((s) => s.name === 'maps');
  if (sec === undefined) return [];
  const syms = elf.symbols.filter((s) => s.section === sec.index && s.type !== STT_SECTION).sort((a, b) => a.value - b.value);
  if (syms.length === 0) return [];
  const c = new Cursor(sec.data, 'BPF_MALFORMED', 'section maps');
  // libbpf 0.x: every definition has the same size, the section size over the map count.
  const defSize = Math.floor(sec.size / syms.length);
  if (defSize < LEGACY_DEF) throw c.fail(`${syms.length} maps in ${sec.size} bytes: definitions shorter than ${LEGACY_DEF} bytes`);
  return syms.map((s) => {
    const at = s.value;
    const u = (n: number, what: string) => c.u32(at + n * 4, `map ${s.name} ${what}`);
    return {
      name: s.name, section: 'maps', type: mapTypeName(u(0, 'type')),
      keySize: u(1, 'key_size'), valueSize: u(2, 'value_size'), maxEntries: u(3, 'max_entries'), flags: u(4, 'map_flags'),
      keyTypeId: null, valueTypeId: null, pinByName: false,
    };
  });
}
