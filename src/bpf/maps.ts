// Map definitions: BTF-defined maps in `.maps` (libbpf's parse_btf_map_def, the __uint/__type/
// __array/__ulong macros of bpf/bpf_helpers.h) and legacy `struct bpf_map_def` entries in a `maps`
// section (dropped by libbpf 1.0, still produced by old sources and iproute2's tooling).
import { EbpmError } from '../core/errors.js';
import { findType, resolveType, typeSize, type Btf, type BtfComposite, type BtfMember } from './btf.js';
import { bpfError, Cursor } from './cursor.js';
import { STT_SECTION, type ElfFile } from './elf.js';
import { mapTypeName } from './map-types.js';
import type { ProgramSpec } from './programs.js';

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
  /** `map_extra` (5.16+): a bloom filter's hash count, an arena's address; 0n when not set. */
  readonly mapExtra: bigint;
  /** A map-in-map's inner definition (`__array(values, struct {…})`), named `<map>.inner` as libbpf does. */
  readonly inner: MapSpec | null;
  /** Slots libbpf fills at load from `.values = { [slot] = &target }`, by slot. */
  readonly initialValues: readonly MapSlot[];
}

/** One initialised slot: an inner map of a map-in-map, or a program of a prog array. */
export interface MapSlot {
  readonly slot: number;
  readonly target: string;
}

const MAP_HINT = 'fix the map definition in the BPF source: libbpf refuses it as well';
const MAP_IN_MAP: ReadonlySet<string> = new Set(['array_of_maps', 'hash_of_maps']);
const PTR_SIZE = 8; // BPF is a 64-bit target: one `.values` slot per 8 bytes

/** A definition libbpf would refuse: the source is wrong, the file is not damaged. */
function mapError(message: string, typeId: number): EbpmError {
  return new EbpmError('BTF_MALFORMED', message, { hint: MAP_HINT, data: { typeId } });
}

/** `readBtfMaps` reads the BTF-defined maps of the `.maps` section and the slots its relocations fill. */
export function readBtfMaps(elf: ElfFile, btf: Btf | null, programs: readonly ProgramSpec[]): MapSpec[] {
  const section = elf.sections.find((s) => s.name === '.maps');
  if (section === undefined) return [];
  if (btf === null) throw bpfError('BPF_MALFORMED', 'section .maps: BTF-defined maps need a .BTF section');
  const sec = findType(btf, 'datasec', '.maps');
  if (sec === undefined) throw bpfError('BTF_MALFORMED', 'section .maps: no DATASEC .maps in BTF');
  const defs = sec.vars.map((v) => {
    const variable = btf.types[v.type]!;
    const where = `map ${variable.name || `[${v.type}]`}`;
    if (variable.kind !== 'var') throw bpfError('BTF_MALFORMED', `${where}: .maps entry is a ${variable.kind}, not a var`);
    const def = resolveType(btf, variable.type);
    if (def.kind !== 'struct') throw bpfError('BTF_MALFORMED', `${where}: definition is a ${def.kind}, not a struct`, { typeId: def.id });
    return { spec: btfMap(btf, variable.name, def, where, false), def };
  });
  const relocations = elf.relocations.get(section.index) ?? [];
  if (relocations.length === 0) return defs.map((d) => d.spec);
  const slots = new Map<string, Map<number, string>>();
  for (const [i, r] of relocations.entries()) {
    const where = `section .maps: relocation ${i}`;
    const sym = elf.symbols[r.symbol]!;
    // libbpf finds the map by where the relocation lands, then the slot inside its last member.
    const owner = elf.symbols.find(
      (s) => s.section === section.index && s.type !== STT_SECTION && s.value <= r.offset && r.offset + PTR_SIZE <= s.value + s.size,
    );
    const map = defs.find((d) => d.spec.name === owner?.name);
    if (owner === undefined || map === undefined) throw bpfError('BPF_MALFORMED', `${where}: offset ${r.offset} is inside no map`);
    const last = map.def.members.at(-1);
    if (last?.name !== 'values') throw bpfError('BPF_MALFORMED', `${where}: map ${owner.name} has no values member to initialise`);
    const at = r.offset - owner.value - last.bitOffset / 8;
    if (at < 0 || at % PTR_SIZE !== 0) throw bpfError('BPF_MALFORMED', `${where}: offset ${r.offset} is not a slot of map ${owner.name}'s values`);
    if (map.spec.type === 'prog_array') {
      const prog = programs.find((p) => p.name === sym.name && p.section === elf.sections[sym.section]?.name);
      if (prog === undefined)
        throw bpfError('BPF_MALFORMED', `${where}: map ${owner.name} slot ${at / PTR_SIZE}: ${sym.name || `symbol ${r.symbol}`} is not a program`);
    } else if (sym.section !== section.index || !defs.some((d) => d.spec.name === sym.name)) {
      throw bpfError('BPF_MALFORMED', `${where}: map ${owner.name} slot ${at / PTR_SIZE}: ${sym.name || `symbol ${r.symbol}`} is not a map in .maps`);
    } else if (map.spec.type === 'hash_of_maps' && map.spec.keySize !== 4) {
      throw mapError(`map ${owner.name}: an initialised hash_of_maps needs 4-byte keys, not ${map.spec.keySize}`, map.def.id);
    }
    const filled = slots.get(owner.name) ?? new Map<number, string>();
    filled.set(at / PTR_SIZE, sym.name);
    slots.set(owner.name, filled);
  }
  return defs.map(({ spec }) => {
    const filled = slots.get(spec.name);
    if (filled === undefined) return spec;
    return { ...spec, initialValues: [...filled].sort(([a], [b]) => a - b).map(([slot, target]) => ({ slot, target })) };
  });
}

