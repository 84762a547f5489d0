/**
 * `ebpm run` for BPF packages: check the machine, then for every object open → set parameters
 * → load → attach every program, read the export map's events and the sample maps until a
 * duration, an event count or a signal ends the run, and close everything in reverse
 * (libbpf-bootstrap's bootstrap.c lifecycle). Output goes through hooks; nothing here renders.
 */
import type { TypeLayout } from '../bpf/layout.js';
import { setBpfLog, type AttachTarget, type EventBatch, type EventReader } from '../kernel/loader.js';
import type { BpfMap } from '../kernel/loader-map.js';
import { globalEntries, type ResultGlobal } from '../package/result-globals.js';
import type { BpfNative, LogLevel } from '../kernel/native.js';
import { EbpmError, withContext } from '../core/errors.js';
import type { SampleSpec } from '../package/doc-comments.js';
import type { SampleEntry } from '../package/histogram.js';
import type { PackageMetadata } from '../package/metadata.js';
import { mapSizes, type MapSize } from '../package/map-sizes.js';
import {
  packageResultMaps,
  printableKind,
  RESULT_MAP_TYPES,
  stackIdFields,
  stackIdOf,
  type ResultMap,
  type StackFrames,
  type StackIdField,
} from '../package/result-maps.js';
import type { Assignment } from '../package/params.js';
import type { ObjectPrograms, ProgramSelection, SupportProbe } from './alternatives.js';
import type { MachineFacts } from './machine.js';
import type { ResolvedPackage } from './run-source.js';
import { failedUpdate, followChecks, type Follow, type UpdateEvent } from './follow-loop.js';
import type { BtfCache } from '../kernel/btf-cache.js';
import { closeGeneration, openGeneration, type AttachedProgram, type Generation } from './run-generation.js';
import { isEventMapType } from '../bpf/event-maps.js';

export type { AttachedProgram } from './run-generation.js';

/**
 * The map whose records `ebpm run` prints as events, and their layout (undefined: print hex):
 * as the package declares it, found by its name in the object's BTF, or named by `--event-type`.
 */
export interface EventPlan {
  readonly object: string;
  readonly map: string;
  readonly layout?: TypeLayout;
  readonly why?: EventTypeWhy;
  /** With `why: instructions`: the programs whose writes gave the layout, and where each field came from. */
  readonly programs?: readonly string[];
  readonly origins?: readonly string[];
}

export type EventTypeWhy = 'declared' | 'name' | 'instructions' | 'flag';

/** A map read every `spec.interval` ms (0: only at the stop) and printed whole. */
export interface SamplePlan {
  readonly object: string;
  readonly map: string;
  readonly spec: SampleSpec;
  readonly key?: TypeLayout;
  readonly value?: TypeLayout;
  /** Set for a map found by its types (result-maps.ts) rather than declared with `@sample`. */
  readonly result?: ResultMap;
  /** Set for a result global (result-globals.ts): `map` is its name, read from its section's map. */
  readonly global?: ResultGlobal;
}

export interface RunPlan {
  readonly events?: EventPlan;
  readonly samples: readonly SamplePlan[];
  /** Event maps not read because another one is (ecli reads one export too), as `object:map`. */
  readonly ignored: readonly string[];
  /** Sizes set on maps before load (`mapSizes`). */
  readonly mapSizes: readonly MapSize[];
}

/** What the user chose on the command line that changes the plan. */
export interface PlanChoices {
  /** `--map-size name=N`, by map name. */
  readonly mapSizes?: ReadonlyMap<string, number>;
  /**
   * `--print-map`: these result maps (or result globals); false (`--no-print-map`): none;
   * undefined: every result map and global of a package without `@sample` maps.
   */
  readonly printMaps?: readonly string[] | false;
  /** `--interval`: milliseconds between two prints of the result maps, each cleared after its print; undefined: only at the stop. */
  readonly intervalMs?: number;
}

/**
 * `planRun` decides what a package's run prints: every `@sample` map, the result maps
 * `choices` choose, and the records of one event map: the first with a type (declared, or found
 * by name), else the first ring buffer or perf event array, printed as hex; and the map sizes
 * to set before load. A `--print-map` name that no map of the package answers to, or whose
 * value is neither a histogram nor counters, is `USAGE`. Pure.
 */
