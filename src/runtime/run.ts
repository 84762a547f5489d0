/**
 * `runWasm` runs a WASI preview1 command module with the wasm-bpf host in a worker thread, so
 * the main thread stays free for timers, swaps and output while the guest blocks in a poll; or,
 * when none of that is needed, on the main thread (`inline`), which starts sooner and lighter.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { EbpmError } from '../core/errors.js';
import type { BtfCache } from '../kernel/btf-cache.js';
import { parseWasm } from '../wasm/module.js';
import { callbackProbe, checkGuestModule } from './abi.js';
import { declaredObjects, type ObjectPolicy } from './admission.js';
import { systemDir } from './jail.js';
import { DEFAULT_MAX_MEMORY, WASM_PAGE } from './memory-defaults.js';
import { limitMemory } from './memory-limit.js';
import { OutputReader, createOutputRing } from './output.js';
import { GuestAt, type GuestInput, STOP_FLAG_BYTES, type StopHow, StopRequest, type WorkerMessage } from './protocol.js';
import { ObjectBroker, type Tenant } from './broker.js';
import { GuestWorker } from './guest-worker.js';
import type { GuestOutcome } from './guest-run.js';
import { DEADLINE_SIGNAL, type InlineOutput, runInline } from './inline.js';

/** A host directory made visible to the guest (`--dir host[:guest]`). */
export interface Preopen {
  readonly host: string;
  /** Path the guest opens it by; defaults to `host`. */
  readonly guest?: string;
  /** `--allow-system-dir`: it may be `/` or lie under /proc, /sys or /dev (`systemDir`). */
  readonly allowSystem?: boolean;
}

/** One guest: its module and what it is given. */
export interface GuestOptions {
  readonly module: Uint8Array;
  /** Package name: argv[0] and the name of loaded BPF objects. */
  readonly name: string;
  /** Package args: argv[1..]. */
  readonly args?: readonly string[];
  /** Environment of the guest: only what `--env` passes (nothing by default). */
  readonly env?: Readonly<Record<string, string>>;
  readonly preopens?: readonly Preopen[];
  /** `--max-memory`, bytes; default DEFAULT_MAX_MEMORY (128 MiB). */
  readonly maxMemoryBytes?: number;
  /** `--allow-attach`: attach targets (cgroup paths, interfaces) the guest may name. */
  readonly allowAttach?: readonly string[];
  /** Digests the package declares, or 'any' for `--allow-undeclared-bpf` / a bare module. */
  readonly objects: ObjectPolicy;
  /** BTF of this kernel for CO-RE (libbpf's `btf_custom_path`); default the kernel's own. */
  readonly btfPath?: string;
  /** The thread to run it in, started ahead (`GuestWorker`); default one started now. */
  readonly worker?: GuestWorker;
}

export interface RunWasmOptions extends GuestOptions {
  /** Minimal kernel BTF per object, for guests whose CO-RE uses the kernel's own; the caller fills it. */
  readonly btfCache?: BtfCache | undefined;
  /** `--duration`: stop the guest after this long. */
  readonly durationMs?: number;
  /**
   * `--max-events` of a Wasm program: pass on its first this many stdout lines, then stop it as
   * `durationMs` does (exit code 0); stdout lines after them, its exit path's included, are not passed on.
   */
  readonly maxLines?: number;
  /** Aborting stops the guest (SIGINT/SIGTERM); `signal.reason === 'SIGTERM'` gives exit code 143. */
  readonly signal?: AbortSignal;
  readonly onStdout: (line: string) => void;
  readonly onStderr: (line: string) => void;
  /** Backpressure from where the lines go (`OutputReaderOptions.ready`): the guest waits while it is full. */
  readonly outputReady?: () => Promise<void> | undefined;
  /** Host diagnostics: refused loads, bad pointers, dropped events; `refusal` as `HostOptions.log` says. */
  readonly onLog?: (line: string, refusal: boolean) => void;
  /** How long a stopped guest's own code may run on before its thread is terminated. */
  readonly stopGraceMs?: number;
  /**
   * Run the guest on this thread, not in a worker (inline.ts): it starts about 35 ms sooner with
   * 10 MB less, but the event loop does not turn until it ends. Its lines go to `onStdout` and
   * `onStderr`, which must write synchronously or hold them until `flush` (`InlineOutput`);
   * `outputReady` is not asked. The addon takes SIGINT and SIGTERM while it runs (exit codes
   * 130 and 143); a second one ends the process. `durationMs` stops it as a first signal does,
   * from the addon's timer. A guest still running `stopGraceMs` after a stop is unwound at its
   * next write or wait; one that makes neither is ended by the signal's default action (SIGALRM's
   * after `durationMs`) five seconds later. `swap` is refused.
   */
  readonly inline?: Pick<InlineOutput, 'flush'>;
}

