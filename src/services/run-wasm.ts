/**
 * The branch of `ebpm run` for packages with a Wasm module: the guest is the package's user
 * space, so it gets the arguments after `--` and prints what it likes; the runtime
 * (src/runtime) loads only the BPF objects the package declares.
 */
import { withContext } from '../core/errors.js';
import { runWasm, type WasmRunResult } from '../runtime/run.js';
import type { ResolvedPackage } from './run-source.js';
import { checkMachine, machineFacts, type MachineFacts } from './run.js';

export interface WasmPackageOptions {
  readonly package: ResolvedPackage & { readonly wasm: Uint8Array };
  /** The guest's argv after argv[0] (the package name). */
  readonly args: readonly string[];
  readonly durationMs?: number;
  readonly signal?: AbortSignal;
  readonly onStdout: (line: string) => void;
  readonly onStderr: (line: string) => void;
  readonly onLog?: (line: string) => void;
  readonly machine?: MachineFacts;
}

/** `runWasmPackage` checks the machine as for BPF packages, then runs the guest to its end. */
export async function runWasmPackage(o: WasmPackageOptions): Promise<WasmRunResult> {
  const { metadata } = o.package;
  try {
    checkMachine(metadata, o.machine ?? machineFacts());
    return await runWasm({
      module: o.package.wasm,
      name: metadata.name,
      args: o.args,
      objects: { declared: metadata.objects.map((x) => x.digest) },
      ...(o.durationMs === undefined ? {} : { durationMs: o.durationMs }),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      onStdout: o.onStdout,
      onStderr: o.onStderr,
      ...(o.onLog === undefined ? {} : { onLog: o.onLog }),
    });
  } catch (e) {
    throw withContext(`run ${metadata.name}`, e);
  }
}
