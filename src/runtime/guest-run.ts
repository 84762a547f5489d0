/**
 * `runGuest` runs one checked guest to its end on the calling thread: it instantiates the
 * module with WASI and the wasm-bpf host, runs `_start` and closes what the guest left open.
 * A guest's worker thread (worker.ts) and a guest run on the main thread (inline.ts) differ only
 * in what they give it: where the BPF requests go, where the output goes, how a wait blocks.
 */
import { EbpmError, isEbpmError } from '../core/errors.js';
import { phase } from '../core/phases.js';
import { ObjectAdmission } from './admission.js';
import type { BpfBackend } from './backend.js';
import { GuestMemory } from './guest-memory.js';
import { GuestStop, WasmBpfHost } from './host.js';
import { refusedGrow } from './memory-limit.js';
import { type Blocking, GuestAt, type GuestInput, markEnding, stopRequested, type WorkerError } from './protocol.js';
import { type GuestOutput, GuestWasi } from './wasi.js';

/** The guest, checked: a worker's input without the worker's own channels. */
export type GuestSetup = Omit<GuestInput, 'broker' | 'brokerBell' | 'output'>;

/** What the thread gives the guest. */
export interface GuestPorts {
  /** The kernel side, made at the guest's first load; absent for a guest without wasm_bpf imports. */
  readonly backend: (() => BpfBackend) | undefined;
  readonly output: GuestOutput;
  /** Runs each of ebpm's waits (`blockingOn` the guest's stop flag). */
  readonly block: Blocking;
  /** Host diagnostics (`HostOptions.log`). */
  readonly log: (line: string, refusal?: boolean) => void;
  /** The guest waits for the first time (a buffer poll or a sleep): it is set up. */
  readonly waiting: () => void;
  /** `HostOptions.delivering`. */
  readonly delivering?: (on: boolean) => void;
}

/** How the guest ended: its exit code, a stop it was unwound for, or an error. */
export type GuestOutcome = { readonly t: 'exit'; readonly code: number } | { readonly t: 'stopped' } | { readonly t: 'error'; readonly error: WorkerError };

/** `refused`: a grow the memory limit refused earlier (`refusedGrow`), which a trap or a failed exit is then put down to. */
export function describe(name: string, maxMemoryBytes: number, e: unknown, refused: number | undefined): WorkerError {
  const where = `wasm guest ${name}`;
  if (refused !== undefined && (e instanceof WebAssembly.RuntimeError || typeof e === 'number')) {
    return {
      code: 'WASM_MEMORY_LIMIT',
      message: `${where}: exceeded the memory limit of ${maxMemoryBytes} bytes${typeof e === 'number' ? ` (exit code ${e})` : ` (${e.message})`}`,
      hint: `raise the limit with --max-memory: the guest asked for ${Math.ceil(refused / (1 << 20))}M`,
    };
  }
  if (e instanceof WebAssembly.RuntimeError)
    return { code: 'WASM_TRAP', message: `${where}: trap: ${e.message}`, hint: 'the guest crashed; rebuild it with -g to debug' };
  if (e instanceof RangeError && /call stack/.test(e.message)) return { code: 'WASM_TRAP', message: `${where}: trap: call stack exhausted` };
  if (e instanceof WebAssembly.LinkError || e instanceof WebAssembly.CompileError) return { code: 'WASM_INVALID', message: `${where}: ${e.message}` };
  if (isEbpmError(e)) return { code: e.code, message: `${where}: ${e.message}`, ...(e.hint ? { hint: e.hint } : {}) };
  return { code: 'INTERNAL', message: `${where}: ${(e as Error)?.stack ?? String(e)}` };
}

export function runGuest(input: GuestSetup, ports: GuestPorts): GuestOutcome {
  const stop = new Int32Array(input.stop);
  let instance: WebAssembly.Instance | undefined;
  const memory = () => {
    const m = instance?.exports.memory;
    if (!(m instanceof WebAssembly.Memory)) throw new EbpmError('WASM_MISSING_EXPORT', 'the module does not export memory "memory"');
    return m;
  };
  const host = new WasmBpfHost({
    backend: () => {
      if (!ports.backend) throw new EbpmError('INTERNAL', 'wasm-bpf backend requested by a guest that imports none');
      return ports.backend();
    },
    admission: new ObjectAdmission(input.declared, input.objects),
    allowAttach: input.allowAttach,
    objectName: input.name,
    log: ports.log,
    stopped: () => {
      const asked = stopRequested(stop);
      // The host unwinds the guest when asked to end.
      if (asked === 'end') markEnding(stop);
      return asked;
    },
    waiting: ports.waiting,
    ...(ports.delivering === undefined ? {} : { delivering: ports.delivering }),
    ...(input.callbackProbe === undefined ? {} : { callbackProbe: input.callbackProbe }),
  });
  let wasi: GuestWasi | undefined;
  let outcome: GuestOutcome;
  try {
    wasi = new GuestWasi({
      args: input.args,
      env: input.env,
      preopens: input.preopens,
      memory: new GuestMemory(memory),
      output: ports.output,
      stop,
      block: ports.block,
      waiting: ports.waiting,
    });
    // Synchronously: the module is compiled, and the promise of WebAssembly.instantiate settles
    // only once this thread's event loop turns, which the guest's start need not wait for.
    instance = new WebAssembly.Instance(input.module, { ...host.imports(), wasi_snapshot_preview1: wasi.imports() });
    host.bind(instance);
    phase('instance');
    const code = wasi.start(instance);
    const refused = refusedGrow(instance);
    outcome = code !== 0 && refused !== undefined ? { t: 'error', error: describe(input.name, input.maxMemoryBytes, code, refused) } : { t: 'exit', code };
  } catch (e) {
    outcome = e instanceof GuestStop ? { t: 'stopped' } : { t: 'error', error: describe(input.name, input.maxMemoryBytes, e, refusedGrow(instance)) };
  }
  // No code of the guest's runs from here: a stop's grace waits for what follows.
  Atomics.store(stop, 1, GuestAt.RETURNED);
  try {
    host.close();
  } catch (e) {
    ports.log(`close BPF objects: ${(e as Error)?.message ?? String(e)}`);
  }
  wasi?.close();
  return outcome;
}
