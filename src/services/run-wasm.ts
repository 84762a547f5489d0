/**
 * The branch of `ebpm run` for packages with a Wasm module: the guest is the package's user
 * space, so it gets the arguments after `--` and prints what it likes; the runtime
 * (src/runtime) loads only the BPF objects the package declares, unless `--allow-undeclared-bpf`.
 * `--follow` swaps in a newer version's guest over the running objects (runtime `swap`).
 */
import { EbpmError, withContext } from '../core/errors.js';
import type { BtfCache } from '../kernel/btf-cache.js';
import { loadNative } from '../kernel/native.js';
import { WASI } from '../runtime/abi.js';
import { GuestWorker } from '../runtime/guest-worker.js';
import { startWasm, type Preopen, type RunWasmOptions, type WasmRunResult } from '../runtime/run.js';
import { failedUpdate, followChecks, type Follow, type UpdateEvent } from './follow-loop.js';
import type { ResolvedPackage } from './run-source.js';
import { checkMachine, kernelBtfFile, machineFacts, type KernelBtfFile, type KernelBtfSource, type MachineFacts } from './machine.js';

type WasmPackage = ResolvedPackage & { readonly wasm: Uint8Array };

export interface WasmPackageOptions {
  readonly package: WasmPackage;
  /** The guest's argv after argv[0] (the package name). */
  readonly args: readonly string[];
  /** The guest's whole environment (`--env`); none by default. */
  readonly env?: Readonly<Record<string, string>>;
  /** Host directories it may open (`--dir`); none by default. */
  readonly preopens?: readonly Preopen[];
  /** `--max-memory`, bytes; default the runtime's DEFAULT_MAX_MEMORY (128 MiB). */
  readonly maxMemoryBytes?: number;
  /** `--allow-attach`: cgroup paths and interfaces it may attach to. */
  readonly allowAttach?: readonly string[];
  /** `--allow-undeclared-bpf`: load objects the package does not declare. */
  readonly allowUndeclared?: boolean;
  readonly durationMs?: number;
  /** `--max-events`: its first this many stdout lines, then it is stopped (`RunWasmOptions.maxLines`). */
  readonly maxLines?: number;
  readonly signal?: AbortSignal;
  readonly onStdout: (line: string) => void;
  readonly onStderr: (line: string) => void;
  /** Backpressure from stdout: the guest waits while it is full (`RunWasmOptions.outputReady`). */
  readonly outputReady?: () => Promise<void> | undefined;
  /** Host diagnostics; `refusal`: ebpm or the kernel refused what the guest asked. */
  readonly onLog?: (line: string, refusal: boolean) => void;
  readonly machine?: MachineFacts;
  /** `--btf`: the kernel BTF CO-RE relocates against, whatever the kernel and the package offer. */
  readonly btfFile?: string;
  /** Minimal kernel BTF per object, used when CO-RE relocates against the kernel's own BTF; filled at the run's end. */
  readonly btfCache?: BtfCache | undefined;
  /** `--follow`: newer versions' guests are swapped in with the same arguments. */
  readonly follow?: Follow<ResolvedPackage>;
  /** The guest's thread, started ahead (`ebpm run` starts it before it loads this module); default one started now. Ended unless the guest runs in it. */
  readonly worker?: GuestWorker;
  /**
   * Run the guest on the calling thread, not in a worker (`RunWasmOptions.inline`: sooner and
   * lighter, but the event loop waits for the guest's end). Not with `follow`.
   */
  readonly inline?: RunWasmOptions['inline'];
  /** Called once the machine passed the checks and the guest is starting. */
  readonly onStart?: () => void;
  /** `--follow`: what became of an update (a swap, or a refused or failed one). */
  readonly onUpdate?: (update: UpdateEvent) => void;
}

/**
 * `runWasmPackage` checks the machine as for BPF packages, unless the module imports nothing but
 * WASI (a plain command needs no BPF capability), then runs the guest to its end. With
 * `follow`, each newer version passes the same checks and its guest is swapped in; one that
 * fails them, or fails to start, is reported and the running guest goes on.
 */
