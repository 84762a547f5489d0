/**
 * The record type of an event map whose package declares none, found in the object's own BTF
 * as libbpf-tools and ecc name theirs. Pure: a parsed object in, a struct out.
 */
import { btfType, type Btf, type BtfComposite } from '../bpf/btf.js';
import { describeType, type TypeLayout } from '../bpf/layout.js';
import type { ObjectSpec } from '../bpf/object.js';
import { EbpmError } from '../core/errors.js';

/** A struct chosen as an event map's record type. */
export interface EventType {
  readonly struct: string;
  readonly layout: TypeLayout;
}

/**
 * `ownStructs` lists the named structs of `btf` that are the program's own: not a kernel type
 * a CO-RE relocation starts from, nor reachable from one (`perf_event` hangs off `task_struct`),
 * sorted by name, each name once.
 */
export function ownStructs(spec: ObjectSpec): BtfComposite[] {
  const btf = spec.btf;
  if (btf === null) return [];
  const kernel = reachable(
    btf,
    spec.coreRelocations.map((r) => r.typeId),
  );
  const byName = new Map<string, BtfComposite>();
  for (const t of btf.types) {
    if (t.kind === 'struct' && t.name !== '' && t.size > 0 && !kernel.has(t.id) && !byName.has(t.name)) byName.set(t.name, t);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Every type id reachable from `roots` through members, pointers, arrays and modifiers. */
function reachable(btf: Btf, roots: readonly number[]): Set<number> {
  const seen = new Set<number>();
  const todo = [...roots];
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (id === 0 || seen.has(id)) continue;
    seen.add(id);
    const t = btfType(btf, id);
    switch (t.kind) {
      case 'struct':
      case 'union':
        for (const m of t.members) todo.push(m.type);
        break;
      case 'array':
      case 'ptr':
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        todo.push(t.type);
        break;
      default:
        break;
    }
  }
  return seen;
}

/**
 * `conventionalEventType` is the struct libbpf-tools and ecc name their records with, in this
 * order: `event`, `data_t`, `<tool>_event` (`tool` from the object's file name), else the one
 * struct named `*_event`. Only the object's own structs count (`ownStructs`); a struct used only
 * as a stack variable is not in BTF at all, and then there is none.
 */
export function conventionalEventType(spec: ObjectSpec, objectName: string): EventType | undefined {
  const own = ownStructs(spec);
  const tool = objectName.replace(/\.(bpf\.)?o$/, '');
  const named = (n: string) => own.find((s) => s.name === n);
  const suffixed = own.filter((s) => s.name.endsWith('_event'));
  const s = named('event') ?? named('data_t') ?? named(`${tool}_event`) ?? (suffixed.length === 1 ? suffixed[0] : undefined);
  return s && { struct: s.name, layout: describeType(spec.btf!, s.id) };
}

/**
 * `eventTypeNamed` is the own struct `name` (`--event-type`); one that is not there is `USAGE`,
 * naming the structs there are.
 */
export function eventTypeNamed(spec: ObjectSpec, objectName: string, name: string): EventType {
  const own = ownStructs(spec);
  const s = own.find((x) => x.name === name.replace(/^struct\s+/, ''));
  if (s === undefined) {
    throw new EbpmError('USAGE', `run: --event-type ${name}: ${objectName} has no struct ${name.replace(/^struct\s+/, '')}`, {
      hint: own.length > 0 ? `its structs: ${own.map((x) => x.name).join(', ')}` : 'its BTF declares no struct of its own',
    });
  }
  return { struct: s.name, layout: describeType(spec.btf!, s.id) };
}
