/**
 * What an object asks of the kernel it loads on: program and map types, helpers, attach points,
 * kfuncs, and the kernel types, fields and enumerators its CO-RE relocations resolve. Pure: a
 * parsed object in, a list out; src/kernel/preflight.ts holds the list against a kernel.
 */
import { resolveType, skipModifiers, type Btf } from './btf.js';
import { essentialName, type CoreRelocation } from './btf-ext.js';
import type { ObjectSpec } from './object.js';
import { sectionInfo } from './sections.js';

/** One step of a CO-RE field access, in the kernel's terms: a member by name, or an array element. */
export type FieldStep = { readonly member: string } | { readonly element: true };

/** How a kernel can be asked about a need. */
export type Ask =
  | { readonly kind: 'program-type'; readonly type: string }
  | { readonly kind: 'map-type'; readonly type: string }
  | { readonly kind: 'helper'; readonly id: number; readonly programType: string }
  | { readonly kind: 'tracepoint'; readonly category: string; readonly name: string }
  | { readonly kind: 'raw-tracepoint'; readonly name: string }
  | { readonly kind: 'btf-tracepoint'; readonly name: string }
  | { readonly kind: 'trampoline'; readonly function: string }
  | { readonly kind: 'kprobe'; readonly function: string }
  | { readonly kind: 'bpf-lsm' }
  | { readonly kind: 'kfunc'; readonly name: string }
  | { readonly kind: 'type'; readonly btfKind: 'struct' | 'union' | 'enum' | 'other'; readonly name: string }
  | { readonly kind: 'field'; readonly btfKind: 'struct' | 'union'; readonly type: string; readonly steps: readonly FieldStep[] }
  | { readonly kind: 'enum-value'; readonly type: string; readonly value: string };

export interface Need {
  /** What is needed, for people: `helper bpf_ringbuf_output`, `field task_struct.__state`. */
  readonly what: string;
  readonly ask: Ask;
  /** The programs (or maps, for map types) that need it, sorted. */
  readonly by: readonly string[];
  /**
   * Whether the object checks for it before using it (`bpf_core_field_exists` and the like on
   * the same kernel type in the same section), so that a kernel without it may still load it.
   */
  readonly guarded: boolean;
}

/** The kernel function or tracepoint a tracing section names, classified by libbpf's section table (sections.ts). */
function attachAsk(section: string): { what: string; ask: Ask } | undefined {
  const info = sectionInfo(section);
  if (info === undefined) return undefined;
  const kind = info.def.replace(/\+$/, '');
  const target = info.target;
  if (target === null) return kind === 'lsm' || kind === 'lsm.s' ? { what: 'BPF LSM', ask: { kind: 'bpf-lsm' } } : undefined;
  switch (kind) {
    case 'tp':
    case 'tracepoint': {
      const [category, name] = target.split('/');
      if (category === undefined || name === undefined) return undefined;
      return { what: `tracepoint ${category}/${name}`, ask: { kind: 'tracepoint', category, name } };
    }
    case 'raw_tp':
    case 'raw_tracepoint':
    case 'raw_tp.w':
    case 'raw_tracepoint.w':
      return { what: `tracepoint ${target} (raw_tp)`, ask: { kind: 'raw-tracepoint', name: target } };
    case 'tp_btf':
      return { what: `tracepoint ${target} in kernel BTF (tp_btf)`, ask: { kind: 'btf-tracepoint', name: target } };
    case 'fentry':
    case 'fexit':
    case 'fmod_ret':
    case 'fentry.s':
    case 'fexit.s':
    case 'fmod_ret.s':
      return { what: `kernel function ${target} (${kind.replace(/\.s$/, '')})`, ask: { kind: 'trampoline', function: target } };
    case 'kprobe':
    case 'kretprobe': {
      const fn = /^[A-Za-z_][\w.]*/.exec(target)?.[0];
      return fn === undefined ? undefined : { what: `kernel function ${fn} (${kind})`, ask: { kind: 'kprobe', function: fn } };
    }
    case 'lsm':
    case 'lsm.s':
      return { what: 'BPF LSM', ask: { kind: 'bpf-lsm' } };
    default:
      return undefined;
  }
}

