/**
 * The guest's worker thread: started before its guest is known, it waits for the guest
 * (`GuestInput`, posted once the run's checks passed), instantiates the module with WASI and the wasm-bpf host, runs
 * `_start`, writes the guest's output to the shared ring (`OutputWriter`) and reports the
 * outcome to `runWasm`. Host imports block this thread (a buffer poll waits for records),
 * never the CLI's main thread. The BPF objects are the broker's, on the main thread: whatever
 * way the guest ends, it lets go of them here (giving back the records it did not deliver),
 * and if the thread is terminated instead, `runWasm` does.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { EbpmError, isEbpmError } from '../core/errors.js';
import { phase, tracePhasesIn } from '../core/phases.js';
import { ObjectAdmission } from './admission.js';
import type { BpfBackend } from './backend.js';
import { brokerBackend } from './broker-backend.js';
import { GuestMemory } from './guest-memory.js';
import { GuestStop, unwindForStop, WasmBpfHost } from './host.js';
import { refusedGrow } from './memory-limit.js';
import { OutputWriter } from './output.js';
import { blockingOn, GuestAt, type GuestInput, markEnding, type WorkerError, type WorkerMessage, stopRequested } from './protocol.js';
import { GuestWasi } from './wasi.js';

const post = (m: WorkerMessage) => parentPort!.postMessage(m);

/** `refused`: a grow the memory limit refused earlier (`refusedGrow`), which a trap or a failed exit is then put down to. */
function describe(input: GuestInput, e: unknown, refused: number | undefined): WorkerError {
  const where = `wasm guest ${input.name}`;
  if (refused !== undefined && (e instanceof WebAssembly.RuntimeError || typeof e === 'number')) {
    return {
      code: 'WASM_MEMORY_LIMIT',
      message: `${where}: exceeded the memory limit of ${input.maxMemoryBytes} bytes${typeof e === 'number' ? ` (exit code ${e})` : ` (${e.message})`}`,
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

function main(input: GuestInput): void {
  const stop = new Int32Array(input.stop);
  const block = blockingOn(stop);
  const backend: (() => BpfBackend) | undefined = input.usesBpf ? () => brokerBackend(input.broker, input.brokerBell, block) : undefined;
  let idle = false;
  const waiting = () => {
    if (idle) return;
    idle = true;
    post({ t: 'waiting' });
  };
  let instance: WebAssembly.Instance | undefined;
  const memory = () => {
    const m = instance?.exports.memory;
    if (!(m instanceof WebAssembly.Memory)) throw new EbpmError('WASM_MISSING_EXPORT', 'the module does not export memory "memory"');
    return m;
  };
  const host = new WasmBpfHost({
    backend: () => {
      if (!backend) throw new EbpmError('INTERNAL', 'wasm-bpf backend requested by a guest that imports none');
      return backend();
    },
    admission: new ObjectAdmission(input.declared, input.objects),
    allowAttach: input.allowAttach,
    objectName: input.name,
    log: (line, refusal) => post({ t: 'log', line, ...(refusal ? { refusal } : {}) }),
    stopped: () => {
      const asked = stopRequested(stop);
      // The host unwinds the guest when asked to end.
      if (asked === 'end') markEnding(stop);
      return asked;
    },
    waiting,
    ...(input.callbackProbe === undefined ? {} : { callbackProbe: input.callbackProbe }),
  });
  const wasi = new GuestWasi({
    args: input.args,
    env: input.env,
    preopens: input.preopens,
    memory: new GuestMemory(memory),
    // A guest waiting for room in a ring nobody drains (stdout not read) still stops on request,
    // unless it is to deliver what it has first.
    output: new OutputWriter(input.output, (wait) => {
      const asked = stopRequested(stop);
      if (asked !== undefined && asked !== 'drain') unwindForStop(stop);
      block(wait);
    }),
    stop,
    block,
    waiting,
  });
  let outcome: WorkerMessage;
  try {
    // Synchronously: the module is compiled, and the promise of WebAssembly.instantiate settles
    // only once this thread's event loop turns, which the guest's start need not wait for.
    instance = new WebAssembly.Instance(input.module, { ...host.imports(), wasi_snapshot_preview1: wasi.imports() });
    host.bind(instance);
    phase('instance');
    const code = wasi.start(instance);
    const refused = refusedGrow(instance);
    outcome = code !== 0 && refused !== undefined ? { t: 'error', error: describe(input, code, refused) } : { t: 'exit', code };
  } catch (e) {
    outcome = e instanceof GuestStop ? { t: 'stopped' } : { t: 'error', error: describe(input, e, refusedGrow(instance)) };
  }
  // No code of the guest's runs from here: a stop's grace waits for what follows.
  Atomics.store(stop, 1, GuestAt.RETURNED);
  try {
    host.close();
  } catch (e) {
    post({ t: 'log', line: `close BPF objects: ${(e as Error)?.message ?? String(e)}` });
  }
  wasi.close();
  post(outcome);
}

// `ebpm run` traces its start-up (EBPM_TRACE_STARTUP): this thread's steps too, on its clock (`GuestWorker`).
const origin = (workerData as { phaseOrigin?: number } | null)?.phaseOrigin;
if (origin !== undefined) tracePhasesIn(origin, (name, ms) => post({ t: 'phase', name, ms }));
phase('runtime');
const run = (input: GuestInput) => {
  phase('input');
  try {
    main(input);
  } catch (e) {
    post({ t: 'error', error: describe(input, e, undefined) });
  }
};
// The guest was most likely posted while this thread started: taken now, it need not wait for the event loop's first turn.
const posted = receiveMessageOnPort(parentPort!);
if (posted === undefined) parentPort!.once('message', run);
else run(posted.message as GuestInput);