export function planRun(meta: PackageMetadata, choices: PlanChoices = {}): RunPlan {
  const samples: SamplePlan[] = [];
  const exports: EventPlan[] = [];
  const untyped: EventPlan[] = [];
  for (const o of meta.objects) {
    for (const x of o.exports)
      exports.push({
        object: o.name,
        map: x.map,
        layout: x.type,
        why: x.inferredBy ?? 'declared',
        ...(x.programs ? { programs: x.programs } : {}),
        ...(x.origins ? { origins: x.origins } : {}),
      });
    for (const m of o.maps) {
      if (m.sample) samples.push({ object: o.name, map: m.name, spec: m.sample, ...(m.key ? { key: m.key } : {}), ...(m.value ? { value: m.value } : {}) });
      else if (isEventMapType(m.type) && !o.exports.some((x) => x.map === m.name)) untyped.push({ object: o.name, map: m.name });
    }
  }
  samples.push(...resultPlans(meta, choices));
  const candidates = exports.length > 0 ? exports : untyped;
  const [events, ...ignored] = candidates;
  return { ...(events ? { events } : {}), samples, ignored: ignored.map((e) => `${e.object}:${e.map}`), mapSizes: mapSizes(meta, choices.mapSizes) };
}

/**
 * `withEventType` is `plan` reading its event map's records as the object's struct `name`
 * (`--event-type`), found in the object's BTF. A package without an event map, or an object
 * without that struct, is `USAGE`.
 */
export async function withEventType(plan: RunPlan, pkg: ResolvedPackage, name: string): Promise<RunPlan> {
  const ev = plan.events;
  if (ev === undefined) {
    throw new EbpmError('USAGE', `run: --event-type ${name}: ${pkg.metadata.name} has no ring buffer or perf event array`, {
      hint: '--event-type chooses the record type of the map whose events are printed',
    });
  }
  const bytes = pkg.objects.get(ev.object);
  if (bytes === undefined) throw new EbpmError('INTERNAL', `object ${ev.object}: bytes not resolved`);
  // The ELF and BTF reader loads only here: a stored package's run reads its metadata alone.
  const [{ parseObject }, { eventTypeNamed }] = await Promise.all([import('../bpf/object.js'), import('../package/event-type.js')]);
  const found = eventTypeNamed(parseObject(bytes), ev.object, name);
  return { ...plan, events: { ...ev, layout: found.layout, why: 'flag' } };
}

/** The sections of writable globals: `.bss`, `.data` and their `.bss.*`/`.data.*` kin. */
export const WRITABLE_DATA = /^\.(bss|data)(\..+)?$/;

/** Whether `name` is a global of a writable data section (and no map) of one of the package's objects. */
export function isWritableGlobal(meta: PackageMetadata, name: string): boolean {
  return meta.objects.some((o) => !o.maps.some((m) => m.name === name) && o.parameters.some((p) => p.name === name && WRITABLE_DATA.test(p.section)));
}

function resultPlans(meta: PackageMetadata, choices: PlanChoices): SamplePlan[] {
  const { printMaps, intervalMs } = choices;
  if (printMaps === false) return [];
  const detected = packageResultMaps(meta);
  const chosen =
    printMaps === undefined
      ? detected
      : printMaps
          .filter((name) => !isWritableGlobal(meta, name))
          .map((name) => {
            const o = meta.objects.find((x) => x.maps.some((m) => m.name === name));
            const hint = `the maps it would print: ${detected.map((r) => r.map).join(', ') || 'none'}`;
            if (o === undefined) throw new EbpmError('USAGE', `run: --print-map ${name}: ${meta.name} has no map ${name}`, { hint });
            const m = o.maps.find((x) => x.name === name)!;
            const kind = printableKind(m);
            if (kind === undefined)
              throw new EbpmError('USAGE', `run: --print-map ${name}: a ${m.type} map whose value is neither a histogram (\`slots\`) nor integer counters`, {
                hint: `ebpm prints ${RESULT_MAP_TYPES.join(', ')} maps; ${hint}`,
              });
            return (
              detected.find((r) => r.object === o.name && r.map === name) ?? {
                object: o.name,
                map: name,
                kind,
                reason: 'chosen with --print-map',
                ...(m.type.includes('percpu') ? { perCpu: true as const } : {}),
              }
            );
          });
  return chosen.map(({ object, ...result }) => {
    const m = meta.objects.find((o) => o.name === object)!.maps.find((x) => x.name === result.map)!;
    return {
      object,
      map: m.name,
      spec: { interval: intervalMs ?? 0, type: result.kind === 'histogram' ? 'log2_hist' : 'default_kv', clearMap: intervalMs !== undefined },
      key: m.key!,
      value: m.value!,
      result,
    };
  });
}

