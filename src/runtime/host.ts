/**
 * `WasmBpfHost` implements the six `wasm_bpf` imports (and the TinyGo `callback-wrapper`
 * poll) for one guest, over a `BpfBackend`. Safer than the upstream runtimes (reference §1):
 *
 * - object handles and map fds are counters in per-guest tables, never host pointers or fds,
 *   so a guest reaches only maps of objects it loaded itself;
 * - every pointer and length is checked against guest memory before use (-EFAULT), and key and
 *   value sizes come from the kernel's map info, never from the guest;
 * - a poll delivers every record of the batch, each truncated to `max_size` and passed with
 *   its truncated size; records left when the callback fails stay queued for the next poll;
 * - attach targets naming host resources (cgroup paths, interfaces) need a user grant;
 * - only BPF objects the package declares are loaded (`ObjectAdmission`).
 */
import { EbpmError, isEbpmError } from '../core/errors.js';
import { phase } from '../core/phases.js';
import { Errno, GO_CALLBACK, MapCmd, WASM_BPF, CALLBACK_WRAPPER, callbackProbe } from './abi.js';
import type { ObjectAdmission } from './admission.js';
import type { AttachTarget } from '../kernel/loader-targets.js';
import type { BackendMap, BackendObject, BackendReader, BpfBackend } from './backend.js';
import { GuestFault, GuestMemory, guestPointer } from './guest-memory.js';
import { markEnding, type StopHow, WAIT_SLICE_MS } from './protocol.js';

/** Thrown from an import when the user stopped the guest (signal, `--duration`); unwinds Wasm. */
export class GuestStop extends Error {
  override readonly name = 'GuestStop';
}

/** Unwinds the guest for a stop, its stop flag saying so first (`GuestAt.ENDING`). */
export function unwindForStop(flag: Int32Array): never {
  markEnding(flag);
  throw new GuestStop('stopped');
}

/** Carries whatever the guest's callback threw (a trap, `proc_exit`) through `call` unchanged. */
class FromGuest {
  constructor(readonly error: unknown) {}
}

/** An errno to return negated to the guest, with what went wrong for the log. */
class HostErrno extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** ebpm refusing what the user did not allow (an ungranted attach): logged as a refusal. */
class Refusal extends HostErrno {}

export interface HostOptions {
  /** Created on the first `wasm_load_bpf_object`, so guests that load nothing never touch the kernel. */
  backend: () => BpfBackend;
  admission: ObjectAdmission;
  /** Attach targets the user granted with `--allow-attach` (cgroup paths, interface names). */
  allowAttach: readonly string[];
  /** Name given to loaded objects (libbpf prefixes internal maps with it). */
  objectName: string;
  /**
   * Host diagnostics for the user, never guest output. `refusal`: ebpm or the kernel refused
   * what the guest asked (an undeclared object, an ungranted attach, a kernel refusal), which
   * the user sees without --verbose; else a detail (bad pointers, dropped events).
   */
  log: (message: string, refusal?: boolean) => void;
  /** Whether the guest must stop (`stopRequested`); checked in long-running imports and between a poll's records. */
  stopped?: () => StopHow | undefined;
  /** Called before a poll waits for records: the guest is set up and idle. */
  waiting?: () => void;
  /** Called as a poll starts giving its records to the guest's callback (true) and once it stops (false): what they print can go out at once. */
  delivering?: (on: boolean) => void;
  /** `callbackProbe()`, compiled ahead (a guest's thread gets it from the main thread); default compiled at the first poll. */
  callbackProbe?: WebAssembly.Module;
}

interface Reader {
  readonly backend: BackendReader;
  pending: Uint8Array[];
  busy: boolean;
}

interface ObjectEntry {
  readonly object: BackendObject;
  readonly links: { close(): void }[];
  /** Map name → virtual fd. */
  readonly fds: Map<string, number>;
  readonly readers: Map<number, Reader>;
}

interface MapEntry {
  readonly handle: bigint;
  readonly map: BackendMap;
}

