/**
 * A guest's thread, started ahead: its own module, light enough for `ebpm run` to start the
 * thread as soon as it knows the package has a Wasm program, before it loads the runtime.
 */
import type { Worker } from 'node:worker_threads';
import { EbpmError } from '../core/errors.js';
import { phase, phaseAt, phaseOrigin } from '../core/phases.js';
import type { WorkerMessage } from './protocol.js';
import { workerSource } from './worker-entry.js';

/**
 * `GuestWorker` is a guest's thread started before the guest is known: a new V8 isolate that
 * loads the runtime's bundle while the run's checks go on, so that a Wasm run does not wait
 * for it after them. It runs nothing until `startWasm` (or `swap`) takes it and posts it the
 * checked guest; one never taken is ended with `discard`.
 */
export class GuestWorker {
  readonly #worker: Worker;
  #taken = false;
  /** What befell the thread before it was taken (it failed to load, or ended). */
  #early: { error?: Error; exited: boolean } = { exited: false };
  readonly #onError = (e: Error) => {
    this.#early.error ??= e;
  };
  readonly #onExit = () => {
    this.#early.exited = true;
  };

  constructor() {
    const src = workerSource();
    // Loaded here, not imported: `ebpm run` imports this module, which the start-up snapshot
    // evaluates (src/cli/snapshot.ts), and node:worker_threads loaded while a snapshot is built
    // starts no working thread (its Atomics are missing then).
    const threads = process.getBuiltinModule('node:worker_threads');
    // With start-up tracing on, the thread records its steps too, on this thread's clock.
    const origin = phaseOrigin();
    // What the thread costs before Node starts it is on the way to the first event: it shares
    // this process's environment (the guest's own is `GuestInput.env`) rather than copying it,
    // and its stdout and stderr are piped here when it is taken (Node's piping takes a
    // millisecond and more of this thread).
    this.#worker = new threads.Worker(src.source, {
      eval: src.eval,
      env: threads.SHARE_ENV,
      stdout: true,
      stderr: true,
      ...(origin === undefined ? {} : { workerData: { phaseOrigin: origin } }),
    });
    this.#worker.on('error', this.#onError).on('exit', this.#onExit);
    if (origin !== undefined) {
      this.#worker.on('message', (m: WorkerMessage) => {
        if (m.t === 'phase') phaseAt(m.name, m.ms);
      });
    }
    // Until it has a guest, it must not keep the process alive.
    this.#worker.unref();
    phase('worker');
  }

  /** The thread, for the one guest it runs, and what befell it so far. */
  take(): { readonly worker: Worker; readonly error?: Error; readonly exited: boolean } {
    if (this.#taken) throw new EbpmError('INTERNAL', 'a guest worker runs one guest');
    this.#taken = true;
    this.#worker.off('error', this.#onError).off('exit', this.#onExit);
    this.#worker.ref();
    // As Node pipes a thread's output by default: process.stdout and process.stderr stay open when it ends.
    this.#worker.stdout.pipe(process.stdout);
    this.#worker.stderr.pipe(process.stderr);
    return { worker: this.#worker, ...this.#early };
  }

  /** Ends the thread unless a run took it. */
  discard(): void {
    if (!this.#taken) void this.#worker.terminate();
  }
}
