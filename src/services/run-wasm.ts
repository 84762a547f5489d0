/**
 * The branch of `ebpm run` for packages with a Wasm module: the guest is the package's user
 * space, so it gets the arguments after `--` and prints what it likes; the runtime
 * (src/runtime) loads only the BPF objects the package declares, unless `--allow-undeclared-bpf`.
 */
import { withContext } from '../core/errors.js';
import { WASI } from '../runtime/abi.js';
import { runWasm, type Preopen, type WasmRunResult } from '../runtime/run.js';
import type { ResolvedPackage } from './run-source.js';
import { checkMachine, kernelBtfFile, machineFacts, type KernelBtfSource, type MachineFacts } from './machine.js';

export interface WasmPackageOptions {
  readonly package: ResolvedPackage & { readonly wasm: Uint8Array };
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
}

/**
 * `runWasmPackage` checks the machine as for BPF packages, unless the module imports nothing but
 * WASI (a plain command needs no BPF capability), then runs the guest to its end.
 */
export async function runWasmPackage(o: WasmPackageOptions): Promise<WasmRunResult> {
  const { metadata } = o.package;
  try {
    const usesBpf = metadata.objects.length > 0 || (metadata.wasm?.imports ?? []).some((i) => i.module !== WASI);
    const source: KernelBtfSource = usesBpf ? checkMachine(metadata, o.machine ?? machineFacts(), o.btfFile) : { kind: 'kernel' };
    const btf = await kernelBtfFile(source, o.package.btf ?? new Map());
    try {
      return await guest(o, btf.path);
    } finally {
      await btf.remove();
    }
  } catch (e) {
    throw withContext(`run ${metadata.name}`, e);
  }
}

/** Runs the guest; the objects it loads relocate against `btfPath` when given. */
function guest(o: WasmPackageOptions, btfPath: string | undefined): Promise<WasmRunResult> {
  const { metadata } = o.package;
  return runWasm({
    module: o.package.wasm,
    name: metadata.name,
    args: o.args,
    env: o.env ?? {},
    preopens: o.preopens ?? [],
    ...(o.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: o.maxMemoryBytes }),
    allowAttach: o.allowAttach ?? [],
    objects: o.allowUndeclared ? 'any' : { declared: metadata.objects.map((x) => x.digest) },
    ...(btfPath === undefined ? {} : { btfPath }),
    ...(o.durationMs === undefined ? {} : { durationMs: o.durationMs }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    onStdout: o.onStdout,
    onStderr: o.onStderr,
    ...(o.outputReady === undefined ? {} : { outputReady: o.outputReady }),
    ...(o.onLog === undefined ? {} : { onLog: o.onLog }),
  });
}
