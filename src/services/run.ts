/**
 * `ebpm run` for BPF packages: check the machine, then for every object open → set parameters
 * → load → attach every program, read the export map's events and the sample maps until a
 * duration, an event count or a signal ends the run, and close everything in reverse
 * (libbpf-bootstrap's bootstrap.c lifecycle). Output goes through hooks; nothing here renders.
 */
import type { TypeLayout } from '../bpf/layout.js';
import { BpfObject, setBpfLog, type AttachTarget, type BpfLink, type EventBatch, type EventReader } from '../kernel/loader.js';
import { interfaceTarget } from '../kernel/loader-targets.js';
import type { BpfNative, LogLevel } from '../kernel/native.js';
import { EbpmError, withContext } from '../core/errors.js';
import type { SampleSpec } from '../package/doc-comments.js';
import { compact } from '../package/fields.js';
import type { SampleEntry } from '../package/histogram.js';
import type { PackageMetadata } from '../package/metadata.js';
import { applyAssignments, type Assignment } from '../package/params.js';
import { checkMachine, machineFacts, type MachineFacts } from './machine.js';
import type { ResolvedPackage } from './run-source.js';

/** The map whose records `ebpm run` prints as events, and their layout (undefined: print hex). */
export interface EventPlan {
  readonly object: string;
  readonly map: string;
  readonly layout?: TypeLayout;
}

/** A map read every `spec.interval` ms and printed whole. */
export interface SamplePlan {
  readonly object: string;
  readonly map: string;
  readonly spec: SampleSpec;
  readonly key?: TypeLayout;
  readonly value?: TypeLayout;
}

export interface RunPlan {
  readonly events?: EventPlan;
  readonly samples: readonly SamplePlan[];
  /** Event maps not read because another one is (ecli reads one export too), as `object:map`. */
  readonly ignored: readonly string[];
}

const EVENT_MAP_TYPES = ['ringbuf', 'perf_event_array'];

/**
 * `planRun` decides what a package's run prints: every `@sample` map, and the records of one
 * event map: the first declared with `EBPM_EXPORT`, else the first ring buffer or perf event
 * array, printed as hex. Pure.
 */
export function planRun(meta: PackageMetadata): RunPlan {
  const samples: SamplePlan[] = [];
  const exports: EventPlan[] = [];
  const untyped: EventPlan[] = [];
  for (const o of meta.objects) {
    for (const x of o.exports) exports.push({ object: o.name, map: x.map, layout: x.type });
    for (const m of o.maps) {
      if (m.sample) samples.push({ object: o.name, map: m.name, spec: m.sample, ...(m.key ? { key: m.key } : {}), ...(m.value ? { value: m.value } : {}) });
      else if (EVENT_MAP_TYPES.includes(m.type) && !o.exports.some((x) => x.map === m.name)) untyped.push({ object: o.name, map: m.name });
    }
  }
  const candidates = exports.length > 0 ? exports : untyped;
  const [events, ...ignored] = candidates;
  return { ...(events ? { events } : {}), samples, ignored: ignored.map((e) => `${e.object}:${e.map}`) };
}

/** One attached program. */
export interface AttachedProgram {
  readonly object: string;
  readonly program: string;
  readonly section: string;
  readonly type: string;
  /** The package's default target it went to (`ecc0:ingress`), when `--attach` gave none. */
  readonly defaultTarget?: string;
}

/** Why a run ended; `signal` carries which one. `output-closed`: the reader of the events went away (`| head`). */
export type StopReason =
  | { readonly kind: 'duration' }
  | { readonly kind: 'max-events' }
  | { readonly kind: 'output-closed' }
  | { readonly kind: 'signal'; readonly signal: 'SIGINT' | 'SIGTERM' };

