/**
 * The one seam around the libbpf addon (native/): the only file that loads the `.node`. Every
 * other module receives a `BpfNative` and can be handed a fake in unit tests (as aya's
 * `sys/fake.rs` stands in for its one `syscall()`).
 *
 * The addon is context-aware (N-API 8 instance data), so each worker thread loading it gets
 * its own handle lists, freed by that environment's cleanup hook when the thread exits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EbpmError } from '../core/errors.js';
import { phase } from '../core/phases.js';
import type { NativeAttachTarget } from './loader-targets.js';

declare const handleKind: unique symbol;
/** An opaque addon handle (a N-API external); a GC finalizer releases one JS forgets. */
export type NativeHandle<K extends string> = { readonly [handleKind]: K };
export type ObjectHandle = NativeHandle<'object'>;
export type LinkHandle = NativeHandle<'link'>;
export type ReaderHandle = NativeHandle<'reader'>;

/** A program of an opened object (`fd` is -1 until loaded). `type` is libbpf's name: `tracepoint`. */
export interface ProgramInfo {
  readonly name: string;
  readonly section: string;
  readonly type: string;
  readonly autoload: boolean;
  readonly fd: number;
}

/** A map of an opened object. `section` is `.maps`, or `.rodata`/`.bss`/`.data…` for globals. */
export interface ObjectMapInfo {
  readonly name: string;
  readonly section: string;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly fd: number;
}

/** What the kernel says about a map fd; `valueBytes` is value size × possible CPUs for per-CPU maps. */
export interface KernelMapInfo {
  readonly name: string;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly valueBytes: number;
}

/** One `BPF_MAP_LOOKUP_BATCH` step; `cursor` is null once the map is exhausted. */
export interface RawLookupBatch {
  readonly count: number;
  readonly keys: Uint8Array;
  readonly values: Uint8Array;
  readonly cursor: Uint8Array | null;
}

/**
 * A drained batch: records laid out as `u32 length | u32 cpu (0xffffffff: ring buffer) | data |
 * zero pad to 8`, little-endian, and the perf buffer's lost-event count for this drain. `data`
 * is the buffer the addon filled, now owned by JavaScript (no copy, valid after the reader closes).
 */
export interface RawBatch {
  readonly data: ArrayBuffer;
  readonly count: number;
  readonly lost: number;
}

/** libbpf print levels, as the addon numbers them (`enum libbpf_print_level`). */
export const LOG_LEVELS = { warn: 0, info: 1, debug: 2 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

/**
 * What the addon throws: `code` is the errno name (`EPERM`, `ENOENT`, `E2BIG`…), `errno` its
 * positive number. Load failures add the verifier `log`; load and attach failures libbpf's warning `messages`.
 */
export interface NativeError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly log?: string;
  readonly messages?: readonly string[];
}

/** The flat interface of `ebpm_native.node`. Handles of the wrong kind or closed ones throw. */
export interface BpfNative {
  setLogger(logger: ((level: LogLevel, message: string) => void) | null, level: number): void;
  possibleCpus(): number;
  /** `major.minor` of the libbpf headers the addon was compiled with. */
  libbpfVersion(): string;

  objectOpen(elf: Uint8Array, name: string, btfPath: string | null): ObjectHandle;
  objectPrograms(obj: ObjectHandle): ProgramInfo[];
  objectMaps(obj: ObjectHandle): ObjectMapInfo[];
  /** A copy of a global data section's initial bytes (`.rodata`, `.bss`, `.data`). */
  objectGlobal(obj: ObjectHandle, section: string): Uint8Array;
  /** Replaces a global data section's initial bytes; the length must match, before load only. */
  objectSetGlobal(obj: ObjectHandle, section: string, bytes: Uint8Array): void;
  programSetAutoload(obj: ObjectHandle, program: string, on: boolean): void;
  /** Sets a map's max_entries and value size (0: keep that one), before load only. */
  objectSetMapSize(obj: ObjectHandle, map: string, maxEntries: number, valueSize: number): void;
  /** The kernel BTF id of function `name` (fentry) or of typedef `btf_trace_<name>` (tp_btf); throws ENOENT or ESRCH when absent. */
  vmlinuxBtfId(name: string, kind: 'fentry' | 'tp_btf'): number;
  /** Loads a fentry program on kernel function `btfId` and attaches it for an instant; throws the kernel's errno. */
  probeFentry(btfId: number): void;
  /**
   * libbpf's feature probes: whether this kernel loads `prog` programs of type `name`, creates
   * `map` maps of type `name`, or lets `name` programs call helper `helperId`; null when libbpf
   * cannot tell (a type it does not know, or no probe for it).
   */
  probeKernel(kind: 'prog' | 'map' | 'helper', name: string, helperId: number): boolean | null;
  objectLoad(obj: ObjectHandle): void;
  /** Idempotent. Links and readers stay valid: the kernel holds what they use. */
  objectClose(obj: ObjectHandle): void;