/** The kernel's view of a CO-RE relocation, or undefined for relocations against the object's own types. */
function relocationAsk(btf: Btf, r: CoreRelocation): { what: string; ask: Ask } | undefined {
  if (r.kind === 'type_id_local') return undefined;
  const root = r.kind.startsWith('type_') ? skipModifiers(btf, r.typeId) : resolveType(btf, r.typeId);
  const name = essentialName(root.name);
  if (name === '') return undefined;
  if (r.kind.startsWith('type_')) {
    const btfKind = root.kind === 'struct' || root.kind === 'union' ? root.kind : root.kind === 'enum' || root.kind === 'enum64' ? 'enum' : 'other';
    return { what: `type ${btfKind === 'other' ? '' : `${btfKind} `}${name}`, ask: { kind: 'type', btfKind, name } };
  }
  if (r.kind.startsWith('enumval_')) {
    const value = r.path.slice(r.path.indexOf('::') + 2);
    return { what: `enumerator ${name}::${value}`, ask: { kind: 'enum-value', type: name, value } };
  }
  if (root.kind !== 'struct' && root.kind !== 'union') return undefined;
  // Walk the access string as btf-ext.ts does, keeping what the kernel matches on: member names
  // (anonymous members are searched through, as libbpf does) and array elements.
  const steps: FieldStep[] = [];
  let t = root as ReturnType<typeof resolveType>;
  for (const i of r.access.split(':').slice(1).map(Number)) {
    if (t.kind === 'struct' || t.kind === 'union') {
      const m = t.members[i]!;
      if (m.name) steps.push({ member: m.name });
      t = resolveType(btf, m.type);
    } else if (t.kind === 'array') {
      steps.push({ element: true });
      t = resolveType(btf, t.type);
    }
  }
  if (!steps.some((s) => 'member' in s)) return { what: `type ${root.kind} ${name}`, ask: { kind: 'type', btfKind: root.kind, name } };
  const shown = steps.map((s) => ('member' in s ? `.${s.member}` : '[]')).join('');
  return { what: `field ${name}${shown}`, ask: { kind: 'field', btfKind: root.kind, type: name, steps } };
}

/**
 * `objectNeeds` lists what `spec` needs from the kernel, one entry per distinct need, in the
 * order: program types, attach points, helpers, kfuncs, map types, kernel types and fields.
 * Programs named in `skip` (alternatives not loaded here, `--skip-program`) are left out.
 */
export function objectNeeds(spec: ObjectSpec, skip: ReadonlySet<string> = new Set()): Need[] {
  const out = new Map<string, { what: string; ask: Ask; by: Set<string>; guarded: boolean }>();
  const add = (what: string, ask: Ask, by: string, guarded = false) => {
    const known = out.get(what);
    if (known === undefined) out.set(what, { what, ask, by: new Set([by]), guarded });
    else {
      known.by.add(by);
      known.guarded &&= guarded;
    }
  };
  const programs = spec.programs.filter((p) => !skip.has(p.name));
  const sections = new Set(programs.map((p) => p.section));
  // Relocations in .text belong to subprograms, which the programs that call them share.
  const callers = programs.filter((p) => p.subprograms.length > 0).map((p) => p.name);
  if (callers.length > 0) sections.add('.text');
  for (const p of programs) add(`program type ${p.type}`, { kind: 'program-type', type: p.type }, p.name);
  for (const p of programs) {
    const a = attachAsk(p.section);
    if (a !== undefined) add(a.what, a.ask, p.name);
  }
  for (const p of programs) for (const h of p.helpers) add(`helper ${h.name ?? `#${h.id}`}`, { kind: 'helper', id: h.id, programType: p.type }, p.name);
  for (const p of programs) for (const k of p.kfuncs) add(`kfunc ${k}`, { kind: 'kfunc', name: k }, p.name);
  for (const m of spec.maps) add(`map type ${m.type}`, { kind: 'map-type', type: m.type }, m.name);
  if (spec.btf !== null) {
    const btf = spec.btf;
    const relos = spec.coreRelocations.filter((r) => sections.has(r.section));
    // A section that asks whether a kernel type or field exists has a path for when it does not.
    const checks = new Set(relos.filter((r) => r.kind.endsWith('_exists')).map((r) => `${r.section} ${essentialName(r.typeName)}`));
    for (const r of relos) {
      if (r.kind.endsWith('_exists')) continue;
      const a = relocationAsk(btf, r);
      if (a === undefined) continue;
      const by = r.section === '.text' ? callers : programs.filter((p) => p.section === r.section).map((p) => p.name);
      for (const name of by) add(a.what, a.ask, name, checks.has(`${r.section} ${essentialName(r.typeName)}`));
    }
  }
  return [...out.values()].map((n) => ({ what: n.what, ask: n.ask, by: [...n.by].sort(), guarded: n.guarded }));
}
