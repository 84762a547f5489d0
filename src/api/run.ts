/**
 * Running a BPF package, as `ebpm run` and the library's `Ebpm.run` both do: the plan (which map
 * carries events, which maps are printed as snapshots, which globals are set), the printers of
 * its snapshots, and `startRun`, which hands the decoded events to an async iterator.
 */
import { EbpmError } from '../core/errors.js';
import { columns, eventFormat, rawEventFormat, type EventFormat } from '../package/decode.js';
import { eventFilter, pickColumns } from '../package/event-select.js';
import { sampleFormat, type SampleEntry, type SampleFormat } from '../package/histogram.js';
import { assignments, flagSpecs, parseValue, type Assignment, type FlagSpec, type ParamValue } from '../package/params.js';
import { DEFAULT_TOP, histogramUnit, resultFormat, type ResultOptions } from '../package/result-maps.js';
import { planRun, runPackage, withEventType, type PlanChoices, type RunPlan, type RunResult, type SamplePlan } from '../services/run.js';
import { withResultGlobals, withSyscallNames } from '../services/run-results.js';
import type { ResolvedPackage } from '../services/run-source.js';

export { runPackage } from '../services/run.js';
export type { EventTypeWhy, NextRun, RunHooks, RunPlan, RunResult, SamplePlan, StopReason } from '../services/run.js';
export type { AttachedProgram } from '../services/run-generation.js';
export type { Follow, UpdateEvent } from '../services/follow-loop.js';

/**
 * `planPackage` plans the run of `pkg`: `planRun`'s choices, `eventType` (`--event-type`) read
 * from the object's BTF, then the result maps' globals and syscall names for the values `given`.
 */
export async function planPackage(pkg: ResolvedPackage, choices: PlanChoices, given: readonly Assignment[], eventType?: string): Promise<RunPlan> {
  const planned = planRun(pkg.metadata, choices);
  const typed = eventType === undefined ? planned : await withEventType(planned, pkg, eventType);
  return withSyscallNames(await withResultGlobals(typed, pkg, choices), pkg, given);
}

/** Attach points of open(2) and openat(2): their tracepoints, their kernel functions. */
const OPEN_ATTACH = /(^|[/_])(sys_(enter|exit)_open(at)?|do_sys_open(at2)?)$/;

/** Which fields of the events print and which events do (`--fields`, `--filter`). */
export interface EventSelection {
  readonly fields?: string | undefined;
  readonly filter?: string | undefined;
}

/**
 * `eventPrinter` prints the records of `plan`'s event map: by their layout as `selection` shapes
 * it, else as hex, which no selection applies to; none without an event map.
 */
export function eventPrinter(pkg: ResolvedPackage, plan: RunPlan, selection: EventSelection = {}): EventFormat | undefined {
  if (plan.events === undefined) return undefined;
  const layout = plan.events.layout;
  if (layout === undefined) {
    const flag = selection.filter !== undefined ? '--filter' : selection.fields !== undefined ? '--fields' : undefined;
    if (flag !== undefined)
      throw new EbpmError('USAGE', `run: ${flag} does not apply to ${pkg.metadata.name}: its events have no type, and print as hex`, {
        hint: 'name their struct with --event-type',
      });
    return rawEventFormat();
  }
  // A `flags` field of a tool on open or openat holds open flags.
  const naming = { openFlags: pkg.metadata.objects.some((o) => o.programs.some((p) => OPEN_ATTACH.test(p.attach ?? ''))) };
  const all = columns(layout, naming);
  return eventFormat(layout, {
    naming,
    ...(selection.fields === undefined ? {} : { columns: pickColumns(selection.fields, all) }),
    ...(selection.filter === undefined ? {} : { test: eventFilter(selection.filter, all) }),
  });
}

/**
 * `samplePrinter` prints one sample map: as its `@sample` annotation says, or as the result map
 * ebpm found, in the unit the parameters in `values` choose, its `top` entries in the `sort` order (`--sort`).
 */