/**
 * Why a run ended; `signal` carries which one. `output-closed`: the reader of the events went
 * away (`| head`); `stopped`: the library's caller stopped it (`RunHandle.stop`, its signal).
 */
export type StopReason =
  | { readonly kind: 'duration' }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'max-events' }
  | { readonly kind: 'output-closed' }
  | { readonly kind: 'signal'; readonly signal: 'SIGINT' | 'SIGTERM' };

export interface RunHooks {
  /** Once every program is attached, before the first event; `selected` says what was left out and why. */
  onAttached?(programs: readonly AttachedProgram[], selected: readonly ObjectPrograms[]): void;
  /**
   * One call per wakeup of the event map, and one for what it still holds at the stop: its
   * records (views into one buffer), cut at `maxEvents`, and the events the kernel has dropped
   * so far.
   */
  onEvents?(records: readonly Uint8Array[], lost: number): void;
  /**
   * Each interval of a sample map, and once more when the run ends; for a `stacks` result map
   * also the frames of the stacks its entries name.
   */
  onSample?(plan: SamplePlan, entries: readonly SampleEntry[], frames?: StackFrames): void;
  /** libbpf's messages (warnings; everything with `verbose`). */
  onLog?(level: LogLevel, message: string): void;
  /**
   * `--follow`: a newer version was swapped in (`next` is what runs now, called before its first
   * event), or an update was refused or failed and the running version goes on.
   */
  onUpdate?(update: UpdateEvent, next?: NextRun): void;
}

/** A package with what `ebpm run` makes of it: what the run of a follower swaps in. */
export interface NextRun {
  readonly package: ResolvedPackage;
  readonly plan: RunPlan;
  readonly assignments: readonly Assignment[];
}

export interface RunOptions {
  readonly package: ResolvedPackage;
  readonly plan: RunPlan;
  readonly assignments: readonly Assignment[];
  /** Stop after this long (`--duration`); undefined: until a signal. */
  readonly durationMs?: number;
  /** Stop after this many events (`--max-events`), counting only those `accept` keeps. */
  readonly maxEvents?: number;
  /** Which records are events (`--filter`); the others are counted in `filtered` and handed to no hook. Default: all. */
  readonly accept?: (record: Uint8Array) => boolean;
  /** Explicit targets by program name (`--attach`); the other programs attach by their section. */
  readonly targets?: ReadonlyMap<string, AttachTarget>;
  /** `--program` and `--skip-program`; of the rest, one option of each group of alternatives is loaded. */
  readonly programs?: ProgramSelection;
  /** What the kernel supports, for choosing among alternatives; default: probe this kernel. */
  readonly support?: SupportProbe;
  /** Aborting stops the run; the reasons `SIGTERM`, `output-closed` and `stopped` are reported as such, anything else as SIGINT. */
  readonly signal?: AbortSignal;
  readonly verbose?: boolean;
  readonly hooks: RunHooks;
  /** Perf buffer pages per CPU (a power of two); default 64 as ecli. */
  readonly perfPages?: number;
  readonly native?: BpfNative;
  readonly machine?: MachineFacts;
  /** `--btf`: the kernel BTF CO-RE relocates against, whatever the kernel and the package offer. */
  readonly btfFile?: string;
  /** Minimal kernel BTF per object, used when CO-RE relocates against the kernel's own BTF; filled at the run's end. */
  readonly btfCache?: BtfCache | undefined;
  readonly follow?: Follow<NextRun>;
}

export interface RunResult {
  readonly stop: StopReason;
  readonly events: number;
  /** Events the kernel dropped (perf buffer overruns). */
  readonly lost: number;
  /** Records `accept` refused. */
  readonly filtered: number;
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
  const open = new Set<Generation<NextRun>>();
  let logging = false;
  try {
    if (opts.hooks.onLog) {
      setBpfLog(opts.hooks.onLog, opts.verbose ? 'debug' : 'warn', opts.native);
      logging = true;
    }
    const first = await openGeneration(opts, opts, open);
    opts.hooks.onAttached?.(first.programs, first.selected);
    return await consume(opts, first, open);
  } catch (e) {
    throw withContext(where, e);
  } finally {
    for (const g of open) await closeGeneration(g, open);
    if (logging) setBpfLog(null, 'warn', opts.native);
    // Once everything is detached and printed: a miss costs this run nothing on its way.
    opts.btfCache?.fill();
  }
}