/** Largest object a guest may pass (the biggest real BPF objects are a few MiB). */
const MAX_OBJECT = 64 << 20;
/** Returned `errno`s for backend errors that carry only a code. */
const CODE_ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  E2BIG: 7,
  ENOTSUP: 95,
  EOPNOTSUPP: 95,
  PERMISSION_DENIED: 1,
  KERNEL_NO_TRACEPOINT: 2,
  KERNEL_UNSUPPORTED: 95,
};

/** A guest's poll callback, `int (*)(void *ctx, void *data, size_t size)`. */
type Callback = (ctx: number, data: number, size: number) => unknown;

/** Functions that passed the probe; `Table.get` returns the same object for the same entry. */
const callbacks = new WeakSet<Callback>();

/**
 * `isCallback` tells whether `fn` (a table entry or an export: a Wasm function, or a host
 * function the guest put in its table, which the table wraps with its declared type) has
 * exactly the callback's type.
 */
function isCallback(fn: unknown, probe: WebAssembly.Module): fn is Callback {
  if (typeof fn !== 'function') return false;
  if (callbacks.has(fn as Callback)) return true;
  try {
    new WebAssembly.Instance(probe, { m: { f: fn } });
  } catch {
    return false;
  }
  callbacks.add(fn as Callback);
  return true;
}

function errnoOf(e: unknown): number {
  const err = e as { errno?: unknown; code?: unknown; data?: { errno?: unknown } };
  for (const n of [err?.errno, err?.data?.errno]) if (typeof n === 'number' && n !== 0) return Math.abs(n);
  return (typeof err?.code === 'string' && CODE_ERRNO[err.code]) || Errno.EINVAL;
}

export class WasmBpfHost {
  private readonly objects = new Map<bigint, ObjectEntry>();
  private readonly maps = new Map<number, MapEntry>();
  private nextHandle = 1n;
  private nextFd = 3;
  private backendInstance: BpfBackend | undefined;
  private instance: WebAssembly.Instance | undefined;
  readonly memory = new GuestMemory(() => this.exported('memory', WebAssembly.Memory));

  private probeModule: WebAssembly.Module | undefined;

  constructor(private readonly opts: HostOptions) {
    this.probeModule = opts.callbackProbe;
  }

  private probe(): WebAssembly.Module {
    this.probeModule ??= callbackProbe();
    return this.probeModule;
  }

  /** Binds the instance whose memory, table and `go-callback` the imports use. */
  bind(instance: WebAssembly.Instance): void {
    this.instance = instance;
  }

  /** The import object for `WebAssembly.instantiate`, both the C ABI and the TinyGo variant. */
  imports(): WebAssembly.Imports {
    return {
      [WASM_BPF]: {
        wasm_load_bpf_object: (buf: number, size: number) => this.load(buf, size),
        wasm_attach_bpf_program: (obj: bigint, name: number, target: number) => this.call('wasm_attach_bpf_program', () => this.attach(obj, name, target)),
        wasm_bpf_map_fd_by_name: (obj: bigint, name: number) => this.call('wasm_bpf_map_fd_by_name', () => this.mapFd(obj, name)),
        wasm_bpf_map_operate: (fd: number, cmd: number, key: number | bigint, value: number | bigint, next: number | bigint, flags: bigint) =>
          this.call('wasm_bpf_map_operate', () => this.mapOperate(fd, cmd, key, value, next, flags)),
        wasm_bpf_buffer_poll: (obj: bigint, fd: number, fn: number, ctx: number, data: number, max: number, timeout: number) =>
          this.call('wasm_bpf_buffer_poll', () => this.poll(obj, fd, ctx, data, max, timeout, () => this.tableCallback(fn))),
        wasm_close_bpf_object: (obj: bigint) => this.call('wasm_close_bpf_object', () => this.closeObject(obj)),
      },
      [CALLBACK_WRAPPER]: {
        wasm_bpf_buffer_poll: (obj: bigint, fd: number, ctx: number, data: number, max: number, timeout: number) =>
          this.call('wasm_bpf_buffer_poll', () => this.poll(obj, fd, ctx, data, max, timeout, () => this.goCallback())),
      },
    };
  }