export function samplePrinter(
  pkg: ResolvedPackage,
  s: SamplePlan,
  values: ReadonlyMap<FlagSpec, ParamValue>,
  top: number,
  sort?: ResultOptions['sort'],
  stacks?: ResultOptions['stacks'],
): SampleFormat {
  if (s.result === undefined) return sampleFormat(s.map, s.spec, s.key, s.value);
  const object = pkg.metadata.objects.find((o) => o.name === s.object)!;
  const given = (name: string) => [...values].find(([f]) => f.object === s.object && f.parameter.name === name)?.[1];
  return resultFormat(s.map, s.result.kind, s.key!, s.value!, {
    unit: histogramUnit(object.parameters, given),
    top,
    perCpu: s.result.perCpu === true,
    ...(sort === undefined ? {} : { sort }),
    ...(stacks === undefined ? {} : { stacks }),
  });
}

/** A value of a package parameter, as the library takes it: text as on the command line, or typed. */
export type ParamInput = string | number | bigint | boolean;

/**
 * `parameterValues` reads `params` (by the parameter's flag name or its C name) against the
 * package's parameters (`specs`, its flags): a name it does not have is `INVALID_PARAMETER` listing those it has; a
 * bad value is `INVALID_PARAMETER` naming it and its type.
 */
function parameterValues(pkg: ResolvedPackage, specs: readonly FlagSpec[], params: Readonly<Record<string, ParamInput>>): Map<FlagSpec, ParamValue> {
  const values = new Map<FlagSpec, ParamValue>();
  for (const [name, v] of Object.entries(params)) {
    const spec = specs.find((s) => s.long === name || s.parameter.name === name);
    if (spec === undefined) {
      const names = specs.map((s) => s.long);
      throw new EbpmError('INVALID_PARAMETER', `run ${pkg.source}: ${pkg.metadata.name} has no parameter ${name}`, {
        hint: names.length === 0 ? `${pkg.metadata.name} has no parameters` : `its parameters: ${names.join(', ')}`,
      });
    }
    values.set(spec, parseValue(spec.parameter, String(v), name));
  }
  return values;
}

/**
 * One item of a run's `events`: a decoded event, or a snapshot of a histogram or counter map; of
 * a package with a Wasm program, each line it prints.
 */
export type RunEvent =
  | {
      readonly kind: 'event';
      /** When ebpm read it from the ring or perf buffer. */
      readonly time: Date;
      /** The record decoded by its layout (as `ebpm run --json` prints it); `{ data: hex }` without one. */
      readonly data: Readonly<Record<string, unknown>>;
    }
  | {
      readonly kind: 'snapshot';
      readonly time: Date;
      /** The map the snapshot is of. */
      readonly map: string;
      /** The snapshot as `ebpm run --json` prints it: one object per line it prints. */
      readonly entries: readonly unknown[];
    }
  | {
      readonly kind: 'line';
      readonly time: Date;
      /** Where the Wasm program wrote it. */
      readonly stream: 'stdout' | 'stderr';
      /** The line, without its newline. */
      readonly text: string;
    };

/** `RunHandle` is a package running: its events, and the way to stop it. */
export interface RunHandle {
  /** The package's name and version. */
  readonly name: string;
  readonly version: string;
  /**
   * The events, in order, ending when the run ends; it throws the run's error if it failed.
   * Leaving a `for await` early stops the run. Read by one consumer.
   */
  readonly events: AsyncIterable<RunEvent>;
  /** Detaches and unloads every program; resolves once that is done, with how the run ended. */
  stop(): Promise<RunSummary>;
  /** Resolves with how the run ended (after `stop()`, `maxEvents`, `durationMs` or `signal`). */
  readonly done: Promise<RunSummary>;
}

