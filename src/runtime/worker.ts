/**
 * The guest's worker thread: started before its guest is known, it waits for the guest
 * (`GuestInput`, posted once the run's checks passed), runs it (`runGuest`), writes the guest's
 * output to the shared ring (`OutputWriter`) and reports the outcome to `runWasm`. Host imports
 * block this thread (a buffer poll waits for records), never the CLI's main thread. The BPF
 * objects are the broker's, on the main thread: whatever way the guest ends, it lets go of them
 * here (giving back the records it did not deliver), and if the thread is terminated instead,
 * `runWasm` does.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { phase, tracePhasesIn } from '../core/phases.js';
import { portBackend } from './broker-backend.js';
import { describe, runGuest } from './guest-run.js';
import { unwindForStop } from './host.js';
import { OutputWriter } from './output.js';
import { blockingOn, type GuestInput, type WorkerMessage, stopRequested } from './protocol.js';

const post = (m: WorkerMessage) => parentPort!.postMessage(m);

function main(input: GuestInput): WorkerMessage {
  const stop = new Int32Array(input.stop);
  const block = blockingOn(stop);
  let idle = false;
  return runGuest(input, {
    backend: input.usesBpf ? () => portBackend(input.broker, input.brokerBell, block) : undefined,
    // A guest waiting for room in a ring nobody drains (stdout not read) still stops on request,
    // unless it is to deliver what it has first.
    output: new OutputWriter(input.output, (wait) => {
      const asked = stopRequested(stop);
      if (asked !== undefined && asked !== 'drain') unwindForStop(stop);
      block(wait);
    }),
    block,
    log: (line, refusal) => post({ t: 'log', line, ...(refusal ? { refusal } : {}) }),
    waiting: () => {
      if (idle) return;
      idle = true;
      post({ t: 'waiting' });
    },
  });
}

// `ebpm run` traces its start-up (EBPM_TRACE_STARTUP): this thread's steps too, on its clock (`GuestWorker`).
const origin = (workerData as { phaseOrigin?: number } | null)?.phaseOrigin;
if (origin !== undefined) tracePhasesIn(origin, (name, ms) => post({ t: 'phase', name, ms }));
phase('runtime');
const run = (input: GuestInput) => {
  phase('input');
  let outcome: WorkerMessage;
  try {
    outcome = main(input);
  } catch (e) {
    outcome = { t: 'error', error: describe(input.name, input.maxMemoryBytes, e, undefined) };
  }
  post(outcome);
};
// The guest was most likely posted while this thread started: taken now, it need not wait for the event loop's first turn.
const posted = receiveMessageOnPort(parentPort!);
if (posted === undefined) parentPort!.once('message', run);
else run(posted.message as GuestInput);