export interface WasmRunResult {
  /** The guest's exit code; 0 after `--duration` or `--max-events`, 130/143 after SIGINT/SIGTERM. */
  readonly exitCode: number;
  readonly reason: 'exit' | 'duration' | 'max-events' | 'signal';
}

/** A running guest, and how to replace it with another without detaching its programs. */
export interface WasmRun {
  /** Settles as `runWasm` does, when the guest running then ends. */
  readonly result: Promise<WasmRunResult>;
  /**
   * `swap` starts `next` in a fresh worker beside the running guest. Its loads of the same
   * object bytes and its attaches of the same programs take over the running ones. Once it
   * first waits (a buffer poll or a sleep: it is set up), what `next` did not take over is
   * detached, and the running guest is stopped: where it waits, the records it did not deliver
   * going to `next`, when `next` took over everything; else once it has delivered what the
   * buffers of its own objects hold, which are then closed. Resolves then, `kept` telling
   * whether every object and link was taken over. Rejects, the running guest untouched, when
   * `next` fails or ends before it waits.
   */
  swap(next: GuestOptions): Promise<{ readonly kept: boolean }>;
}

function preopenMap(preopens: readonly Preopen[], where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of preopens) {
    const guest = p.guest ?? p.host;
    const flag = `--dir ${p.host}${p.guest && p.guest !== p.host ? `:${p.guest}` : ''}`;
    let dir = false;
    try {
      dir = statSync(p.host).isDirectory();
    } catch {
      // reported below
    }
    if (!dir || !isAbsolute(guest)) {
      throw new EbpmError('WASM_BAD_PREOPEN', `${where}: ${flag}: ${dir ? 'guest path must be absolute' : 'not a directory'}`, {
        hint: 'pass --dir <existing host directory>[:<absolute guest path>]',
      });
    }
    // The jail keeps the guest beneath the directory; beneath these, that is no protection.
    const exposes = systemDir(realpathSync(p.host));
    if (exposes !== undefined && !p.allowSystem) {
      throw new EbpmError('USAGE', `${where}: ${flag}: would show the program ${exposes}`, {
        hint: 'pass a directory of its own, or add --allow-system-dir to grant exactly that',
      });
    }
    out[guest] = resolve(p.host);
  }
  return out;
}

/**
 * How long a stopped guest may stay in ebpm's hands (waiting, or being unwound) before its thread
 * is ended all the same: a guest that catches the stop's exception must not run on for ever.
 */
const MAX_UNWIND_MS = 10_000;

/** How a guest's worker ended. */
type GuestEnd = { readonly kind: 'exit'; readonly code: number } | { readonly kind: 'stopped' } | { readonly kind: 'error'; readonly error: EbpmError };

interface Guest {
  readonly tenant: Tenant;
  /** Settles once the worker is gone and the broker has taken back what it held. */
  readonly ended: Promise<GuestEnd>;
  /** Resolves when the guest first waits. */
  readonly waiting: Promise<void>;
  /**
   * `interrupt`: its blocking calls return EINTR so its exit path runs (the run's end); `end`: it
   * ends where it waits (a swap that keeps its objects); `drain`: it delivers what its objects'
   * buffers hold, then ends (a swap that replaces them). Its thread is ended if its own code
   * still runs after `stopGraceMs` (a draining one's, after `MAX_UNWIND_MS`).
   */
  stop(how: StopHow): void;
}