/**
 * How a run ended: for a package without a Wasm program, `RunResult`; with one, why its program
 * ended and its exit code. Both count the events not kept because the consumer fell behind.
 */
export type RunSummary = (RunResult & { readonly kind: 'bpf'; readonly dropped: number }) | WasmRunSummary;

/** How a package's Wasm program ended. */
export interface WasmRunSummary {
  readonly kind: 'wasm';
  /** `exit`: the program ended by itself, with `exitCode`. */
  readonly stop: { readonly kind: 'exit' | 'duration' | 'max-events' | 'stopped' };
  readonly exitCode: number;
  /** The lines it printed on stdout. */
  readonly lines: number;
  /** Events dropped because more than `MAX_QUEUED` waited for the consumer. */
  readonly dropped: number;
}

/** How many events may wait for a consumer of `events` before more are dropped (and counted). */
export const MAX_QUEUED = 65536;

/** What `startRun` needs besides the package. */
export interface StartOptions {
  /** The parameters of a package without a Wasm program (`parameterValues`). */
  readonly params: Readonly<Record<string, ParamInput>>;
  /** A Wasm program's arguments. */
  readonly args: readonly string[];
  readonly maxEvents?: number;
  readonly durationMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * `startRun` loads and attaches `pkg`, or starts its Wasm program, and returns once it is
 * attached (started), or throws what the kernel refused. Its events queue for the consumer of
 * `events`. Parameters are for a package without a Wasm program, arguments for one with it:
 * either given to the other is `USAGE`.
 */
export async function startRun(pkg: ResolvedPackage, opts: StartOptions): Promise<RunHandle> {
  if (pkg.wasm !== undefined) {
    if (Object.keys(opts.params).length > 0) {
      throw new EbpmError('USAGE', `run ${pkg.source}: ${pkg.metadata.name} has a Wasm program, which sets its parameters itself`, {
        hint: 'give the Wasm program its arguments (args) instead',
      });
    }
    return startWasm(pkg as ResolvedPackage & { wasm: Uint8Array }, opts);
  }
  if (opts.args.length > 0) {
    throw new EbpmError('USAGE', `run ${pkg.source}: ${pkg.metadata.name} has no Wasm program to take arguments`, {
      hint: 'set its parameters (params) instead',
    });
  }
  const specs = flagSpecs(pkg.metadata.objects, [], pkg.ecli);
  const values = parameterValues(pkg, specs, opts.params);
  const given = assignments(values, specs);
  const plan = await planPackage(pkg, {}, given);
  const format = eventPrinter(pkg, plan);
  const symbolizer = plan.samples.some((s) => s.result?.kind === 'stacks') ? (await import('../kernel/symbolize.js')).symbolizer : undefined;
  const started = starting(opts.signal);
  const { queue, abort, attached, untilStopped } = started;
  const finished = runPackage({
    package: pkg,
    plan,
    assignments: given,
    ...(opts.durationMs === undefined ? {} : { durationMs: opts.durationMs }),
    ...(opts.maxEvents === undefined ? {} : { maxEvents: opts.maxEvents }),
    signal: abort.signal,
    hooks: {
      onAttached: () => attached(),
      onEvents: (records) => {
        if (format === undefined || records.length === 0) return;
        const time = new Date();
        const view = new DataView(records[0]!.buffer);
        for (const r of records) queue.push({ kind: 'event', time, data: JSON.parse(format.json(view, r.byteOffset, r.byteLength)) });
      },
      onSample: (s, entries: readonly SampleEntry[], frames) => {
        const printer = samplePrinter(pkg, s, values, DEFAULT_TOP, undefined, frames === undefined ? undefined : { frames, names: symbolizer!() });
        const lines = printer
          .json(entries)
          .split('\n')
          .filter((l) => l !== '');
        queue.push({ kind: 'snapshot', time: new Date(), map: s.map, entries: lines.map((l) => JSON.parse(l) as unknown) });
      },
    },
  }).finally(untilStopped);
  return handle(
    pkg,
    started,
    finished.then((r): RunSummary => ({ ...r, kind: 'bpf', dropped: queue.dropped })),
  );
}

/** A package's Wasm program, given `opts.args`: each line it prints is an event. */
async function startWasm(pkg: ResolvedPackage & { wasm: Uint8Array }, opts: StartOptions): Promise<RunHandle> {
  const { runWasmPackage } = await import('../services/run-wasm.js');
  const started = starting(opts.signal);
  const { queue, abort, attached, untilStopped } = started;
  let lines = 0;
  const finished = runWasmPackage({
    package: pkg,
    args: opts.args,
    ...(opts.durationMs === undefined ? {} : { durationMs: opts.durationMs }),
    ...(opts.maxEvents === undefined ? {} : { maxLines: opts.maxEvents }),
    signal: abort.signal,
    onStart: attached,
    onStdout: (text) => {
      lines++;
      queue.push({ kind: 'line', time: new Date(), stream: 'stdout', text });
    },
    onStderr: (text) => queue.push({ kind: 'line', time: new Date(), stream: 'stderr', text }),
  }).finally(untilStopped);
  return handle(
    pkg,
    started,
    finished.then(
      (r): RunSummary => ({ kind: 'wasm', stop: { kind: r.reason === 'signal' ? 'stopped' : r.reason }, exitCode: r.exitCode, lines, dropped: queue.dropped }),
    ),
  );
}

/** What both kinds of run start with: the queue, the abort that `stop()` and `signal` raise, and the moment of attach. */
function starting(signal: AbortSignal | undefined) {
  const queue = new EventQueue();
  const abort = new AbortController();
  const onAbort = () => abort.abort('stopped');
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  let attached: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    attached = resolve;
  });
  return { queue, abort, attached, ready, untilStopped: () => signal?.removeEventListener('abort', onAbort) };
}

