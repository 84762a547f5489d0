/**
 * Map sizes that an object leaves to its user space (libbpf-tools declare `max_entries` 0 or a
 * stack_trace value size 0 and call `bpf_map__set_max_entries`/`bpf_map__set_value_size` before
 * load). ebpm fills them in with documented defaults, and `--map-size name=N` overrides. Pure.
 */
import { EbpmError } from '../core/errors.js';
import type { PackageMetadata } from './metadata.js';

/** `max_entries` of a hash-like or array map declared with 0: what libbpf-tools use (`MAX_ENTRIES`). */
export const DEFAULT_MAX_ENTRIES = 10240;
/** `max_entries` of a stack_trace map declared with 0: libbpf-tools' default `stack_storage_size`. */
export const DEFAULT_STACK_ENTRIES = 1024;
/** Frames a stack_trace map with value size 0 holds: the kernel's PERF_MAX_STACK_DEPTH. */
export const STACK_DEPTH = 127;
/** `max_entries` (bytes) of a ring buffer declared with 0: 256 KiB, a power-of-two number of pages. */
export const DEFAULT_RINGBUF_BYTES = 256 * 1024;

/** Map types whose `max_entries` 0 libbpf itself fills in (perf_event_array: the number of CPUs). */
const SIZED_BY_LIBBPF = new Set(['perf_event_array']);

/** A size set on one map before load, and why. */
export interface MapSize {
  readonly object: string;
  readonly map: string;
  readonly maxEntries?: number;
  readonly valueSize?: number;
  /** `default`: the map said 0; `flag`: `--map-size`. */
  readonly why: 'default' | 'flag';
}

/**
 * `mapSizes` lists the maps to size before load: each one `overrides` names (`--map-size`, by
 * map name, in every object that has it) gets that `max_entries`; every other map declared with
 * `max_entries` 0 gets its type's default, and a stack_trace map with value size 0 room for
 * `STACK_DEPTH` 8-byte frames. An override naming no map is `USAGE`.
 */
export function mapSizes(meta: PackageMetadata, overrides: ReadonlyMap<string, number> = new Map()): MapSize[] {
  const known = new Set(meta.objects.flatMap((o) => o.maps.map((m) => m.name)));
  const unknown = [...overrides.keys()].filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new EbpmError('USAGE', `run: --map-size ${unknown[0]}: ${meta.name} has no map ${unknown[0]}`, {
      hint: `its maps: ${[...known].sort().join(', ') || '-'}`,
    });
  }
  const out: MapSize[] = [];
  for (const o of meta.objects) {
    for (const m of o.maps) {
      const flag = overrides.get(m.name);
      const valueSize = m.type === 'stack_trace' && m.valueSize === 0 ? STACK_DEPTH * 8 : undefined;
      const maxEntries = flag ?? (m.maxEntries === 0 && !SIZED_BY_LIBBPF.has(m.type) ? defaultMaxEntries(m.type) : undefined);
      if (maxEntries === undefined && valueSize === undefined) continue;
      out.push({
        object: o.name,
        map: m.name,
        ...(maxEntries === undefined ? {} : { maxEntries }),
        ...(valueSize === undefined ? {} : { valueSize }),
        why: flag === undefined ? 'default' : 'flag',
      });
    }
  }
  return out;
}

function defaultMaxEntries(type: string): number {
  if (type === 'stack_trace') return DEFAULT_STACK_ENTRIES;
  if (type === 'ringbuf' || type === 'user_ringbuf') return DEFAULT_RINGBUF_BYTES;
  return DEFAULT_MAX_ENTRIES;
}