/**
 * `btfMap` reads one definition. Fields ebpm publishes are checked as libbpf checks them; the
 * rest (numa_node, fields of newer libbpf versions) are skipped, as libbpf does with
 * `relaxed_maps`, so that the object can still be inspected and built.
 */
function btfMap(btf: Btf, name: string, def: BtfComposite, where: string, isInner: boolean): MapSpec {
  const f = { type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, pinning: 0, mapExtra: 0n };
  let keyTypeId: number | null = null;
  let valueTypeId: number | null = null;
  let inner: MapSpec | null = null;
  const fail = (message: string) => mapError(`${where}: ${message}`, def.id);
  // __type(name, T) is `T *name`.
  const pointee = (m: BtfMember) => {
    const ptr = resolveType(btf, m.type);
    if (ptr.kind !== 'ptr') throw fail(`field ${m.name} is a ${ptr.kind}, not __type(${m.name}, …)`);
    return ptr.type;
  };
  // __uint(name, n) is `int (*name)[n]`: the value is the array's length.
  const uint = (m: BtfMember) => {
    const ptr = resolveType(btf, m.type);
    const arr = ptr.kind === 'ptr' ? resolveType(btf, ptr.type) : ptr;
    if (arr.kind !== 'array' || ptr.kind !== 'ptr') throw fail(`field ${m.name} is not __uint(${m.name}, …)`);
    return arr.nelems;
  };
  for (const [i, m] of def.members.entries()) {
    switch (m.name) {
      case 'type':
        f.type = uint(m);
        break;
      case 'max_entries':
        f.maxEntries = uint(m);
        break;
      case 'map_flags':
        f.flags = uint(m);
        break;
      case 'key_size':
        f.keySize = uint(m);
        break;
      case 'value_size':
        f.valueSize = uint(m);
        break;
      case 'pinning':
        f.pinning = uint(m);
        if (isInner) throw fail('an inner map cannot be pinned');
        break;
      case 'key':
        keyTypeId = pointee(m);
        f.keySize = typeSize(btf, keyTypeId);
        break;
      case 'value':
        valueTypeId = pointee(m);
        f.valueSize = typeSize(btf, valueTypeId);
        break;
      case 'map_extra':
        f.mapExtra = mapExtra(btf, m, fail);
        break;
      case 'values': {
        // __array(values, T) is `T *values[]`: a map-in-map's inner definition, or a prog array's
        // `int (void *)`. Either way the map holds 4-byte ids (fds when updated from user space).
        const type = mapTypeName(f.type);
        if (isInner) throw fail('an inner map cannot have values of its own');
        if (i !== def.members.length - 1) throw fail('field values must be the last');
        if (!MAP_IN_MAP.has(type) && type !== 'prog_array') throw fail(`values needs a map-in-map or prog_array, not ${type}`);
        if (f.valueSize !== 0 && f.valueSize !== 4) throw fail(`value size ${f.valueSize} conflicts with values (4)`);
        f.valueSize = 4;
        const arr = resolveType(btf, m.type);
        const ptr = arr.kind === 'array' && arr.nelems === 0 ? resolveType(btf, arr.type) : undefined;
        if (ptr?.kind !== 'ptr') throw fail('field values is not __array(values, …)');
        const target = resolveType(btf, ptr.type);
        if (type === 'prog_array') {
          if (target.kind !== 'func_proto') throw fail(`prog_array values are a ${target.kind}, not a function type`);
        } else if (target.kind !== 'struct') {
          throw fail(`inner map definition is a ${target.kind}, not a struct`);
        } else {
          inner = btfMap(btf, `${name}.inner`, target, `${where}: inner map`, true);
        }
        break;
      }
      default:
        break;
    }
  }
  if (f.pinning > 1) throw fail(`pinning ${f.pinning} unknown (0 none, 1 by name)`);
  return {
    name,
    section: '.maps',
    type: mapTypeName(f.type),
    keySize: f.keySize,
    valueSize: f.valueSize,
    maxEntries: f.maxEntries,
    flags: f.flags,
    keyTypeId,
    valueTypeId,
    pinByName: f.pinning === 1,
    mapExtra: f.mapExtra,
    inner,
    initialValues: [],
  };
}

/** `__uint(map_extra, n)` (32 bits), or `__ulong(map_extra, n)`: an anonymous enum whose one value is n (libbpf 1.4+). */
function mapExtra(btf: Btf, m: BtfMember, fail: (message: string) => EbpmError): bigint {
  const t = resolveType(btf, m.type);
  if (t.kind === 'ptr') {
    const arr = resolveType(btf, t.type);
    if (arr.kind === 'array') return BigInt(arr.nelems);
  } else if ((t.kind === 'enum' || t.kind === 'enum64') && t.values.length === 1) {
    return BigInt.asUintN(64, BigInt(t.values[0]!.value));
  }
  throw fail('field map_extra is not __uint(map_extra, …) or __ulong(map_extra, …)');
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
      name: s.name,
      section: 'maps',
      type: mapTypeName(u(0, 'type')),
      keySize: u(1, 'key_size'),
      valueSize: u(2, 'value_size'),
      maxEntries: u(3, 'max_entries'),
      flags: u(4, 'map_flags'),
      keyTypeId: null,
      valueTypeId: null,
      pinByName: false,
      mapExtra: 0n,
      inner: null,
      initialValues: [],
    };
  });
}