export interface RunHooks {
  /** Once every program is attached, before the first event. */
  onAttached?(programs: readonly AttachedProgram[]): void;
  /**
   * One call per wakeup of the event map, and one for what it still holds at the stop: its
   * records (views into one buffer), cut at `maxEvents`, and the events the kernel has dropped
   * so far.
   */
  onEvents?(records: readonly Uint8Array[], lost: number): void;
  /** Each interval of a sample map, and once more when the run ends. */
  onSample?(plan: SamplePlan, entries: readonly SampleEntry[]): void;
  /** libbpf's messages (warnings; everything with `verbose`). */
  onLog?(level: LogLevel, message: string): void;
}

export interface RunOptions {
  readonly package: ResolvedPackage;
  readonly plan: RunPlan;
  readonly assignments: readonly Assignment[];
  /** Stop after this long (`--duration`); undefined: until a signal. */
  readonly durationMs?: number;
  /** Stop after this many events (`--max-events`). */
  readonly maxEvents?: number;
  /** Explicit targets by program name (`--attach`); the other programs attach by their section. */
  readonly targets?: ReadonlyMap<string, AttachTarget>;
  /** Aborting stops the run; the reasons `SIGTERM` and `output-closed` are reported as such, anything else as SIGINT. */
  readonly signal?: AbortSignal;
  readonly verbose?: boolean;
  readonly hooks: RunHooks;
  /** Perf buffer pages per CPU (a power of two); default 64 as ecli. */
  readonly perfPages?: number;
  readonly native?: BpfNative;
  readonly machine?: MachineFacts;
}

export interface RunResult {
  readonly stop: StopReason;
  readonly events: number;
  /** Events the kernel dropped (perf buffer overruns). */
  readonly lost: number;
  readonly programs: readonly AttachedProgram[];
}

/**
 * `runPackage` runs a BPF package's objects: open and configure and load every object, open
 * the event reader (before attaching, so the first event already has a consumer), attach every
 * program, then consume until a stop and drain the event map once more. A throw in a hook fails
 * the run. Everything opened is closed whatever happens, so once it settles no program, link or
 * map of the run remains in the kernel.
 */
export async function runPackage(opts: RunOptions): Promise<RunResult> {
  const { metadata } = opts.package;
  const where = `run ${metadata.name}`;
  if (metadata.wasm) {
    throw new EbpmError('INTERNAL', `${where}: a package with a Wasm module goes to the Wasm runtime, not runPackage`);
  }
  try {
    checkMachine(metadata, opts.machine ?? machineFacts());
  } catch (e) {
    throw withContext(where, e);
  }
  const objects = new Map<string, BpfObject>();
  let logging = false;
  try {
    if (opts.hooks.onLog) {
      setBpfLog(opts.hooks.onLog, opts.verbose ? 'debug' : 'warn', opts.native);
      logging = true;
    }
    openAndLoad(opts, objects);
    const ev = opts.plan.events;
    const reader = ev === undefined ? undefined : objects.get(ev.object)!.events(ev.map, opts.perfPages === undefined ? {} : { perfPages: opts.perfPages });
    const defaults = defaultTargets(metadata, opts.targets ?? new Map());
    const programs = attach(objects, new Map([...defaults, ...(opts.targets ?? [])]), defaults);
    opts.hooks.onAttached?.(programs);
    return await consume(opts, objects, reader, programs);
  } catch (e) {
    throw withContext(where, e);
  } finally {
    for (const o of [...objects.values()].reverse()) o.close();
    if (logging) setBpfLog(null, 'warn', opts.native);
  }
}

