/**
 * Deadlines of registry work: of one exchange (http.ts) and of a whole pull (services/pull.ts).
 * Apart from http.ts, which loads node:http: a pull the store answers loads neither.
 */
import { registryFailure } from './codes.js';

/** `DEFAULT_REQUEST_DEADLINE_MS` is 10 minutes: a 1 GiB blob at under 2 MB/s. */
export const DEFAULT_REQUEST_DEADLINE_MS = 10 * 60_000;
/** `DEFAULT_PULL_DEADLINE_MS` is 30 minutes for a whole pull (resolve, trust, every blob). */
export const DEFAULT_PULL_DEADLINE_MS = 30 * 60_000;

/**
 * `deadline` is `signal` (if any) that also aborts after `ms`, with a `DEADLINE_EXCEEDED` error
 * naming `what` as the reason (so whatever the abort interrupts rejects with it); `clear` stops
 * the timer. The timer does not keep the process alive.
 */
export function deadline(ms: number, what: string, hint: string, signal?: AbortSignal): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(registryFailure('DEADLINE_EXCEEDED', `${what} not done within ${ms} ms`, { hint, data: { deadlineMs: ms } })),
    ms,
  );
  timer.unref();
  return {
    signal: signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]),
    clear: () => clearTimeout(timer),
  };
}