  /** Closes every object the guest left open, newest first. */
  close(): void {
    for (const handle of [...this.objects.keys()].reverse()) this.closeObject(handle);
  }

  /** Handles of the objects still open (for tests and the exit report). */
  get openObjects(): number {
    return this.objects.size;
  }

  private exported<T>(name: string, type: abstract new (...args: never[]) => T): T {
    const value = this.instance?.exports[name];
    if (!(value instanceof type)) {
      throw new EbpmError('WASM_MISSING_EXPORT', `wasm guest: no exported ${name === 'memory' ? 'memory' : `"${name}"`}`, {
        hint: 'link the guest with -Wl,--export-table (clang exports memory by default)',
      });
    }
    return value;
  }

  /** Runs an import body: guest mistakes become negative errnos, host stops and traps propagate. */
  private call(what: string, body: () => number): number {
    try {
      return body();
    } catch (e) {
      if (e instanceof FromGuest) throw e.error;
      if (e instanceof GuestFault) {
        this.opts.log(`${what}: ${e.message}`);
        return -Errno.EFAULT;
      }
      if (e instanceof HostErrno) {
        this.opts.log(`${what}: ${e.message}`, e instanceof Refusal);
        return -e.errno;
      }
      // A stop request and a guest that breaks the ABI (WASM_BAD_CALLBACK) end the guest.
      if (e instanceof GuestStop || (isEbpmError(e) && e.code.startsWith('WASM_'))) throw e;
      this.opts.log(`${what}: ${(e as Error)?.message ?? String(e)}`, isEbpmError(e));
      return -errnoOf(e);
    }
  }

  private load(buf: number, size: number): bigint {
    phase('load-asked');
    try {
      if (size <= 0 || size > MAX_OBJECT) throw new GuestFault(`object size ${size} is out of range`);
      const bytes = this.memory.read(guestPointer(buf), size);
      const verdict = this.opts.admission.check(bytes);
      if (!verdict.ok) {
        this.opts.log(`wasm_load_bpf_object: refused: ${verdict.reason} (pass --allow-undeclared-bpf to load it anyway)`, true);
        return 0n;
      }
      this.backendInstance ??= this.opts.backend();
      const object = this.backendInstance.load(bytes, this.opts.objectName);
      const handle = this.nextHandle++;
      this.objects.set(handle, { object, links: [], fds: new Map(), readers: new Map() });
      return handle;
    } catch (e) {
      if (e instanceof GuestStop) throw e;
      this.opts.log(`wasm_load_bpf_object: ${(e as Error)?.message ?? String(e)}`, isEbpmError(e));
      return 0n;
    }
  }

  private entry(handle: bigint): ObjectEntry {
    const entry = typeof handle === 'bigint' ? this.objects.get(handle) : undefined;
    if (!entry) throw new HostErrno(Errno.EBADF, `unknown object handle ${String(handle)}`);
    return entry;
  }

  private attach(handle: bigint, namePtr: number, targetPtr: number): number {
    const entry = this.entry(handle);
    const name = this.memory.cString(guestPointer(namePtr));
    const program = entry.object.programs.get(name);
    if (!program) throw new HostErrno(Errno.ENOENT, `no program "${name}" in object ${handle}`);
    const target = targetPtr === 0 ? '' : this.memory.cString(guestPointer(targetPtr));
    const resolved = this.attachTarget(program.section, target);
    if (resolved && !this.opts.allowAttach.includes(target)) {
      throw new Refusal(Errno.EPERM, `attach ${name} to "${target}" is not granted (pass --allow-attach ${target})`);
    }
    entry.links.push(entry.object.attach(name, resolved));
    return 0;
  }

  /**
   * Upstream semantics: an empty target auto-attaches by section; `sockops`/`cgroup*` name a
   * cgroup path and `xdp` an interface; other sections ignore the target and auto-attach.
   */
  private attachTarget(section: string, target: string): AttachTarget | undefined {
    if (target === '') return undefined;
    if (section === 'sockops' || section.startsWith('cgroup')) return { kind: 'cgroup', path: target };
    if (section === 'xdp' || section.startsWith('xdp/') || section.startsWith('xdp.')) return { kind: 'xdp', interface: target };
    return undefined;
  }

