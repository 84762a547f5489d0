/**
 * WASI preview1 for a guest, on `node:wasi`, with three changes the CLI needs:
 *
 * - fds 0–2 are /dev/null to the real WASI, and writes to fds 1 and 2 are taken over here and
 *   handed to a `GuestOutput` as they come; fd_fdstat_get reports them as a character device
 *   without seek rights, which is wasi-libc's `isatty` test, so printf is line-buffered and
 *   events reach the user as they come;
 * - poll_oneoff with only clock subscriptions (sleep, nanosleep) waits on the stop flag, so a
 *   signal or `--duration` wakes a sleeping guest at once (on the main thread, within a
 *   `WAIT_SLICE_MS`): its sleep fails with EINTR (wasi-libc's
 *   sleep() then returns the seconds left, as one interrupted by a signal), or, in a swap, it ends;
 * - nothing else of the host is visible: argv, env and preopens are exactly what the caller
 *   passes, and every path call is checked by `Jail` first, so no symbolic link leads out of a
 *   preopened directory.
 */
import { openSync, closeSync } from 'node:fs';
import type { WASI } from 'node:wasi';
import { GuestFault, type GuestMemory } from './guest-memory.js';
import { unwindForStop } from './host.js';
import { type Follow, Jail } from './jail.js';
import { type Blocking, stopRequested, WAIT_SLICE_MS } from './protocol.js';

/**
 * node:wasi, loaded at the first guest without the ExperimentalWarning its loading emits, which
 * is not for ebpm's users; other warnings still show.
 */
function wasiClass(): typeof WASI {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, type?: unknown, ...rest: unknown[]) => {
    if (type === 'ExperimentalWarning' && String(warning).startsWith('WASI ')) return;
    (emit as (...a: unknown[]) => void).call(process, warning, type, ...rest);
  }) as typeof process.emitWarning;
  try {
    return process.getBuiltinModule('node:wasi').WASI;
  } finally {
    process.emitWarning = emit;
  }
}

/** WASI errno values (wasi_snapshot_preview1 `errno`). */
const WASI_EFAULT = 21;
const WASI_EINTR = 27;
const WASI_EINVAL = 28;
const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHT_FD_SEEK = 1n << 2n;
const RIGHT_FD_TELL = 1n << 5n;
/** Where the guest's stdout and stderr go (`OutputWriter`); `parts` are views into guest memory, valid only during the call. */
export interface GuestOutput {
  write(fd: 1 | 2, parts: readonly Uint8Array[]): void;
}

export interface GuestWasiOptions {
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Guest path → host directory. */
  preopens: Readonly<Record<string, string>>;
  memory: GuestMemory;
  output: GuestOutput;
  /** Shared stop flag: index 0 becomes a `StopRequest` when the guest must stop. */
  stop: Int32Array;
  /** Runs a sleep (`blockingOn(stop)`). */
  block: Blocking;
  /** Called before a sleep: the guest is set up and idle. */
  waiting?: () => void;
}

type Fn = (...args: number[]) => number;
/** i64 arguments (timestamps, rights) arrive as BigInt. */
type Arg = number | bigint;
type PathFn = (...args: Arg[]) => number;

const LOOKUP_SYMLINK_FOLLOW = 1;
/** Flags of the lookup: uvwasi follows a last link only when asked; the kernel never does, but in path_open. */
const lookup = (flags: Arg, kernel = false): Follow => ({ uvwasi: (Number(flags) & LOOKUP_SYMLINK_FOLLOW) !== 0, kernel });
const NO_FOLLOW: Follow = { uvwasi: false, kernel: false };

export class GuestWasi {
  readonly wasi: WASI;
  private readonly devNull: number;
  private readonly jail: Jail;

  constructor(private readonly o: GuestWasiOptions) {
    this.jail = new Jail(o.preopens);
    this.devNull = openSync('/dev/null', 'r+');
    this.wasi = new (wasiClass())({
      version: 'preview1',
      args: [...o.args],
      env: { ...o.env },
      preopens: { ...o.preopens },
      returnOnExit: true,
      stdin: this.devNull,
      stdout: this.devNull,
      stderr: this.devNull,
    });
  }

