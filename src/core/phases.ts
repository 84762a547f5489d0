/**
 * Start-up phases, for `EBPM_TRACE_STARTUP=1` (bench/README.md): the moment each step of a run's
 * start-up ended, in milliseconds since the process started (`performance.now()` counts from
 * there). Only the first of each name counts, so a `--follow` swap adds nothing. Off unless the
 * CLI turns it on; then `phase` is one comparison. A guest's thread records its own steps on the
 * main thread's clock (`tracePhasesIn`) and sends each to the main thread (`phaseAt`).
 *
 * `performance` is Node's global, not node:perf_hooks imported: a guest's thread loads this
 * module at every Wasm run, and loads perf_hooks (about 1 ms) only when it traces.
 */
import type { Performance } from 'node:perf_hooks';

/** Node's `performance`, whose type has Node's own timings (`nodeTiming`). */
const perf = (): Performance => performance as unknown as Performance;

let marks: [string, number][] | undefined;
/** In a guest's thread: its clock's start on the main thread's clock, and where its marks go. */
let offset = 0;
let send: ((name: string, ms: number) => void) | undefined;

/** Whether the `node` phase is still to be taken (the main thread's). */
let nodePhase = false;

/**
 * `tracePhases` starts recording, with Node's own start-up (the end of its bootstrap) as phase
 * `node`, read when the lines are made: `nodeTiming` loads node:perf_hooks (about 1 ms), which
 * would otherwise be in the traced run's first event.
 */
export function tracePhases(): void {
  marks ??= [];
  nodePhase = true;
}

/** The main thread's time origin, for a thread it starts to pass to `tracePhasesIn`; undefined when not recording. */
export function phaseOrigin(): number | undefined {
  return marks === undefined ? undefined : performance.timeOrigin;
}

/**
 * `tracePhasesIn` starts recording in a thread started with `phaseOrigin()` as `origin`: its
 * marks are taken on the main thread's clock and handed to `forward` as they are made, with
 * `thread` (Node set up the thread's environment) and `thread-node` (Node's bootstrap of it ended) first.
 */
export function tracePhasesIn(origin: number, forward: (name: string, ms: number) => void): void {
  offset = performance.timeOrigin - origin;
  send = forward;
  marks = [];
  phaseAt('thread', offset + perf().nodeTiming.environment);
  phaseAt('thread-node', offset + perf().nodeTiming.bootstrapComplete);
}

/** `phase` records that the step `name` has just ended, when recording and not seen before. */
export function phase(name: string): void {
  if (marks !== undefined) phaseAt(name, offset + performance.now());
}

/** `phaseAt` records that the step `name` ended at `ms` (a thread's mark, on this clock), when recording and not seen before. */
export function phaseAt(name: string, ms: number): void {
  if (marks === undefined || marks.some(([n]) => n === name)) return;
  marks.push([name, ms]);
  send?.(name, ms);
}

/** `phaseLines` are the phases so far as `phase <name> <ms>` lines, in the order they ended, and recording stops; undefined when it was off. */
export function phaseLines(): string | undefined {
  if (marks === undefined) return undefined;
  if (nodePhase) marks.push(['node', perf().nodeTiming.bootstrapComplete]);
  nodePhase = false;
  const lines = marks
    .sort((a, b) => a[1] - b[1])
    .map(([n, ms]) => `phase ${n} ${ms.toFixed(1)}\n`)
    .join('');
  marks = undefined;
  return lines;
}
