/**
 * `BpfBackend` is all the wasm-bpf host needs from the kernel side: open-and-load an ELF object,
 * attach its programs, operate on its maps and drain its ring/perf buffers, synchronously
 * (the host runs in a worker thread and answers the guest's imports from inside a Wasm call).
 *
 * The real implementation asks the run's object broker on the main thread (`broker-backend.ts`);
 * unit tests use a fake. Methods throw on failure; an error carrying `errno` (number) or an errno `code`
 * (`ENOENT`) is returned to the guest as that negative errno.
 */
import type { AttachTarget } from '../kernel/loader-targets.js';

export interface BpfBackend {
  /** `bpf_object__open_mem` + `bpf_object__load` (CO-RE relocations against the running kernel). */
  load(bytes: Uint8Array, name: string): BackendObject;
}

export interface BackendObject {
  /** Programs by function name, with their ELF section (`tracepoint/signal/signal_generate`). */
  readonly programs: ReadonlyMap<string, { readonly section: string }>;
  /** Maps by name; undefined when the object has none of that name. */
  map(name: string): BackendMap | undefined;
  /** Attaches a program, by its section when `target` is undefined (`bpf_program__attach`). */
  attach(program: string, target?: AttachTarget): { close(): void };
  /** Destroys links and closes the object; idempotent. */
  close(): void;
}

export type MapKind = 'ringbuf' | 'perf' | 'other';

export interface BackendMap {
  readonly kind: MapKind;
  /** Sizes from the kernel's map info; for per-CPU maps `valueSize` is the whole per-CPU array. */
  readonly keySize: number;
  readonly valueSize: number;
  /** The value, or undefined when the key is absent. */
  lookup(key: Uint8Array, flags: bigint): Uint8Array | undefined;
  update(key: Uint8Array, value: Uint8Array, flags: bigint): void;
  /** False when the key was absent. */
  delete(key: Uint8Array, flags: bigint): boolean;
  /** The key after `key` (the first key when `key` is undefined), or undefined at the end. */
  nextKey(key: Uint8Array | undefined): Uint8Array | undefined;
  /** A consumer of this ring buffer or perf event array. */
  openReader(): BackendReader;
}

export interface BackendReader {
  /** Waits up to `timeoutMs` and returns every record available (one batch), and lost-event count. */
  poll(timeoutMs: number): { readonly records: readonly Uint8Array[]; readonly lost: number };
  /** Stops reading; `unread` (records taken and not delivered) go first to the buffer's next reader. */
  close(unread?: readonly Uint8Array[]): void;
}
