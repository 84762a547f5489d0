/**
 * One version of a BPF package in the kernel, as `ebpm run` holds it: its objects opened,
 * configured, loaded and attached (libbpf-bootstrap's open → load → attach), with its event
 * reader. `runPackage` runs one; `--follow` swaps one for the next, make before break.
 */
import { compact } from '../core/json.js';
import { BpfObject, type AttachTarget, type BpfLink, type EventReader } from '../kernel/loader.js';
import { loadCached, type BtfCache } from '../kernel/btf-cache.js';
import { interfaceTarget } from '../kernel/loader-targets.js';
import type { BpfNative } from '../kernel/native.js';
import { kernelSupport } from '../kernel/features.js';
import { EbpmError } from '../core/errors.js';
import { phase } from '../core/phases.js';
import type { MapSize } from '../package/map-sizes.js';
import type { PackageMetadata } from '../package/metadata.js';
import { applyAssignments, type Assignment } from '../package/params.js';
import { ALL_PROGRAMS, selectPrograms, type ObjectPrograms, type ProgramSelection, type SupportProbe } from './alternatives.js';
import { checkMachine, kernelBtfFile, machineFacts, type KernelBtfFile, type MachineFacts } from './machine.js';
import type { ResolvedPackage } from './run-source.js';

/** One attached program. */
export interface AttachedProgram {
  readonly object: string;
  readonly program: string;
  readonly section: string;
  readonly type: string;
  /** The package's default target it went to (`ecc0:ingress`), when `--attach` gave none. */
  readonly defaultTarget?: string;
}

/** What loading a version needs of its plan: the event map to read and the map sizes to set. */
export interface LoadPlan {
  readonly events?: { readonly object: string; readonly map: string };
  readonly mapSizes: readonly MapSize[];
}

/** A package with its plan and its parameters' values: what a generation loads. */
export interface Loadable {
  readonly package: ResolvedPackage;
  readonly plan: LoadPlan;
  readonly assignments: readonly Assignment[];
}

/** The run's choices that apply to every version it loads (`RunOptions` has each). */
export interface LoadOptions {
  readonly targets?: ReadonlyMap<string, AttachTarget>;
  readonly programs?: ProgramSelection;
  readonly support?: SupportProbe;
  readonly perfPages?: number;
  readonly native?: BpfNative;
  readonly machine?: MachineFacts;
  readonly btfFile?: string;
  /** Minimal kernel BTF per object, used when CO-RE relocates against the kernel's own BTF. */
  readonly btfCache?: BtfCache | undefined;
}

/** What loading added to a `Loadable`. */
interface Loaded {
  readonly objects: Map<string, BpfObject>;
  readonly links: BpfLink[];
  readonly reader: EventReader | undefined;
  readonly programs: readonly AttachedProgram[];
  readonly selected: readonly ObjectPrograms[];
  readonly btf: KernelBtfFile;
}

/** One version's objects, loaded and attached, with its event reader: what a swap replaces. */
export type Generation<N extends Loadable = Loadable> = N & Loaded;

/**
 * `openGeneration` checks the machine for `next`, then opens, configures and loads its objects,
 * opens the event reader (before attaching, so the first event already has a consumer) and
 * attaches every program. It is added to `open` as soon as it holds anything, and a failure
 * closes what it opened.
 */
export async function openGeneration<N extends Loadable>(opts: LoadOptions, next: N, open: Set<Generation<N>>): Promise<Generation<N>> {
  const btf = await kernelBtfFile(checkMachine(next.package.metadata, opts.machine ?? machineFacts(), opts.btfFile), next.package.btf ?? new Map());
  const objects = new Map<string, BpfObject>();
  const links: BpfLink[] = [];
  const g = Object.assign({ objects, links, btf, reader: undefined, programs: [], selected: [] } as { -readonly [K in keyof Loaded]: Loaded[K] }, next);
  open.add(g);
  try {
    const o = { ...opts, ...next };
    g.selected = await explained(o, btf.path, () => openAndLoad(o, objects, btf.path));
    const ev = next.plan.events;
    g.reader = ev === undefined ? undefined : objects.get(ev.object)!.events(ev.map, opts.perfPages === undefined ? {} : { perfPages: opts.perfPages });
    const defaults = defaultTargets(next.package.metadata, opts.targets ?? new Map());
    g.programs = await explained(o, btf.path, () => attach(objects, new Map([...defaults, ...(opts.targets ?? [])]), defaults, links));
    return g;
  } catch (e) {
    await closeGeneration(g, open);
    throw e;
  }
}