export async function runWasmPackage(o: WasmPackageOptions): Promise<WasmRunResult> {
  const { metadata } = o.package;
  if (o.inline && o.follow) {
    o.worker?.discard();
    throw new EbpmError('USAGE', `run ${metadata.name}: a guest on the main thread cannot follow newer versions`, {
      hint: 'run it in a worker (leave out inline)',
    });
  }
  // The guest's thread starts while the machine is checked; nothing runs in it before they pass.
  const worker = o.inline ? o.worker : (o.worker ?? new GuestWorker());
  let btf: KernelBtfFile | undefined;
  let stopChecks: () => void = () => undefined;
  try {
    const machine = o.machine ?? machineFacts();
    btf = await kernelBtf(o, o.package, machine);
    const run = startWasm({ ...guest(o, o.package, btf.path), ...(worker === undefined ? {} : { worker }), ...(o.inline ? { inline: o.inline } : {}) });
    o.onStart?.();
    let current = o.package;
    const update = async (follow: Follow<ResolvedPackage>) => {
      const from = current.metadata.version;
      let next: ResolvedPackage | undefined;
      try {
        next = await follow.next(current);
      } catch (e) {
        return o.onUpdate?.(failedUpdate(from, undefined, e));
      }
      if (next === undefined) return;
      const to = next.metadata.version;
      let nextBtf: KernelBtfFile | undefined;
      try {
        if (next.wasm === undefined) {
          throw new EbpmError('USAGE', `${next.metadata.name} ${to} has no Wasm module`, { hint: 'restart the run to change to a package without one' });
        }
        const wasm = next as WasmPackage;
        nextBtf = await kernelBtf(o, wasm, machine);
        const { kept } = await run.swap(guest(o, wasm, nextBtf.path));
        [btf, nextBtf] = [nextBtf, btf];
        current = wasm;
        o.onUpdate?.({ from, to, how: kept ? 'swapped' : 'replaced' });
      } catch (e) {
        o.onUpdate?.(failedUpdate(from, to, e));
      } finally {
        await nextBtf?.remove();
      }
    };
    const follow = o.follow;
    // A check that throws is a bug of ebpm's: it is said, and the guest goes on.
    if (follow)
      stopChecks = followChecks(
        follow,
        () => update(follow),
        (e) => o.onLog?.(`--follow: ${(e as Error)?.message ?? String(e)}`, false),
      );
    return await run.result;
  } catch (e) {
    throw withContext(`run ${metadata.name}`, e);
  } finally {
    worker?.discard();
    stopChecks();
    await btf?.remove();
    // Once the guest has ended and its output is out: a miss costs this run nothing on its way.
    o.btfCache?.fill();
  }
}

/** The kernel BTF `pkg`'s objects relocate against, once the machine passed `pkg`'s checks. */
function kernelBtf(o: WasmPackageOptions, pkg: WasmPackage, machine: MachineFacts): Promise<KernelBtfFile> {
  const { metadata } = pkg;
  const usesBpf = metadata.objects.length > 0 || (metadata.wasm?.imports ?? []).some((i) => i.module !== WASI);
  const source: KernelBtfSource = usesBpf ? checkMachine(metadata, machine, o.btfFile) : { kind: 'kernel' };
  // The guest's objects need the addon: without it (an install that could not build it) ebpm
  // refuses here, as for a BPF-only package, rather than the guest failing in its own words.
  if (usesBpf) loadNative();
  return kernelBtfFile(source, pkg.btf ?? new Map());
}

/** The guest of `pkg`; the objects it loads relocate against `btfPath` when given. */
function guest(o: WasmPackageOptions, pkg: WasmPackage, btfPath: string | undefined): RunWasmOptions {
  const { metadata } = pkg;
  return {
    module: pkg.wasm,
    name: metadata.name,
    args: o.args,
    env: o.env ?? {},
    preopens: o.preopens ?? [],
    ...(o.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: o.maxMemoryBytes }),
    allowAttach: o.allowAttach ?? [],
    objects: o.allowUndeclared ? 'any' : { declared: metadata.objects.map((x) => x.digest) },
    ...(btfPath === undefined ? {} : { btfPath }),
    ...(o.btfCache === undefined ? {} : { btfCache: o.btfCache }),
    ...(o.durationMs === undefined ? {} : { durationMs: o.durationMs }),
    ...(o.maxLines === undefined ? {} : { maxLines: o.maxLines }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    onStdout: o.onStdout,
    onStderr: o.onStderr,
    ...(o.outputReady === undefined ? {} : { outputReady: o.outputReady }),
    ...(o.onLog === undefined ? {} : { onLog: o.onLog }),
  };
}