/** Opens, configures and loads each object in turn, adding it to `objects` (by file name) as soon as it is open. */
function openAndLoad(opts: RunOptions, objects: Map<string, BpfObject>): void {
  for (const meta of opts.package.metadata.objects) {
    if (!meta.layer) continue;
    const bytes = opts.package.objects.get(meta.name);
    if (bytes === undefined) throw new EbpmError('INTERNAL', `object ${meta.name}: bytes not resolved`);
    const obj = BpfObject.open(bytes, { name: meta.name.replace(/\.bpf\.o$|\.o$/, ''), native: opts.native });
    objects.set(meta.name, obj);
    const mine = opts.assignments.filter((a) => a.object === meta.name);
    for (const section of new Set(mine.map((a) => a.section))) obj.setGlobal(section, applyAssignments(section, obj.global(section), mine));
    obj.load();
  }
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
): AttachedProgram[] {
  const attached: AttachedProgram[] = [];
  for (const [name, obj] of objects) {
    const infos = obj.programs();
    const links: BpfLink[] = obj.attachAll(targets);
    for (const l of links) {
      const p = infos.find((i) => i.name === l.program)!;
      const d = defaults.get(p.name);
      const where = d?.kind === 'tc' ? `${d.interface}:${d.direction}` : d?.kind === 'xdp' ? d.interface : undefined;
      attached.push(compact({ object: name, program: p.name, section: p.section, type: p.type, defaultTarget: where }));
    }
  }
  return attached;
}

async function consume(
  opts: RunOptions,
  objects: ReadonlyMap<string, BpfObject>,
  reader: EventReader | undefined,
  programs: readonly AttachedProgram[],
): Promise<RunResult> {
  let events = 0;
  /** Counts and hands on a batch, cut at `maxEvents`; true once that many were seen. */
  const take = (batch: EventBatch): boolean => {
    if (opts.maxEvents !== undefined && events >= opts.maxEvents) return true;
    const room = opts.maxEvents === undefined ? batch.records.length : Math.min(batch.records.length, opts.maxEvents - events);
    const records = room === batch.records.length ? batch.records : batch.records.slice(0, room);
    events += records.length;
    if (records.length > 0) opts.hooks.onEvents?.(records, reader!.lost);
    return opts.maxEvents !== undefined && events >= opts.maxEvents;
  };
  const timers: NodeJS.Timeout[] = [];
  const samples = opts.plan.samples.map((s) => ({ plan: s, map: objects.get(s.object)!.map(s.map) }));
  const readSample = (s: (typeof samples)[number]) => {
    const entries: SampleEntry[] = [];
    for (const [key, value] of s.map.entries()) entries.push({ key: key.slice(), value: value.slice() });
    if (s.plan.spec.clearMap) for (const e of entries) s.map.delete(e.key);
    opts.hooks.onSample?.(s.plan, entries);
  };
  const stop = await new Promise<StopReason>((resolve, reject) => {
    const signal = opts.signal;
    const byAbort = (): StopReason =>
      signal?.reason === 'output-closed' ? { kind: 'output-closed' } : { kind: 'signal', signal: signal?.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT' };
    if (opts.maxEvents === 0) return resolve({ kind: 'max-events' });
    if (signal?.aborted) return resolve(byAbort());
    signal?.addEventListener('abort', () => resolve(byAbort()), { once: true });
    if (opts.durationMs !== undefined) timers.push(setTimeout(() => resolve({ kind: 'duration' }), opts.durationMs));
    // Programs with nothing to read (an xdp program alone) run until a stop too: nothing else
    // would keep the event loop, and so the process, alive.
    timers.push(setInterval(() => undefined, 1 << 30));
    for (const s of samples) {
      timers.push(
        setInterval(() => {
          try {
            readSample(s);
          } catch (e) {
            reject(e);
          }
        }, s.plan.spec.interval),
      );
    }
    // A throw in the hooks fails the run (and so detaches everything), as a failed drain does.
    reader?.onBatch((batch) => take(batch) && resolve({ kind: 'max-events' }), reject);
  });
  for (const t of timers) clearTimeout(t);
  // What the programs produced before the stop and no wakeup delivered yet is printed and
  // counted too; once the output is closed there is no one to give it to.
  if (reader && stop.kind !== 'output-closed') take(reader.flush());
  // One last read, so a run shorter than the interval still shows what its maps gathered.
  for (const s of samples) readSample(s);
  return { stop, events, lost: reader?.lost ?? 0, programs };
}
