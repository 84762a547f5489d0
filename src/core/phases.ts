/**
 * Start-up phases, for `EBPM_TRACE_STARTUP=1` (bench/README.md): the moment each step of a run's
 * start-up ended, in milliseconds since the process started (`performance.now()` counts from
 * there). Only the first of each name counts, so a `--follow` swap adds nothing. Off unless the
 * CLI turns it on; then `phase` is one comparison.
 */
import { performance } from 'node:perf_hooks';

let marks: [string, number][] | undefined;

/** `tracePhases` starts recording, with Node's own start-up (the end of its bootstrap) as phase `node`. */
export function tracePhases(): void {
  marks ??= [['node', performance.nodeTiming.bootstrapComplete]];
}

/** `phase` records that the step `name` has just ended, when recording and not seen before. */
export function phase(name: string): void {
  if (marks !== undefined && !marks.some(([n]) => n === name)) marks.push([name, performance.now()]);
}

/** `phaseLines` are the phases so far as `phase <name> <ms>` lines, and recording stops; undefined when it was off. */
export function phaseLines(): string | undefined {
  if (marks === undefined) return undefined;
  const lines = marks.map(([n, ms]) => `phase ${n} ${ms.toFixed(1)}\n`).join('');
  marks = undefined;
  return lines;
}
