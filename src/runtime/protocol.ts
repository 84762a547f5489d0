/**
 * Messages between `runWasm` (main thread) and a guest's worker thread, and between the
 * worker's backend and the object broker (broker.ts), which holds the run's BPF objects on the
 * main thread so that they outlive any one guest.
 */
import type { MessagePort } from 'node:worker_threads';
import type { AttachTarget } from '../kernel/loader-targets.js';
import type { DeclaredObject, ObjectPolicy } from './admission.js';
import type { MapKind } from './backend.js';

/**
 * The guest, posted to its worker once the run's checks passed; the worker starts before
 * (while they go on) and runs nothing until this message comes.
 */
export interface GuestInput {
  /** Compiled on the main thread from the checked module, its memory maximum lowered to the limit and its grows recorded (`limitMemory`). */
  readonly module: WebAssembly.Module;
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly preopens: Readonly<Record<string, string>>;
  readonly maxMemoryBytes: number;
  readonly allowAttach: readonly string[];
  readonly objects: ObjectPolicy;
  /** `callbackProbe()`, compiled on the main thread; absent for a guest without wasm_bpf imports. */
  readonly callbackProbe?: WebAssembly.Module;
  /** `declaredObjects(module, objects)`, found once on the main thread. */
  readonly declared: readonly DeclaredObject[];
  readonly usesBpf: boolean;
  /** Int32Array over it: [0] becomes a `StopRequest` when the guest must stop; [1] says where its thread is (`GuestAt`); [2] is unused in a worker (`STOP_FLAG_BYTES`). */
  readonly stop: SharedArrayBuffer;
  /** The guest's stdout and stderr (`OutputWriter` here, `OutputReader` in `runWasm`). */
  readonly output: SharedArrayBuffer;
  /** The broker's end is on the main thread; requests on it are answered synchronously. */
  readonly broker: MessagePort;
  /** Int32Array over it: [0] is bumped after each broker reply. */
  readonly brokerBell: SharedArrayBuffer;
}

export interface WorkerError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
}

export type WorkerMessage =
  | { readonly t: 'log'; readonly line: string; readonly refusal?: boolean }
  /** The guest waits for the first time (a buffer poll or a sleep): it is set up. */
  | { readonly t: 'waiting' }
  | { readonly t: 'exit'; readonly code: number }
  | { readonly t: 'stopped' }
  | { readonly t: 'error'; readonly error: WorkerError }
  /** A step of its start-up ended (`EBPM_TRACE_STARTUP`), at `ms` on the main thread's clock. */
  | { readonly t: 'phase'; readonly name: string; readonly ms: number };

/** A BPF object the broker loaded (or handed on), as the guest's backend sees it. */
export interface BrokerObject {
  readonly id: number;
  readonly programs: readonly { readonly name: string; readonly section: string }[];
  readonly maps: readonly { readonly name: string; readonly fd: number; readonly kind: MapKind }[];
}

export type BrokerRequest =
  | { readonly op: 'load'; readonly bytes: Uint8Array; readonly name: string }
  | { readonly op: 'attach'; readonly object: number; readonly program: string; readonly target?: AttachTarget }
  | { readonly op: 'detach'; readonly link: number }
  /** Records of the map go to `port` as `RecordBatch`es, each followed by a bump of `bell`[0]. */
  | { readonly op: 'subscribe'; readonly object: number; readonly map: string; readonly port: MessagePort; readonly bell: SharedArrayBuffer }
  /** `unread`: records received and not delivered, which the map's next reader gets first. */
  | { readonly op: 'unsubscribe'; readonly object: number; readonly map: string; readonly unread: readonly Uint8Array[] }
  | { readonly op: 'close'; readonly object: number };

export type BrokerReply =
  | { readonly ok: true; readonly value: BrokerObject | number | null }
  | { readonly ok: false; readonly error: WorkerError & { readonly errno?: number } };

export interface RecordBatch {
  readonly records: readonly Uint8Array[];
  /** Events the kernel dropped since the last batch. */
  readonly lost: number;
}

/**
 * How a guest is asked to stop. `end`: it ends where it waits, its exit path not run (a
 * `--follow` swap: its records go to its successor). `drain`: it delivers the records it has,
 * and ends at the first poll that finds none, or at a sleep (a swap that replaces its objects:
 * nobody else can deliver their records). `interrupt`: its blocking calls return EINTR, so it
 * leaves its loop and prints what it prints on exit (the run's end).
 */
export type StopHow = 'end' | 'interrupt' | 'drain';

/** The stop flag's value for each `StopHow` (0: run on). */
export const StopRequest: Readonly<Record<StopHow, number>> = { end: 1, interrupt: 2, drain: 3 };

const HOW = new Map(Object.entries(StopRequest).map(([how, v]) => [v, how as StopHow]));

/** What the flag asks of the guest now. */
export function stopRequested(flag: Int32Array): StopHow | undefined {
  return HOW.get(Atomics.load(flag, 0));
}

/**
 * Bytes of a guest's stop flag: the `StopRequest`, where its thread is (`GuestAt`), and the
 * signal that asked it to stop, for a guest on the main thread (native/guest.c writes it).
 */
export const STOP_FLAG_BYTES = 12;

/**
 * Where a guest's thread is, in [1] of its stop flag: what a stop's grace is spent on. Only
 * `CODE` can run on after a stop (a guest that spins, or catches the stop's exception), so only
 * there does the grace end its thread, losing the records it holds.
 * - `CODE`: the guest's code runs, or ebpm's on its behalf;
 * - `WAIT`: it is blocked in one of ebpm's waits, which the stop ends;
 * - `ENDING`: ebpm unwinds it for the stop;
 * - `RETURNED`: its code has returned: ebpm closes what it held, giving back its undelivered records.
 */
export const GuestAt = { CODE: 0, WAIT: 1, ENDING: 2, RETURNED: 3 } as const;

/**
 * Longest single wait of a guest's before it looks at its stop flag again: a guest on the main
 * thread is asked to stop by a signal handler's store, which wakes no wait but epoll's.
 */
export const WAIT_SLICE_MS = 100;

/** Runs one of ebpm's waits that a stop ends, with the flag saying the guest's thread is there. */
export type Blocking = <T>(wait: () => T) => T;

/** The `Blocking` of the guest whose stop flag is `flag`. */
export function blockingOn(flag: Int32Array): Blocking {
  return (wait) => {
    Atomics.store(flag, 1, GuestAt.WAIT);
    try {
      return wait();
    } finally {
      // Asked to end, ebpm unwinds the guest from the wait; interrupted, the guest runs on to its exit.
      Atomics.store(flag, 1, stopRequested(flag) === 'end' ? GuestAt.ENDING : GuestAt.CODE);
    }
  };
}

/** Marks the guest's thread as ebpm unwinds it for a stop. */
export function markEnding(flag: Int32Array): void {
  Atomics.store(flag, 1, GuestAt.ENDING);
}