  imports(): Record<string, Fn> {
    const base = (this.wasi.getImportObject() as { wasi_snapshot_preview1: Record<string, Fn> }).wasi_snapshot_preview1;
    return {
      ...base,
      ...this.pathImports(base as unknown as Record<string, PathFn>),
      fd_write: (fd, iovs, count, written) => (fd === 1 || fd === 2 ? this.write(fd, iovs, count, written) : base.fd_write!(fd, iovs, count, written)),
      fd_fdstat_get: (fd, out) => this.fdstat(base.fd_fdstat_get!, fd, out),
      poll_oneoff: (input, out, n, nevents) => this.pollOneoff(base.poll_oneoff!, input, out, n, nevents),
    };
  }

  /**
   * The path calls, each checked by the jail before node:wasi sees it: (fd, path) argument
   * positions and how the last component is followed. A refused path never reaches the kernel.
   */
  private pathImports(base: Record<string, PathFn>): Record<string, PathFn> {
    const n = (a: Arg) => Number(a) >>> 0;
    const checked =
      (name: string, paths: (a: Arg[]) => [fd: Arg, ptr: Arg, len: Arg, follow: Follow][]) =>
      (...a: Arg[]) => {
        for (const [fd, ptr, len, follow] of paths(a)) {
          const errno = this.checkPath(n(fd), n(ptr), n(len), follow).errno;
          if (errno !== 0) return errno;
        }
        return base[name]!(...a);
      };
    return {
      path_create_directory: checked('path_create_directory', (a) => [[a[0]!, a[1]!, a[2]!, NO_FOLLOW]]),
      path_filestat_get: checked('path_filestat_get', (a) => [[a[0]!, a[2]!, a[3]!, lookup(a[1]!)]]),
      path_filestat_set_times: checked('path_filestat_set_times', (a) => [[a[0]!, a[2]!, a[3]!, lookup(a[1]!)]]),
      path_link: checked('path_link', (a) => [
        [a[0]!, a[2]!, a[3]!, lookup(a[1]!)],
        [a[4]!, a[5]!, a[6]!, NO_FOLLOW],
      ]),
      path_readlink: checked('path_readlink', (a) => [[a[0]!, a[1]!, a[2]!, NO_FOLLOW]]),
      path_remove_directory: checked('path_remove_directory', (a) => [[a[0]!, a[1]!, a[2]!, NO_FOLLOW]]),
      path_rename: checked('path_rename', (a) => [
        [a[0]!, a[1]!, a[2]!, NO_FOLLOW],
        [a[3]!, a[4]!, a[5]!, NO_FOLLOW],
      ]),
      // The link's content is not a path the guest opens: following it is checked when it is used.
      path_symlink: checked('path_symlink', (a) => [[a[2]!, a[3]!, a[4]!, NO_FOLLOW]]),
      path_unlink_file: checked('path_unlink_file', (a) => [[a[0]!, a[1]!, a[2]!, NO_FOLLOW]]),
      path_open: (...a: Arg[]) => {
        const at = this.checkPath(n(a[0]!), n(a[2]!), n(a[3]!), lookup(a[1]!, true));
        if (at.errno !== 0) return at.errno;
        const rc = base.path_open!(...a);
        if (rc === 0) this.jail.opened(this.o.memory.u32(n(a[8]!)), at);
        return rc;
      },
      fd_close: (...a: Arg[]) => {
        const rc = base.fd_close!(...a);
        if (rc === 0) this.jail.closed(n(a[0]!));
        return rc;
      },
      fd_renumber: (...a: Arg[]) => {
        const rc = base.fd_renumber!(...a);
        if (rc === 0) this.jail.renumbered(n(a[0]!), n(a[1]!));
        return rc;
      },
    };
  }

  private checkPath(fd: number, ptr: number, len: number, follow: Follow): ReturnType<Jail['check']> {
    let path: Uint8Array;
    try {
      // A view, not a copy: the guest's thread is this one, so the bytes cannot change during the check.
      path = this.o.memory.view(ptr, len);
    } catch (e) {
      if (e instanceof GuestFault) return { errno: WASI_EFAULT };
      throw e;
    }
    return this.jail.check(fd, path, follow);
  }

