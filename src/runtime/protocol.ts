/** Messages between `runWasm` (main thread) and the guest's worker thread. */
import type { ObjectPolicy } from './admission.js';

/** `workerData` of the guest worker. */
export interface WorkerInput {
  /** The module, already checked, its memory maximum lowered to the limit and its grows recorded (`limitMemory`). */
  readonly module: Uint8Array;
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly preopens: Readonly<Record<string, string>>;
  readonly maxMemoryBytes: number;
  readonly allowAttach: readonly string[];
  readonly objects: ObjectPolicy;
  /** `RunWasmOptions.btfPath`. */
  readonly btfPath?: string;
  readonly usesBpf: boolean;
  /** Int32Array over it: [0] becomes 1 when the guest must stop. */
  readonly stop: SharedArrayBuffer;
  /** The guest's stdout and stderr (`OutputWriter` here, `OutputReader` in `runWasm`). */
  readonly output: SharedArrayBuffer;
}

export interface WorkerError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
}

export type WorkerMessage =
  | { readonly t: 'log'; readonly line: string; readonly refusal?: boolean }
  | { readonly t: 'exit'; readonly code: number }
  | { readonly t: 'stopped' }
  | { readonly t: 'error'; readonly error: WorkerError };
