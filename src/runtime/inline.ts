/**
 * A guest on the main thread (`RunWasmOptions.inline`). A worker costs a Wasm run about 35 ms
 * and 10 MB before the guest's first instruction (a second V8 isolate, Node's environment for
 * it, the runtime's bundle loaded again), and buys what a plain `ebpm run` does not use: an
 * event loop that turns while the guest blocks, for timers, a live swap and asynchronous output.
 *
 * On the main thread the guest's waits block the event loop, so what it would have done is done
 * here instead: the broker is asked directly and the buffers are polled in the guest's own
 * waits (`broker.poller`); output lines go to callbacks that write synchronously (`flush`);
 * SIGINT and SIGTERM are taken by the addon into the stop flag, which every wait looks at
 * (native/guest.c), since Node's handlers would run only after the guest; so is `--duration`'s
 * deadline, from the addon's timer, since a JavaScript timer would not fire before it either.
 */
import { constants } from 'node:os';
import type { EventBatch, EventReader } from '../kernel/events.js';
import { loadNative } from '../kernel/native.js';
import { brokerBackend, type BrokerRequester, replied } from './broker-backend.js';
import type { ObjectBroker, Tenant } from './broker.js';
import { type GuestOutcome, type GuestSetup, runGuest } from './guest-run.js';
import { LineSplitter } from './output.js';
import { unwindForStop } from './host.js';
import { type Blocking, blockingOn } from './protocol.js';

/** Where an inline guest's lines go: to callbacks that write synchronously, or hold them until `flush`. */
export interface InlineOutput {
  readonly onStdout: (line: string) => void;
  readonly onStderr: (line: string) => void;
  /**
   * Writes what the callbacks hold: after each of the guest's writes, but those of a poll's
   * records, which go out together once it has delivered them. While the output has no room it
   * waits, unless `stopping()`: then it drops what is held and returns false, and the guest is
   * stopped where it waits, as in a worker.
   */
  readonly flush: (stopping: () => boolean) => boolean;
}

export interface InlineGuest {
  readonly setup: GuestSetup;
  readonly broker: ObjectBroker;
  readonly tenant: Tenant;
  readonly output: InlineOutput;
  readonly log: (line: string, refusal: boolean) => void;
  /** How long the guest's code may run on after a stop: then it is unwound at its next write or wait (or, making neither, ended by the addon). */
  readonly graceMs: number;
  /** When, on `performance.now()`'s clock, the guest is asked to stop (`--duration`): the run's `signal` is then `DEADLINE_SIGNAL`. */
  readonly deadline?: number;
}

/** The signal `runInline` reports for a guest its deadline stopped: the addon's timer's. */
export const DEADLINE_SIGNAL = constants.signals.SIGALRM;

/** How much longer than the grace the addon waits before a signal's default action ends a guest that makes no host call. */
const BACKSTOP_S = 5;
/**
 * While records keep coming, a buffer is drained at most this often, as the event loop drains
 * it (BUSY_MS, native/events.c): one batch, one write, per period instead of per record.
 */
const BUSY_MS = 4;

/** A poll of `events` that, while records keep coming, waits out the rest of `BUSY_MS` first. */
function batchingPoll(events: EventReader): (timeoutMs: number) => EventBatch {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let found: number | undefined;
  return (timeoutMs) => {
    const wait = found === undefined ? 0 : found + BUSY_MS - performance.now();
    if (wait > 0) Atomics.wait(pause, 0, 0, Math.min(wait, timeoutMs));
    const batch = events.poll(timeoutMs);
    found = batch.records.length > 0 ? performance.now() : undefined;
    return batch;
  };
}

/** `runInline` runs the guest to its end on this thread; `signal`: the one that asked it to stop (its number, or `DEADLINE_SIGNAL`), if any. */
export function runInline(g: InlineGuest): { readonly outcome: GuestOutcome; readonly signal: number | undefined } {
  const flag = new Int32Array(g.setup.stop);
  const native = loadNative();
  const stdout = new LineSplitter(g.output.onStdout);
  const stderr = new LineSplitter(g.output.onStderr);
  const stopping = () => Atomics.load(flag, 0) !== 0;
  /** Writes what is held; a guest that waits for room when asked to stop is unwound there. */
  const flush = () => {
    if (!g.output.flush(stopping)) unwindForStop(flag);
  };
  let seen: number | undefined;
  /** Unwinds a guest whose code outlived its stop's grace (counted from when ebpm first saw the stop). */
  const overdue = () => {
    if (!stopping()) return;
    const now = performance.now();
    seen ??= now;
    if (now - seen > g.graceMs) unwindForStop(flag);
  };
  const waitOn = blockingOn(flag);
  const block: Blocking = (wait) => {
    overdue();
    return waitOn(wait);
  };
  let batching = false;
  const request: BrokerRequester = (req) => replied(g.broker.serve(g.tenant, req));
  native.guestSignals(flag, Math.ceil(g.graceMs / 1000) + BACKSTOP_S);
  let outcome: GuestOutcome;
  try {
    if (g.deadline !== undefined) native.guestDeadline(Math.max(1, Math.ceil(g.deadline - performance.now())));
    outcome = runGuest(g.setup, {
      backend: g.setup.usesBpf
        ? () =>
            brokerBackend(request, (object, map) => {
              const events = g.broker.poller(g.tenant, object, map);
              const poll = batchingPoll(events);
              return {
                poll: (timeoutMs) => block(() => poll(timeoutMs)),
                close: () => events.close(),
              };
            })
        : undefined,
      output: {
        write: (fd, parts) => {
          overdue();
          for (const p of parts) (fd === 1 ? stdout : stderr).push(p);
          if (!batching) flush();
        },
      },
      block,
      log: (line, refusal) => g.log(line, refusal === true),
      waiting: () => undefined,
      delivering: (on) => {
        batching = on;
        if (!on) flush();
      },
    });
    stdout.flush();
    stderr.flush();
    g.output.flush(stopping);
  } finally {
    native.guestSignalsEnd();
  }
  // Written by the addon's handler.
  const signal = Atomics.load(flag, 2);
  return { outcome, signal: signal === 0 ? undefined : signal };
}