interface Prepared {
  readonly input: Omit<GuestInput, 'module' | 'broker' | 'brokerBell' | 'stop' | 'output'>;
  /** The checked module compiling (on V8's background threads) while the worker starts. */
  readonly module: Promise<WebAssembly.Module>;
  readonly btfPath: string | undefined;
  readonly worker: GuestWorker | undefined;
}

/** Checks a guest's options (memory limit, module, preopens) into its worker's input: the module parsed once. A guest that fails them ends its worker. */
function prepare(o: GuestOptions): Prepared {
  try {
    return check(o);
  } catch (e) {
    o.worker?.discard();
    throw e;
  }
}

function check(o: GuestOptions): Prepared {
  const where = `wasm guest ${o.name}`;
  const maxMemoryBytes = o.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
  if (!Number.isSafeInteger(maxMemoryBytes) || maxMemoryBytes < WASM_PAGE || maxMemoryBytes > 4 * 1024 ** 3) {
    throw new EbpmError('USAGE', `${where}: --max-memory ${maxMemoryBytes}: must be between 64K and 4G`, { hint: 'pass e.g. --max-memory 64M' });
  }
  const parsed = parseWasm(o.module);
  const { usesBpf } = checkGuestModule(parsed, where);
  const input = {
    name: o.name,
    args: [o.name, ...(o.args ?? [])],
    env: { ...o.env },
    preopens: preopenMap(o.preopens ?? [], where),
    maxMemoryBytes,
    allowAttach: [...(o.allowAttach ?? [])],
    objects: o.objects,
    declared: declaredObjects(parsed, o.objects),
    usesBpf,
    ...(usesBpf ? { callbackProbe: callbackProbe() } : {}),
  };
  const module = WebAssembly.compile(limitMemory(o.module, parsed, maxMemoryBytes, where)).catch((e: unknown) => {
    throw e instanceof WebAssembly.CompileError ? new EbpmError('WASM_INVALID', `${where}: ${e.message}`) : e;
  });
  // Settled by the guest's start; a failure is reported there.
  module.catch(() => undefined);
  return { input, module, btfPath: o.btfPath, worker: o.worker };
}

/**
 * Starts a guest in its worker; `predecessor`: the guest whose objects it may take over, whose
 * lines all come before this one's.
 */
