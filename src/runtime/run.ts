/**
 * `runWasm` runs a WASI preview1 command module with the wasm-bpf host in a worker thread, so
 * the CLI's main thread stays free for rendering and signals while the guest blocks in a poll.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EbpmError } from '../core/errors.js';
import { parseWasm } from '../wasm/module.js';
import { checkGuestModule } from './abi.js';
import type { ObjectPolicy } from './admission.js';
import { systemDir } from './jail.js';
import { DEFAULT_MAX_MEMORY, WASM_PAGE, limitMemory } from './memory-limit.js';
import { OutputReader, createOutputRing } from './output.js';
import type { WorkerInput, WorkerMessage } from './protocol.js';
import { workerSource } from './worker-entry.js';

/** A host directory made visible to the guest (`--dir host[:guest]`). */
export interface Preopen {
  readonly host: string;
  /** Path the guest opens it by; defaults to `host`. */
  readonly guest?: string;
  /** `--allow-system-dir`: it may be `/` or lie under /proc, /sys or /dev (`systemDir`). */
  readonly allowSystem?: boolean;
}

export interface RunWasmOptions {
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
  /** `--duration`: stop the guest after this long. */
  readonly durationMs?: number;
  /** `--allow-attach`: attach targets (cgroup paths, interfaces) the guest may name. */
  readonly allowAttach?: readonly string[];
  /** Digests the package declares, or 'any' for `--allow-undeclared-bpf` / a bare module. */
  readonly objects: ObjectPolicy;
  /** BTF of this kernel for CO-RE (libbpf's `btf_custom_path`); default the kernel's own. */
  readonly btfPath?: string;
  /** Aborting stops the guest (SIGINT/SIGTERM); `signal.reason === 'SIGTERM'` gives exit code 143. */
  readonly signal?: AbortSignal;
  readonly onStdout: (line: string) => void;
  readonly onStderr: (line: string) => void;
  /** Backpressure from where the lines go (`OutputReaderOptions.ready`): the guest waits while it is full. */
  readonly outputReady?: () => Promise<void> | undefined;
  /** Host diagnostics: refused loads, bad pointers, dropped events; `refusal` as `HostOptions.log` says. */
  readonly onLog?: (line: string, refusal: boolean) => void;
  /** How long a stopped guest gets to unwind before its thread is terminated. */
  readonly stopGraceMs?: number;
}

export interface WasmRunResult {
  /** The guest's exit code; 0 after `--duration`, 130/143 after SIGINT/SIGTERM. */
  readonly exitCode: number;
  readonly reason: 'exit' | 'duration' | 'signal';
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
 * Runs the guest to completion. Resolves with its exit code, or after `durationMs` or an abort
 * with reason `duration`/`signal`; every BPF object the guest opened is closed by then.
 * Rejects with an EbpmError for a module that cannot run (WASM_INVALID, WASM_MISSING_EXPORT,
 * WASM_UNSUPPORTED_IMPORT, WASM_BAD_SIGNATURE, WASM_BAD_PREOPEN; USAGE for a `--dir` of a system
 * directory without `allowSystem`), a trap (WASM_TRAP), a bad
 * poll callback (WASM_BAD_CALLBACK) or a guest that outgrew `--max-memory` (WASM_MEMORY_LIMIT).
 */
export async function runWasm(o: RunWasmOptions): Promise<WasmRunResult> {
  const where = `wasm guest ${o.name}`;
  const maxMemoryBytes = o.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
  if (!Number.isSafeInteger(maxMemoryBytes) || maxMemoryBytes < WASM_PAGE || maxMemoryBytes > 4 * 1024 ** 3) {
    throw new EbpmError('USAGE', `${where}: --max-memory ${maxMemoryBytes}: must be between 64K and 4G`, { hint: 'pass e.g. --max-memory 64M' });
  }
  const mod = parseWasm(o.module);
  const { usesBpf } = checkGuestModule(mod, where);
  const stop = new SharedArrayBuffer(4);
  const output = createOutputRing();
  const input: WorkerInput = {
    module: limitMemory(o.module, maxMemoryBytes, where),
    name: o.name,
    args: [o.name, ...(o.args ?? [])],
    env: { ...o.env },
    preopens: preopenMap(o.preopens ?? [], where),
    maxMemoryBytes,
    allowAttach: [...(o.allowAttach ?? [])],
    objects: o.objects,
    ...(o.btfPath === undefined ? {} : { btfPath: o.btfPath }),
    usesBpf,
    stop,
    output,
  };
  if (o.signal?.aborted) return { exitCode: signalExit(o.signal), reason: 'signal' };
  const src = workerSource();
  // node:wasi's ExperimentalWarning is not for ebpm's users.
  const worker = new Worker(src.source, { eval: src.eval, workerData: input, execArgv: ['--no-warnings'] });
  const lines = new OutputReader(output, { onStdout: o.onStdout, onStderr: o.onStderr, ...(o.outputReady ? { ready: o.outputReady } : {}) });
  lines.follow();
  return new Promise<WasmRunResult>((resolve, reject) => {
    let stopped: WasmRunResult | undefined;
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      clearTimeout(durationTimer);
      clearTimeout(graceTimer);
      o.signal?.removeEventListener('abort', onAbort);
      // Whatever the guest wrote before it ended (or was terminated) is in the ring.
      lines.close();
      f();
    };
    const requestStop = (result: WasmRunResult) => {
      if (stopped || settled) return;
      stopped = result;
      const flag = new Int32Array(stop);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      // A guest spinning without host calls never sees the flag: end its thread.
      graceTimer = setTimeout(() => void worker.terminate(), o.stopGraceMs ?? 1000);
    };
    const onAbort = () => requestStop({ exitCode: signalExit(o.signal!), reason: 'signal' });
    o.signal?.addEventListener('abort', onAbort);
    const durationTimer = o.durationMs === undefined ? undefined : setTimeout(() => requestStop({ exitCode: 0, reason: 'duration' }), o.durationMs);
    worker.on('message', (m: WorkerMessage) => {
      // Output written before this message comes first; before a log line only while stdout takes more.
      if (m.t === 'log') lines.drainIfReady();
      else lines.drain();
      switch (m.t) {
        case 'log':
          return o.onLog?.(m.line, m.refusal === true);
        case 'exit':
          return finish(() => resolve(stopped ?? { exitCode: m.code, reason: 'exit' }));
        case 'stopped':
          return finish(() => resolve(stopped ?? { exitCode: 0, reason: 'duration' }));
        case 'error':
          return finish(() => (stopped ? resolve(stopped) : reject(new EbpmError(m.error.code, m.error.message, m.error.hint ? { hint: m.error.hint } : {}))));
      }
    });
    worker.on('error', (e) => finish(() => reject(new EbpmError('INTERNAL', `${where}: worker failed: ${e.message}`, { cause: e }))));
    worker.on('exit', () => finish(() => (stopped ? resolve(stopped) : reject(new EbpmError('INTERNAL', `${where}: worker ended without a result`)))));
  });
}

function signalExit(signal: AbortSignal): number {
  return signal.reason === 'SIGTERM' ? 143 : 130;
}