  /** Attaches by section (`bpf_program__attach`) when `target` is null. */
  programAttach(obj: ObjectHandle, program: string, target: NativeAttachTarget | null): LinkHandle;
  /** Idempotent. */
  linkDestroy(link: LinkHandle): void;

  mapInfo(fd: number): KernelMapInfo;
  /** null when the key is absent. Key and value sizes are checked against the kernel's. */
  mapLookup(fd: number, key: Uint8Array, flags: number): Uint8Array | null;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  /** false when the key was absent. */
  mapDelete(fd: number, key: Uint8Array, flags: number): boolean;
  /** The key after `key` (the first for null), or null at the end. */
  mapNextKey(fd: number, key: Uint8Array | null): Uint8Array | null;
  mapLookupBatch(fd: number, cursor: Uint8Array | null, max: number): RawLookupBatch;

  /** A consumer for a ringbuf or perf_event_array map (`perfPages`: per-CPU, power of two). */
  readerOpen(mapFd: number, perfPages: number | null): ReaderHandle;
  /** Consumes through the event loop: one callback per drain with everything available (a drain follows a wakeup, or a timer while events keep coming). */
  readerStart(reader: ReaderHandle, callback: (error: NativeError | null, batch: RawBatch | null) => void): void;
  /** Waits up to `timeoutMs` (-1: forever) and drains; for threads that may block (the Wasm host). */
  readerPoll(reader: ReaderHandle, timeoutMs: number): RawBatch;
  /** Drains what the buffers hold now without waiting, also while the event loop consumes (a last read before closing). */
  readerFlush(reader: ReaderHandle): RawBatch;
  /** Idempotent. */
  readerClose(reader: ReaderHandle): void;

  /**
   * While a Wasm guest runs on this thread (src/runtime/inline.ts), SIGINT and SIGTERM go into
   * its stop flag (native/guest.c) instead of to Node; a second signal, or a guest still running
   * `graceSeconds` after the first, gets the signal's default action. EBUSY while taken.
   */
  guestSignals(flag: Int32Array, graceSeconds: number): void;
  /**
   * While the signals are taken: asks the guest to stop `ms` from now as a first signal does,
   * with SIGALRM as its signal in the flag (`--duration`). A later SIGINT or SIGTERM is still a
   * first one; the grace runs from the deadline.
   */
  guestDeadline(ms: number): void;
  /** Gives the signals back; idempotent. */
  guestSignalsEnd(): void;
}

/**
 * `addonPath` is where `npm run build:native` (or the install script) leaves the addon, in the
 * package's root: two levels above this file in src/kernel/ or a bundle chunk in dist/chunks/,
 * one above the Wasm runtime's worker bundle in dist/.
 */
export function addonPath(from: string = import.meta.url): string {
  const dir = dirname(fileURLToPath(from));
  return join(dir, dir.endsWith('/dist') ? '..' : '../..', 'native/build/Release/ebpm_native.node');
}

/** How an installed ebpm (scripts/install.mjs) and a checkout build the addon again. */
const REBUILD = '`npm rebuild -g ebpm` (in a checkout: `npm run build:native`)';
const REBUILD_HINT = `install libbpf-dev, libelf-dev, zlib1g-dev, g++ and make (Fedora: libbpf-devel, elfutils-libelf-devel, zlib-devel, gcc-c++, make), then ${REBUILD}`;

const loaded = new Map<string, BpfNative>();

/**
 * `installFailure` is why scripts/install.mjs did not build the addon at `path`, as it left it
 * in native/not-built.txt (`: libbpf, libelf not found at install`); empty when it did not say.
 */
function installFailure(path: string): string {
  try {
    return `: ${readFileSync(join(dirname(path), '../../not-built.txt'), 'utf8').trim()}`;
  } catch {
    return '';
  }
}

/** `loadNative` loads the addon once per thread (and path); a missing build is `NATIVE_MISSING`. */
export function loadNative(path: string = process.env.EBPM_NATIVE_ADDON || addonPath()): BpfNative {
  const cached = loaded.get(path);
  if (cached) return cached;
  if (!existsSync(path)) {
    throw new EbpmError('NATIVE_MISSING', `load native addon: ${path}: not built${installFailure(path)}`, {
      hint: REBUILD_HINT,
    });
  }
  let native: BpfNative;
  try {
    // What require does for a .node file, without its resolution (realpath, package.json lookups): the path is the file.
    const addon = { exports: {} as BpfNative };
    process.dlopen(addon, resolve(path));
    native = addon.exports;
  } catch (e) {
    throw new EbpmError('NATIVE_MISSING', `load native addon: ${path}: ${(e as Error).message}`, {
      cause: e,
      hint: `rebuild it for this Node.js version: ${REBUILD}`,
    });
  }
  loaded.set(path, native);
  phase('addon');
  return native;
}