function startGuest(p: Prepared, broker: ObjectBroker, run: RunWasmOptions, predecessor?: Guest): Guest {
  const where = `wasm guest ${p.input.name}`;
  const tenant = broker.tenant(p.btfPath, predecessor?.tenant);
  const stop = new SharedArrayBuffer(STOP_FLAG_BYTES);
  const output = createOutputRing();
  const { worker, error: early, exited } = (p.worker ?? new GuestWorker()).take();
  const lines = new OutputReader(output, { onStdout: run.onStdout, onStderr: run.onStderr, ...(run.outputReady ? { ready: run.outputReady } : {}) });
  let end: GuestEnd | undefined;
  // A successor's lines wait in its ring until its predecessor's reader has passed on the last of
  // theirs (the predecessor's end): each reader drains on its own schedule, so a successor's
  // first records, handed over from the predecessor, could otherwise be printed before the
  // predecessor's last lines. One that ends first passes on its lines as it ends.
  let following = false;
  const follow = () => {
    if (end !== undefined) return;
    following = true;
    lines.follow();
  };
  if (predecessor === undefined) follow();
  else void predecessor.ended.then(follow);
  let stopping = false;
  let posted = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let onWaiting: () => void = () => undefined;
  const waiting = new Promise<void>((resolve) => (onWaiting = resolve));
  const ended = new Promise<GuestEnd>((resolve) => {
    // Once the worker is gone, nothing can use a map fd the broker closes.
    const finish = (e: GuestEnd) => {
      if (end !== undefined) return;
      end = e;
      clearTimeout(graceTimer);
      void worker.terminate().then(() => {
        tenant.release();
        broker.dropPreloaded();
        // Whatever the guest wrote before it ended (or was terminated) is in the ring.
        lines.close();
        resolve(e);
      });
    };
    worker.on('message', (m: WorkerMessage) => {
      // Output written before this message comes first (before a log line only while stdout takes
      // more), unless the guest's lines still wait for its predecessor's.
      if (following && m.t === 'log') lines.drainIfReady();
      else if (following) lines.drain();
      switch (m.t) {
        case 'log':
          return run.onLog?.(m.line, m.refusal === true);
        case 'waiting':
          broker.dropPreloaded();
          return onWaiting();
        case 'exit':
        case 'stopped':
        case 'error':
          return finish(endOf(m));
        case 'phase':
          // Recorded by its `GuestWorker`.
          return;
      }
    });
    const failed = (e: Error) => finish({ kind: 'error', error: new EbpmError('INTERNAL', `${where}: worker failed: ${e.message}`, { cause: e }) });
    const gone = () => finish(stopping ? { kind: 'stopped' } : { kind: 'error', error: new EbpmError('INTERNAL', `${where}: worker ended without a result`) });
    worker.on('error', failed);
    worker.on('exit', gone);
    if (early !== undefined) failed(early);
    else if (exited) gone();
    p.module.then(
      (module) => {
        // Stopped before it had its guest: it ends without running any of it.
        if (stopping || end !== undefined) return;
        posted = true;
        const input: GuestInput = { ...p.input, module, stop, output, broker: tenant.port, brokerBell: tenant.bell };
        worker.postMessage(input, [tenant.port]);
        // A successor takes its predecessor's objects instead; a guest given arguments most
        // likely configures its objects' .rodata with them, and would not take the preload.
        if (predecessor === undefined && p.input.usesBpf && p.input.args.length === 1) {
          broker.preload(
            p.input.declared.map((d) => d.bytes),
            p.input.name,
            p.btfPath,
          );
        }
      },
      (e: unknown) => finish(compileFailure(where)(e)),
    );
  });
  return {
    tenant,
    ended,
    waiting,
    stop(how) {
      // Already gone: nothing to ask, and no grace to watch.
      if (end !== undefined) return;
      const flag = new Int32Array(stop);
      // Once asked to end, nothing lets it run on; an interrupted or draining guest may still be ended.
      if (stopping && (how !== 'end' || Atomics.load(flag, 0) === StopRequest.end)) return;
      Atomics.store(flag, 0, StopRequest[how]);
      Atomics.notify(flag, 0);
      broker.wake(tenant);
      lines.wakeWriter();
      if (stopping) return;
      stopping = true;
      // A guest spinning without host calls never sees the flag: its thread is ended after the
      // grace, losing the records it holds. One in ebpm's hands at the time (waiting, unwinding or
      // handing its objects back) is not: however late a loaded machine runs it, it is about to
      // end, and with a swap its records go to the successor. Ending its thread would lose them.
      // Nor is one draining, whose own code runs to deliver them.
      const grace = posted ? (run.stopGraceMs ?? 1000) : 0;
      const since = performance.now();
      const expire = () => {
        const at = Atomics.load(flag, 1);
        const inEbpm = at === GuestAt.WAIT || at === GuestAt.ENDING || Atomics.load(flag, 0) === StopRequest.drain;
        if (at === GuestAt.RETURNED || (inEbpm && performance.now() - since < MAX_UNWIND_MS)) {
          graceTimer = setTimeout(expire, Math.max(grace, 1));
          return;
        }
        if (posted) run.onLog?.(`${where}: still running ${Math.round(performance.now() - since)} ms after it was asked to stop: its thread is ended`, false);
        void worker.terminate();
      };
      graceTimer = setTimeout(expire, grace);
    },
  };
}