export async function closeGeneration<N extends Loadable>(g: Generation<N>, open: Set<Generation<N>>): Promise<void> {
  open.delete(g);
  for (const o of [...g.objects.values()].reverse()) o.close();
  await g.btf.remove();
}

/**
 * `explained` runs a load or an attach with the preflight's explanation of a kernel refusal
 * (explainLoad), the kernel's types read from `btfPath` when CO-RE uses that file. The
 * preflight, with the object and Wasm readers it needs, loads only after a failure.
 */
async function explained<T>(opts: LoadOptions & Loadable, btfPath: string | undefined, step: () => T): Promise<T> {
  try {
    return step();
  } catch (e) {
    const [{ explainLoad }, { checkPackage }, { kernelFacts }] = await Promise.all([
      import('../kernel/preflight.js'),
      import('./check.js'),
      import('../kernel/kernel-facts.js'),
    ]);
    return explainLoad(
      () => {
        throw e;
      },
      () => {
        const report = checkPackage(opts.package, kernelFacts(opts.native, btfPath), opts.programs ?? ALL_PROGRAMS);
        return { release: report.release, findings: report.objects.flatMap((o) => o.findings) };
      },
    );
  }
}

/**
 * Opens, configures and loads each object in turn, adding it to `objects` (by file name) as soon
 * as it is open; programs left out (`selectPrograms`) are not loaded. Returns what was left out.
 */
function openAndLoad(opts: LoadOptions & Loadable, objects: Map<string, BpfObject>, btfPath: string | undefined): ObjectPrograms[] {
  let probe = opts.support;
  // The kernel is probed only when an object has alternatives to choose from.
  const support: SupportProbe = (m, name) => {
    probe ??= kernelSupport(opts.native);
    return probe(m, name);
  };
  const selected: ObjectPrograms[] = [];
  for (const meta of opts.package.metadata.objects) {
    if (!meta.layer) continue;
    const bytes = opts.package.objects.get(meta.name);
    if (bytes === undefined) throw new EbpmError('INTERNAL', `object ${meta.name}: bytes not resolved`);
    const name = meta.name.replace(/\.bpf\.o$|\.o$/, '');
    const chosen = selectPrograms(meta, opts.programs ?? ALL_PROGRAMS, support);
    selected.push(chosen);
    const mine = opts.assignments.filter((a) => a.object === meta.name);
    const configured = (path: string | undefined) => {
      const obj = BpfObject.open(bytes, { name, native: opts.native, btfPath: path });
      objects.set(meta.name, obj);
      if (chosen.skip.length > 0) obj.selectPrograms(meta.programs.map((p) => p.name).filter((n) => !chosen.skip.includes(n)));
      for (const section of new Set(mine.map((a) => a.section))) obj.setGlobal(section, applyAssignments(section, obj.global(section), mine));
      for (const m of opts.plan.mapSizes) if (m.object === meta.name) obj.setMapSize(m.map, m);
      phase('open');
      return obj;
    };
    if (btfPath === undefined) loadCached(opts.btfCache, bytes, configured, (o) => o.load());
    else configured(btfPath).load();
    phase('load');
  }
  return selected;
}

/** The default targets (`ProgramMeta.defaultTarget`) of the programs `explicit` gives none, resolved on this machine. */
function defaultTargets(metadata: PackageMetadata, explicit: ReadonlyMap<string, AttachTarget>): Map<string, AttachTarget> {
  const out = new Map<string, AttachTarget>();
  for (const o of metadata.objects) {
    for (const p of o.programs) {
      if (p.defaultTarget === undefined || explicit.has(p.name)) continue;
      out.set(p.name, interfaceTarget(p.type === 'xdp' ? 'xdp' : 'tc', p.defaultTarget, `program ${p.name}`));
    }
  }
  return out;
}

function attach(
  objects: ReadonlyMap<string, BpfObject>,
  targets: ReadonlyMap<string, AttachTarget>,
  defaults: ReadonlyMap<string, AttachTarget>,
  links: BpfLink[],
): AttachedProgram[] {
  const attached: AttachedProgram[] = [];
  for (const [name, obj] of objects) {
    const infos = obj.programs();
    const mine = obj.attachAll(targets);
    links.push(...mine);
    for (const l of mine) {
      const p = infos.find((i) => i.name === l.program)!;
      const d = defaults.get(p.name);
      const where = d?.kind === 'tc' ? `${d.interface}:${d.direction}` : d?.kind === 'xdp' ? d.interface : undefined;
      attached.push(compact({ object: name, program: p.name, section: p.section, type: p.type, defaultTarget: where }));
    }
  }
  return attached;
}