const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);

/**
 * The stacks `entries` name by the key fields `ids`, read from stack trace map `map`: each
 * value is an array of u64 instruction pointers, innermost first, ended by 0 or the value's end.
 * Negative ids (`bpf_get_stackid` failed) and ids no longer in the map are left out.
 */
function readStacks(map: BpfMap, ids: readonly StackIdField[], entries: readonly SampleEntry[]): Map<number, bigint[]> {
  const out = new Map<number, bigint[]>();
  for (const e of entries) {
    const k = new DataView(e.key.buffer, e.key.byteOffset, e.key.byteLength);
    for (const f of ids) {
      const id = stackIdOf(f, k);
      if (id < 0 || out.has(id)) continue;
      const value = map.lookup(u32(id));
      if (value === undefined) continue;
      const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
      const frames: bigint[] = [];
      for (let at = 0; at + 8 <= value.length; at += 8) {
        const ip = v.getBigUint64(at, true);
        if (ip === 0n) break;
        frames.push(ip);
      }
      out.set(id, frames);
    }
  }
  return out;
}

async function consume(opts: RunOptions, first: Generation<NextRun>, open: Set<Generation<NextRun>>): Promise<RunResult> {
  let gen = first;
  let events = 0;
  let filtered = 0;
  /** Events the kernel dropped for the generations swapped out. */
  let lostBefore = 0;
  /** Counts and hands on a batch, cut at `maxEvents`; true once that many were seen. */
  const take = (batch: EventBatch, reader: EventReader): boolean => {
    if (opts.maxEvents !== undefined && events >= opts.maxEvents) return true;
    const accepted = opts.accept === undefined ? batch.records : batch.records.filter(opts.accept);
    const room = opts.maxEvents === undefined ? accepted.length : Math.min(accepted.length, opts.maxEvents - events);
    const records = room === accepted.length ? accepted : accepted.slice(0, room);
    const full = opts.maxEvents !== undefined && events + room >= opts.maxEvents;
    // At the stop, the refused records up to the last one taken: those after it came past the stop.
    filtered += full && room > 0 ? batch.records.indexOf(records[room - 1]!) + 1 - room : batch.records.length - accepted.length;
    events += records.length;
    if (records.length > 0) opts.hooks.onEvents?.(records, lostBefore + reader.lost);
    return opts.maxEvents !== undefined && events >= opts.maxEvents;
  };
  const samplesOf = (g: Generation<NextRun>) =>
    g.plan.samples.map((s) => {
      const obj = g.objects.get(s.object)!;
      const stackMap = s.result?.stackMap;
      const section = s.global?.section;
      // A global's section is an array map of one element, named by libbpf (`<object prefix>.bss`).
      const map = section === undefined ? obj.map(s.map) : obj.map(obj.maps().find((m) => m.section === section)!.name);
      return { plan: s, map, stacks: stackMap === undefined ? undefined : obj.map(stackMap) };
    });
  type Sample = ReturnType<typeof samplesOf>[number];
  const readSample = (s: Sample) => {
    const g = s.plan.global;
    if (g !== undefined) return readGlobal(s.map, g, s.plan);
    const entries: SampleEntry[] = [];
    for (const [key, value] of s.map.entries()) entries.push({ key: key.slice(), value: value.slice() });
    const frames = s.stacks === undefined ? undefined : readStacks(s.stacks, stackIdFields(s.plan.key!), entries);
    if (s.plan.spec.clearMap) {
      for (const e of entries) s.map.delete(e.key);
      // Stacks whose counts were cleared would only fill the stack map up (then bpf_get_stackid fails).
      for (const id of frames?.keys() ?? []) s.stacks!.delete(u32(id));
    }
    opts.hooks.onSample?.(s.plan, entries, frames);
  };
  const readGlobal = (map: BpfMap, g: ResultGlobal, plan: SamplePlan) => {
    const section = map.lookup(u32(0));
    if (section === undefined) throw new EbpmError('INTERNAL', `map ${map.name}: no element 0`);
    if (plan.spec.clearMap) {
      const cleared = section.slice();
      cleared.fill(0, g.offset, g.offset + g.count * g.element.size);
      map.update(u32(0), cleared);
    }
    opts.hooks.onSample?.(plan, globalEntries(g, section));
  };
  const timers: NodeJS.Timeout[] = [];
  let sampleTimers: NodeJS.Timeout[] = [];
  let samples = samplesOf(gen);
  let ended = false;
  let stopChecks: () => void = () => undefined;
  const stop = await new Promise<StopReason>((resolve, reject) => {
    const signal = opts.signal;
    const byAbort = (): StopReason =>
      signal?.reason === 'output-closed' || signal?.reason === 'stopped'
        ? { kind: signal.reason }
        : { kind: 'signal', signal: signal?.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT' };
    if (opts.maxEvents === 0) return resolve({ kind: 'max-events' });
    if (signal?.aborted) return resolve(byAbort());
    signal?.addEventListener('abort', () => resolve(byAbort()), { once: true });
    if (opts.durationMs !== undefined) timers.push(setTimeout(() => resolve({ kind: 'duration' }), opts.durationMs));
    /** Reads `g`'s sample maps at their intervals and its events as they come. */
    const start = (g: Generation<NextRun>) => {
      sampleTimers = samples
        .filter((s) => s.plan.spec.interval !== 0)
        .map((s) =>
          setInterval(() => {
            try {
              readSample(s);
            } catch (e) {
              reject(e);
            }
          }, s.plan.spec.interval),
        );
      // A throw in the hooks fails the run (and so detaches everything), as a failed drain does.
      const reader = g.reader;
      reader?.onBatch((batch) => take(batch, reader) && resolve({ kind: 'max-events' }), reject);
    };
    start(gen);
    // Programs with nothing to read (an xdp program alone) run until a stop too: a started
    // reader (its poll), a sample timer, the duration's and `--follow`'s timers keep the event
    // loop, and so the process, alive; without any of them this one does. Only then: the
    // start-up snapshot's warm-up runs a reader and may start no timer (snapshot-warm.ts).
    if (gen.reader === undefined && sampleTimers.length === 0 && opts.durationMs === undefined && opts.follow === undefined)
      timers.push(setInterval(() => undefined, 1 << 30));
    if (opts.follow === undefined) return;
    const follow = opts.follow;
    stopChecks = followChecks(
      follow,
      async () => {
        const next = await update(follow);
        if (next === undefined) return;
        for (const t of sampleTimers) clearInterval(t);
        samples = samplesOf(next);
        start(next);
      },
      reject,
    );
  });
  /**
   * Swaps in the newer version `follow` finds, make before break: the new objects are loaded
   * and attached first; then the old ones are detached, their reader drained, and closed. A
   * refusal or a failure to load or attach is reported and leaves the old version running.
   */
  async function update(follow: Follow<NextRun>): Promise<Generation<NextRun> | undefined> {
    const old = gen;
    const from = old.package.metadata.version;
    let next: NextRun | undefined;
    try {
      next = await follow.next(old.package);
    } catch (e) {
      opts.hooks.onUpdate?.(failedUpdate(from, undefined, e));
      return undefined;
    }
    if (next === undefined || ended) return undefined;
    const to = next.package.metadata.version;
    let g: Generation<NextRun>;
    try {
      g = await openGeneration(opts, next, open);
    } catch (e) {
      opts.hooks.onUpdate?.(failedUpdate(from, to, e));
      return undefined;
    }
    if (ended) {
      await closeGeneration(g, open);
      return undefined;
    }
    for (const l of old.links) l.close();
    if (old.reader) take(old.reader.flush(), old.reader);
    lostBefore += old.reader?.lost ?? 0;
    await closeGeneration(old, open);
    gen = g;
    opts.hooks.onUpdate?.({ from, to, how: 'replaced' }, g);
    return g;
  }
  ended = true;
  stopChecks();
  for (const t of [...timers, ...sampleTimers]) clearTimeout(t);
  // What the programs produced before the stop and no wakeup delivered yet is printed and
  // counted too; once the output is closed there is no one to give it to.
  if (gen.reader && stop.kind !== 'output-closed') take(gen.reader.flush(), gen.reader);
  // One last read, so a run shorter than the interval still shows what its maps gathered.
  for (const s of samples) readSample(s);
  return { stop, events, filtered, lost: lostBefore + (gen.reader?.lost ?? 0), programs: gen.programs };
}