/** Starts `p` on this thread once its module is compiled (`RunWasmOptions.inline`); `onSignal`: a signal the addon took for it. */
function startInline(
  p: Prepared,
  broker: ObjectBroker,
  run: RunWasmOptions,
  flush: InlineOutput['flush'],
  deadline: number | undefined,
  onSignal: (signal: number) => void,
): Guest {
  p.worker?.discard();
  const where = `wasm guest ${p.input.name}`;
  const tenant = broker.tenant(p.btfPath);
  const stop = new SharedArrayBuffer(STOP_FLAG_BYTES);
  const flag = new Int32Array(stop);
  const ended = p.module
    .then((module): GuestEnd => {
      // Stopped while its module compiled: none of it runs.
      if (Atomics.load(flag, 0) !== 0) return { kind: 'stopped' };
      // runGuest turns the guest's failures into its outcome: what is thrown here is ebpm's.
      const { outcome, signal } = runInline({
        setup: { ...p.input, module, stop },
        broker,
        tenant,
        output: { onStdout: run.onStdout, onStderr: run.onStderr, flush },
        log: (line, refusal) => run.onLog?.(line, refusal),
        graceMs: run.stopGraceMs ?? 1000,
        ...(deadline === undefined ? {} : { deadline }),
      });
      if (signal !== undefined) onSignal(signal);
      return endOf(outcome);
    })
    .catch(compileFailure(where))
    .finally(() => tenant.release());
  return {
    tenant,
    ended,
    waiting: ended.then(() => undefined),
    // The guest runs on this thread: a stop asked while it runs comes from its own output (--max-events, a closed stdout).
    stop: (how) => Atomics.store(flag, 0, StopRequest[how]),
  };
}

function endOf(o: GuestOutcome): GuestEnd {
  switch (o.t) {
    case 'exit':
      return { kind: 'exit', code: o.code };
    case 'stopped':
      return { kind: 'stopped' };
    case 'error':
      return { kind: 'error', error: new EbpmError(o.error.code, o.error.message, o.error.hint ? { hint: o.error.hint } : {}) };
  }
}

/** A module that failed to compile (or, on the main thread, a guest that could not be run), as its guest's end. */
function compileFailure(where: string): (e: unknown) => GuestEnd {
  return (e) => ({ kind: 'error', error: e instanceof EbpmError ? e : new EbpmError('INTERNAL', `${where}: ${String(e)}`, { cause: e }) });
}

/**
 * Runs the guest to completion. Resolves with its exit code, or after `durationMs` or an abort
 * with reason `duration`/`signal`; every BPF object the guest opened is closed by then.
 * Rejects with an EbpmError for a module that cannot run (WASM_INVALID, WASM_MISSING_EXPORT,
 * WASM_UNSUPPORTED_IMPORT, WASM_BAD_SIGNATURE, WASM_BAD_PREOPEN; USAGE for a `--dir` of a system
 * directory without `allowSystem`), a trap (WASM_TRAP), a bad
 * poll callback (WASM_BAD_CALLBACK) or a guest that outgrew `--max-memory` (WASM_MEMORY_LIMIT).
 */
export async function runWasm(o: RunWasmOptions): Promise<WasmRunResult> {
  return startWasm(o).result;
}