  private mapFd(handle: bigint, namePtr: number): number {
    const entry = this.entry(handle);
    const name = this.memory.cString(guestPointer(namePtr));
    const known = entry.fds.get(name);
    if (known !== undefined) return known;
    const map = entry.object.map(name);
    if (!map) throw new HostErrno(Errno.ENOENT, `no map "${name}" in object ${handle}`);
    const fd = this.nextFd++;
    entry.fds.set(name, fd);
    this.maps.set(fd, { handle, map });
    // Open event buffers now, not at the first poll as upstream does: a perf event array has no
    // buffer until a reader exists, so records emitted before the first poll would be lost.
    if (map.kind !== 'other') this.reader(entry, fd, handle);
    return fd;
  }

  private mapEntry(fd: number): MapEntry {
    const m = this.maps.get(fd);
    if (!m) throw new HostErrno(Errno.EBADF, `fd ${fd} is not a map of this guest`);
    return m;
  }

  private mapOperate(fd: number, cmd: number, keyArg: number | bigint, valueArg: number | bigint, nextArg: number | bigint, flagsArg: bigint | number): number {
    const { map } = this.mapEntry(fd);
    const key = guestPointer(keyArg);
    const flags = BigInt.asUintN(64, BigInt(flagsArg));
    switch (cmd) {
      case MapCmd.LOOKUP_ELEM: {
        const k = this.memory.read(key, map.keySize);
        const value = guestPointer(valueArg);
        this.memory.view(value, map.valueSize);
        const found = map.lookup(k, flags);
        if (!found) return -Errno.ENOENT;
        this.memory.write(value, found.subarray(0, map.valueSize));
        return 0;
      }
      case MapCmd.UPDATE_ELEM:
        map.update(this.memory.read(key, map.keySize), this.memory.read(guestPointer(valueArg), map.valueSize), flags);
        return 0;
      case MapCmd.DELETE_ELEM:
        return map.delete(this.memory.read(key, map.keySize), flags) ? 0 : -Errno.ENOENT;
      case MapCmd.GET_NEXT_KEY: {
        // A NULL key asks for the first key, as in bpf(2); upstream hosts reject it.
        const k = key === 0 ? undefined : this.memory.read(key, map.keySize);
        const next = guestPointer(nextArg);
        this.memory.view(next, map.keySize);
        const found = map.nextKey(k);
        if (!found) return -Errno.ENOENT;
        this.memory.write(next, found.subarray(0, map.keySize));
        return 0;
      }
      default:
        throw new HostErrno(Errno.EINVAL, `unsupported map command ${cmd}`);
    }
  }

  private tableCallback(index: number): Callback {
    const table = this.exported('__indirect_function_table', WebAssembly.Table);
    let fn: unknown;
    try {
      fn = table.get(index >>> 0);
    } catch {
      fn = undefined;
    }
    if (!isCallback(fn, this.probe())) {
      throw new EbpmError(
        'WASM_BAD_CALLBACK',
        `wasm_bpf_buffer_poll: callback ${index} is not a function (i32, i32, i32) -> i32 in __indirect_function_table`,
        {
          hint: 'pass a C function pointer `int (*)(void *ctx, void *data, size_t size)`',
        },
      );
    }
    return fn;
  }

  private goCallback(): Callback {
    const fn = this.instance?.exports[GO_CALLBACK];
    if (!isCallback(fn, this.probe())) {
      throw new EbpmError(
        'WASM_BAD_CALLBACK',
        `callback-wrapper.wasm_bpf_buffer_poll: the guest does not export "${GO_CALLBACK}" as a function (i32, i32, i32) -> i32`,
        {
          hint: 'TinyGo guests export go-callback(ctx, data, size) for the host to call',
        },
      );
    }
    return fn;
  }