/** `handle` returns once the run is attached, or throws how it failed before: the caller's error then, not the iterator's. */
async function handle(pkg: ResolvedPackage, { queue, abort, ready }: ReturnType<typeof starting>, done: Promise<RunSummary>): Promise<RunHandle> {
  done.then(
    () => queue.end(),
    (e: unknown) => queue.end(e),
  );
  await Promise.race([ready, done]);
  const stop = () => {
    abort.abort('stopped');
    return done;
  };
  return { name: pkg.metadata.name, version: pkg.metadata.version, events: queue.iterable(stop), stop, done };
}

/** The events waiting for `events`' consumer, bounded by `MAX_QUEUED`. */
class EventQueue {
  // Taken from `head` on, not shifted: a consumer that is MAX_QUEUED behind would pay for moving
  // them all at every event.
  private items: RunEvent[] = [];
  private head = 0;
  private waiting: (() => void) | undefined;
  private ended = false;
  private error: unknown;
  dropped = 0;

  push(e: RunEvent): void {
    if (this.items.length - this.head >= MAX_QUEUED) this.dropped++;
    else this.items.push(e);
    this.wake();
  }

  end(error?: unknown): void {
    this.ended = true;
    this.error = error;
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  /** The oldest event; the taken ones are let go once they are half the array (amortised O(1)). */
  private take(): RunEvent {
    const item = this.items[this.head++]!;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  iterable(stop: () => Promise<unknown>): AsyncIterable<RunEvent> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<RunEvent>> => {
          for (;;) {
            if (this.head < this.items.length) return { value: this.take(), done: false };
            if (this.ended) {
              if (this.error !== undefined) throw this.error;
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => {
              this.waiting = resolve;
            });
          }
        },
        // Leaving a `for await` early (break, return, throw) stops the run.
        return: async (): Promise<IteratorResult<RunEvent>> => {
          await stop().catch(() => undefined);
          return { value: undefined, done: true };
        },
      }),
    };
  }
}