/** `startWasm` starts the guest as `runWasm` does, and returns it with a way to replace it (`--follow`). */
export function startWasm(given: RunWasmOptions): WasmRun {
  let printed = 0;
  const o: RunWasmOptions =
    given.maxLines === undefined
      ? given
      : {
          ...given,
          // Counted across swapped-in guests, as a BPF run counts its events across versions.
          onStdout: (line) => {
            if (printed >= given.maxLines!) return;
            given.onStdout(line);
            if (++printed === given.maxLines) requestStop({ exitCode: 0, reason: 'max-events' });
          },
        };
  const first = prepare(o);
  const broker = new ObjectBroker((line) => o.onLog?.(line, false), o.btfCache);
  let settle: (end: GuestEnd) => void = () => undefined;
  let stopped: WasmRunResult | undefined;
  let settled = false;
  let current: Guest | undefined;
  let next: Guest | undefined;
  /** The guest a swap replaced, until it has ended. */
  let retiring: Guest | undefined;
  const requestStop = (r: WasmRunResult) => {
    if (stopped || settled) return;
    stopped = r;
    current?.stop('interrupt');
    // A guest not yet taking over has printed nothing: it need not say goodbye; one draining
    // after a swap ends with the run, not after it.
    next?.stop('end');
    retiring?.stop('end');
  };
  const onAbort = () => requestStop({ exitCode: signalExit(o.signal!), reason: 'signal' });
  const byDuration = () => requestStop({ exitCode: 0, reason: 'duration' });
  // On the main thread the timer counts while its module compiles; the addon's, once it runs.
  const deadline = o.inline === undefined || o.durationMs === undefined ? undefined : performance.now() + o.durationMs;
  const durationTimer = o.durationMs === undefined ? undefined : setTimeout(byDuration, o.durationMs);
  /** The run ends with the guest running at the time; one swapped out ends as part of the swap. */
  const watch = (g: Guest) => void g.ended.then((end) => g === current && settle(end));
  const result = new Promise<WasmRunResult>((resolve, reject) => {
    settle = (end) => {
      settled = true;
      next?.stop('end');
      retiring?.stop('end');
      clearTimeout(durationTimer);
      o.signal?.removeEventListener('abort', onAbort);
      if (end.kind === 'exit') resolve(stopped ?? { exitCode: end.code, reason: 'exit' });
      else if (end.kind === 'stopped' || stopped) resolve(stopped ?? { exitCode: 0, reason: 'duration' });
      else reject(end.error);
    };
  });
  if (o.signal?.aborted) {
    first.worker?.discard();
    stopped = { exitCode: signalExit(o.signal), reason: 'signal' };
    settle({ kind: 'stopped' });
  } else {
    o.signal?.addEventListener('abort', onAbort);
    current = o.inline
      ? startInline(first, broker, o, o.inline.flush, deadline, (signal) =>
          signal === DEADLINE_SIGNAL ? byDuration() : requestStop({ exitCode: 128 + signal, reason: 'signal' }),
        )
      : startGuest(first, broker, o);
    watch(current);
    if (o.maxLines === 0) requestStop({ exitCode: 0, reason: 'max-events' });
    // The main thread waits for the worker to start anyway.
    if (first.input.usesBpf && !o.inline) broker.warm();
  }
  const swap = async (spec: GuestOptions): Promise<{ kept: boolean }> => {
    const where = `wasm guest ${spec.name}`;
    const old = current;
    const busy = next !== undefined || retiring !== undefined;
    if (settled || stopped || busy || old === undefined || o.inline) {
      spec.worker?.discard();
      const why = o.inline ? 'its guest runs on the main thread' : busy ? 'another swap is under way' : 'the run is ending';
      throw new EbpmError('USAGE', `${where}: cannot swap now: ${why}`);
    }
    const g = startGuest(prepare(spec), broker, o, old);
    next = g;
    const early = await Promise.race([g.waiting.then(() => undefined), g.ended]);
    next = undefined;
    if (early !== undefined || settled || stopped) {
      g.stop('end');
      const end = early ?? (await g.ended);
      if (end.kind === 'error') throw end.error;
      throw new EbpmError('WASM_SWAP_FAILED', `${where}: ${end.kind === 'exit' ? `exited with code ${end.code}` : 'was stopped'} before it was set up`, {
        hint: 'the new guest must reach its event loop (a buffer poll or a sleep) to take over',
      });
    }
    const kept = broker.handOver(old.tenant, g.tenant);
    current = g;
    watch(g);
    // Objects kept: the old guest's records go to the new one. Replaced: nobody else can deliver
    // the records of its objects, so it delivers them before it ends.
    retiring = old;
    old.stop(kept ? 'end' : 'drain');
    await old.ended;
    retiring = undefined;
    return { kept };
  };
  return { result, swap };
}

function signalExit(signal: AbortSignal): number {
  return signal.reason === 'SIGTERM' ? 143 : 130;
}