  private reader(entry: ObjectEntry, fd: number, handle: bigint): Reader {
    const m = this.mapEntry(fd);
    if (m.handle !== handle) throw new HostErrno(Errno.EBADF, `map fd ${fd} does not belong to object ${handle}`);
    let r = entry.readers.get(fd);
    if (!r) {
      if (m.map.kind === 'other') throw new HostErrno(Errno.EINVAL, `map fd ${fd} is neither a ring buffer nor a perf event array`);
      r = { backend: m.map.openReader(), pending: [], busy: false };
      entry.readers.set(fd, r);
    }
    return r;
  }

  /** Forged handles and fds get -EBADF before the callback is looked at: only a real poll can break the ABI. */
  private poll(handle: bigint, fd: number, ctx: number, data: number, maxSize: number, timeoutMs: number, resolveCallback: () => Callback): number {
    const entry = this.entry(handle);
    const r = this.reader(entry, fd, handle);
    const callback = resolveCallback();
    if (maxSize <= 0) throw new HostErrno(Errno.EINVAL, `max_size ${maxSize} must be positive`);
    const dataPtr = guestPointer(data);
    this.memory.view(dataPtr, maxSize);
    if (r.busy) throw new HostErrno(Errno.EBUSY, `map fd ${fd} is already being polled`);
    r.busy = true;
    let delivering = false;
    try {
      if (r.pending.length === 0) {
        const records = this.wait(r, timeoutMs);
        // The run is ending: the guest leaves its loop as on a signal (libbpf's -EINTR).
        if (records === undefined) return -Errno.EINTR;
        r.pending = records;
      }
      delivering = r.pending.length > 0;
      if (delivering) this.opts.delivering?.(true);
      let delivered = 0;
      while (r.pending.length > 0 && this.objects.get(handle) === entry) {
        // Asked to end (swapped out), it stops between records: the rest go to its successor.
        if (this.opts.stopped?.() === 'end') throw new GuestStop('stopped');
        const record = r.pending.shift()!;
        const size = Math.min(record.length, maxSize);
        this.memory.write(dataPtr, record.subarray(0, size));
        let ret: number;
        try {
          ret = Number(callback(ctx, dataPtr, size));
        } catch (e) {
          // Stopped while it printed the record (waiting for room in its output): the record goes
          // back, to the guest that takes over, since its line was not written.
          if (e instanceof GuestStop) r.pending.unshift(record);
          throw new FromGuest(e);
        }
        delivered++;
        if (ret < 0) return ret;
      }
      return delivered;
    } finally {
      r.busy = false;
      if (delivering) this.opts.delivering?.(false);
    }
  }

  /**
   * Polls in short slices (a negative timeout waits until records arrive) so a stop is seen:
   * undefined when the guest is interrupted.
   */
  private wait(r: Reader, timeoutMs: number): Uint8Array[] | undefined {
    const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
    if (timeoutMs !== 0) this.opts.waiting?.();
    for (;;) {
      const stop = this.opts.stopped?.();
      if (stop === 'end') throw new GuestStop('stopped');
      if (stop === 'interrupt') return undefined;
      const left = deadline - Date.now();
      // Draining, it takes what has come and does not wait for more: none left, it ends.
      const { records, lost } = r.backend.poll(stop === 'drain' ? 0 : Math.max(0, Math.min(WAIT_SLICE_MS, left)));
      if (lost > 0) this.opts.log(`wasm_bpf_buffer_poll: the kernel dropped ${lost} events (buffer full)`);
      if (stop === 'drain' && records.length === 0) throw new GuestStop('drained');
      if (records.length > 0 || left <= WAIT_SLICE_MS) return [...records];
    }
  }

  private closeObject(handle: bigint): number {
    const entry = this.entry(handle);
    this.objects.delete(handle);
    for (const fd of entry.fds.values()) this.maps.delete(fd);
    const errors: unknown[] = [];
    const attempt = (f: () => void) => {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const r of entry.readers.values()) attempt(() => r.backend.close(r.pending));
    for (const l of entry.links.reverse()) attempt(() => l.close());
    attempt(() => entry.object.close());
    if (errors.length > 0) throw errors[0];
    return 0;
  }
}