  /** Exit code of `_start` (`proc_exit` returns here too). */
  start(instance: WebAssembly.Instance): number {
    return this.wasi.start(instance);
  }

  close(): void {
    closeSync(this.devNull);
  }

  private write(fd: number, iovs: number, count: number, written: number): number {
    const m = this.o.memory;
    try {
      let total = 0;
      const chunks: Uint8Array[] = [];
      // Every iovec and `written` are checked before any byte is passed on (all or EFAULT).
      for (let i = 0; i < count >>> 0; i++) {
        const at = (iovs >>> 0) + i * 8;
        const chunk = m.view(m.u32(at), m.u32(at + 4));
        chunks.push(chunk);
        total += chunk.length;
      }
      m.view(written >>> 0, 4);
      this.o.output.write(fd === 1 ? 1 : 2, chunks);
      m.setU32(written >>> 0, total);
      return 0;
    } catch (e) {
      if (e instanceof GuestFault) return WASI_EFAULT;
      throw e;
    }
  }

  private fdstat(base: Fn, fd: number, out: number): number {
    const rc = base(fd, out);
    if (rc !== 0 || fd > 2) return rc;
    try {
      const v = this.o.memory.view(out >>> 0, 24);
      const dv = new DataView(v.buffer, v.byteOffset, 24);
      dv.setUint8(0, FILETYPE_CHARACTER_DEVICE);
      dv.setBigUint64(8, dv.getBigUint64(8, true) & ~(RIGHT_FD_SEEK | RIGHT_FD_TELL), true);
      return 0;
    } catch {
      return WASI_EFAULT;
    }
  }

  /** Subscription: 48 bytes (userdata u64, tag u8, clock id u32 @16, timeout u64 @24, flags u16 @40). */
  private pollOneoff(base: Fn, input: number, out: number, n: number, nevents: number): number {
    if (n === 0) return WASI_EINVAL;
    let sub: Uint8Array;
    try {
      sub = this.o.memory.read(input >>> 0, 48 * (n >>> 0));
    } catch {
      return WASI_EFAULT;
    }
    const dv = new DataView(sub.buffer);
    let waitNs = Infinity;
    let first = 0;
    for (let i = 0; i < n; i++) {
      const s = i * 48;
      if (dv.getUint8(s + 8) !== 0) return this.stopping(() => base(input, out, n, nevents));
      const clock = dv.getUint32(s + 16, true);
      const timeout = dv.getBigUint64(s + 24, true);
      const abstime = (dv.getUint16(s + 40, true) & 1) !== 0;
      if (clock > 3) return WASI_EINVAL;
      const now = clock === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
      const ns = Number(abstime ? (timeout > now ? timeout - now : 0n) : timeout);
      if (ns < waitNs) {
        waitNs = ns;
        first = i;
      }
    }
    if (waitNs > 0) this.o.waiting?.();
    const until = performance.now() + waitNs / 1e6;
    this.o.block(() => {
      for (let left = waitNs / 1e6; Atomics.load(this.o.stop, 0) === 0 && left > 0; left = until - performance.now())
        Atomics.wait(this.o.stop, 0, 0, Math.min(left, WAIT_SLICE_MS));
    });
    if (this.stopped()) return WASI_EINTR;
    try {
      const ev = this.o.memory.view(out >>> 0, 32);
      ev.fill(0);
      ev.set(sub.subarray(first * 48, first * 48 + 8), 0);
      new DataView(ev.buffer, ev.byteOffset, 32).setUint8(10, 0); // eventtype clock
      this.o.memory.setU32(nevents >>> 0, 1);
      return 0;
    } catch {
      return WASI_EFAULT;
    }
  }

  private stopping(f: () => number): number {
    return this.stopped() ? WASI_EINTR : f();
  }

  /** True when the guest is interrupted; throws when it must end where it waits. */
  private stopped(): boolean {
    const stop = stopRequested(this.o.stop);
    // Draining ends at a sleep too: what it would wait for there is no record of its objects.
    if (stop === 'end' || stop === 'drain') unwindForStop(this.o.stop);
    return stop === 'interrupt';
  }
}
