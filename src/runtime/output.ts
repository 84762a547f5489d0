/**
 * The guest's stdout and stderr, from its worker thread to the main thread, through a byte ring
 * in a SharedArrayBuffer instead of one `postMessage` per line (which cost ~5 µs of worker time
 * per event and woke the main thread each time).
 *
 * - The worker appends one frame per `fd_write` and publishes it at once, so nothing waits in
 *   the worker: a line printed just before the guest spins, exits or is terminated is already
 *   in the ring, and the main thread drains the ring before it reports any outcome.
 * - The main thread sleeps in `Atomics.waitAsync` while the ring is empty; the worker notifies
 *   it only then, so an interactive line shows at once. Once output keeps coming (a drain
 *   finds bytes within `drainEveryMs` of the last that did) the main thread drains every
 *   `drainEveryMs`, one wakeup per batch instead of one per line; a line that follows a single
 *   earlier one, as a first event follows a program's banner, still shows at once.
 * - A full ring blocks the guest until the main thread drains it, and the main thread drains only
 *   while the consumer takes more (`ready`: stdout's buffer is below its high-water mark): a
 *   guest printing to a pipe nobody reads waits in fd_write with at most the ring and one
 *   batch buffered, instead of growing ebpm without bound. A stop request ends that wait
 *   (`wakeWriter`).
 *
 * Layout: Int32 control words [WRITE, READ, IDLE, 0], then `capacity` data bytes (a power of
 * two). WRITE and READ are byte positions that wrap at 2^32; the ring holds WRITE − READ bytes.
 * A frame is a little-endian u32 header (payload length, bit 31 set for stderr) and its payload.
 */
import { EbpmError } from '../core/errors.js';

const WRITE = 0;
const READ = 1;
/** Non-zero while the main thread waits on WRITE (or is about to). */
const IDLE = 2;
const CONTROL_BYTES = 16;
const STDERR_BIT = 0x8000_0000;

/** Default ring size: 10 ms of output at 100 MB/s. */
export const DEFAULT_RING_BYTES = 1 << 20;
/** How often the main thread drains while output keeps coming. */
export const DEFAULT_DRAIN_MS = 10;
/** A guest line longer than this is passed on in pieces, so a guest cannot make the host buffer without bound. */
const MAX_LINE = 64 * 1024;
/** How long the worker waits for room before it looks again (the main thread notifies it too). */
const ROOM_WAIT_MS = 100;

/** `Atomics.waitAsync` (ES2024; in V8 since Node 16), typed here as the project's lib is ES2023. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
  }
).waitAsync;

/** `createOutputRing` allocates a ring of `capacity` bytes (a power of two, at least 64). */
export function createOutputRing(capacity = DEFAULT_RING_BYTES): SharedArrayBuffer {
  if (capacity < 64 || (capacity & (capacity - 1)) !== 0) throw new EbpmError('INTERNAL', `output ring capacity ${capacity} is not a power of two ≥ 64`);
  return new SharedArrayBuffer(CONTROL_BYTES + capacity);
}

class Ring {
  readonly control: Int32Array;
  readonly data: Uint8Array;
  readonly mask: number;

  constructor(buffer: SharedArrayBuffer) {
    this.control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.data = new Uint8Array(buffer, CONTROL_BYTES);
    this.mask = this.data.length - 1;
  }

  /** Bytes in the ring between positions `read` and `write`. */
  static used(write: number, read: number): number {
    return (write - read) >>> 0;
  }
}

/** `OutputWriter` is the worker's end: it appends the guest's writes to the ring. */
export class OutputWriter {
  private readonly ring: Ring;
  /** Largest payload of one frame; a longer write becomes several frames. */
  private readonly maxFrame: number;
  private readonly header = new Uint8Array(4);

  /** `block` runs each wait for room; it throws instead to give up (the guest is being stopped). */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly block: (wait: () => void) => void = (wait) => wait(),
  ) {
    this.ring = new Ring(buffer);
    this.maxFrame = this.ring.data.length / 2 - 4;
  }

  /** Appends `parts` (views into guest memory, copied here) as output on fd 1 or 2. */
  write(fd: 1 | 2, parts: readonly Uint8Array[]): void {
    let total = 0;
    for (const p of parts) total += p.length;
    if (total === 0) return;
    let part = 0;
    let offset = 0;
    while (total > 0) {
      const len = Math.min(total, this.maxFrame);
      let at = this.room(4 + len);
      new DataView(this.header.buffer).setUint32(0, (len | (fd === 2 ? STDERR_BIT : 0)) >>> 0, true);
      at = this.copy(at, this.header);
      for (let left = len; left > 0; ) {
        const p = parts[part]!;
        const n = Math.min(p.length - offset, left);
        at = this.copy(at, n === p.length ? p : p.subarray(offset, offset + n));
        left -= n;
        offset += n;
        if (offset === p.length) {
          part++;
          offset = 0;
        }
      }
      this.publish(at);
      total -= len;
    }
  }

  /** Waits until `need` bytes are free; returns the write position. */
  private room(need: number): number {
    const { control, data } = this.ring;
    const write = Atomics.load(control, WRITE);
    for (;;) {
      const read = Atomics.load(control, READ);
      if (data.length - Ring.used(write, read) >= need) return write;
      this.block(() => Atomics.wait(control, READ, read, ROOM_WAIT_MS));
    }
  }

  private copy(at: number, bytes: Uint8Array): number {
    const { data, mask } = this.ring;
    const start = at & mask;
    const first = Math.min(bytes.length, data.length - start);
    data.set(first === bytes.length ? bytes : bytes.subarray(0, first), start);
    if (first < bytes.length) data.set(bytes.subarray(first), 0);
    return (at + bytes.length) | 0;
  }

  private publish(write: number): void {
    const { control } = this.ring;
    Atomics.store(control, WRITE, write);
    // Sequentially consistent: either this load sees IDLE, or the reader's waitAsync sees the
    // new WRITE and does not sleep.
    if (Atomics.load(control, IDLE) !== 0) {
      Atomics.store(control, IDLE, 0);
      Atomics.notify(control, WRITE);
    }
  }
}

/** `LineSplitter` turns a byte stream into lines, decoding UTF-8 across write boundaries. */
export class LineSplitter {
  private readonly decoder = new TextDecoder();
  private partial = '';

  constructor(private readonly emit: (line: string) => void) {}

  push(bytes: Uint8Array): void {
    const text = this.partial + this.decoder.decode(bytes, { stream: true });
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.emit(line);
    while (this.partial.length > MAX_LINE) {
      this.emit(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
  }

  flush(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    if (rest !== '') this.emit(rest);
  }
}

export interface OutputReaderOptions {
  readonly onStdout: (line: string) => void;
  readonly onStderr: (line: string) => void;
  /** Drain interval while output keeps coming; default DEFAULT_DRAIN_MS. */
  readonly drainEveryMs?: number;
  /**
   * Backpressure: undefined while the consumer takes more lines, else a promise that resolves
   * once it does (stdout drained). Meanwhile the ring fills and the guest waits.
   */
  readonly ready?: () => Promise<void> | undefined;
}

/**
 * `OutputReader` is the main thread's end: it drains the ring into complete lines, in the order
 * the guest wrote them across stdout and stderr.
 */
export class OutputReader {
  private readonly ring: Ring;
  private readonly stdout: LineSplitter;
  private readonly stderr: LineSplitter;
  private readonly header = new Uint8Array(4);
  /** Payloads of consecutive frames of one fd, gathered to decode them in one call. */
  private scratch = new Uint8Array(64 * 1024);
  private timer: NodeJS.Timeout | undefined;
  private following = false;
  /** When the last drain that found bytes ran (`performance.now()`). */
  private drainedAt = -Infinity;
  /** Set while the consumer is full (`ready` gave a promise), until it takes more. */
  private full = false;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly o: OutputReaderOptions,
  ) {
    this.ring = new Ring(buffer);
    this.stdout = new LineSplitter(o.onStdout);
    this.stderr = new LineSplitter(o.onStderr);
  }

  /** Starts draining as output arrives, until `close`. */
  follow(): void {
    this.following = true;
    this.next();
  }

  /** Passes on every complete line in the ring; returns whether there were any bytes. */
  drain(): boolean {
    const { control, data, mask } = this.ring;
    const write = Atomics.load(control, WRITE);
    let read = Atomics.load(control, READ);
    if (write === read) return false;
    let fd = 0;
    let gathered = 0;
    while (read !== write) {
      read = this.take(read, this.header);
      const word = new DataView(this.header.buffer).getUint32(0, true);
      const len = word & ~STDERR_BIT;
      const frameFd = word & STDERR_BIT ? 2 : 1;
      if (frameFd !== fd) {
        this.emit(fd, gathered);
        fd = frameFd;
        gathered = 0;
      }
      if (gathered + len > this.scratch.length) {
        const grown = new Uint8Array(Math.max(this.scratch.length * 2, gathered + len));
        grown.set(this.scratch.subarray(0, gathered));
        this.scratch = grown;
      }
      const start = read & mask;
      const first = Math.min(len, data.length - start);
      this.scratch.set(data.subarray(start, start + first), gathered);
      if (first < len) this.scratch.set(data.subarray(0, len - first), gathered + first);
      gathered += len;
      read = (read + len) | 0;
    }
    Atomics.store(control, READ, read);
    Atomics.notify(control, READ);
    this.emit(fd, gathered);
    return true;
  }

  /** `drain`, unless the consumer is full: for output that only should come first, as before a log line. */
  drainIfReady(): void {
    if (!this.full) this.drain();
  }

  /** Wakes the guest where it waits for room, to see a stop at once. */
  wakeWriter(): void {
    Atomics.notify(this.ring.control, READ);
  }

  /** Drains what is left, passes on unterminated last lines, and stops following. */
  close(): void {
    this.following = false;
    clearTimeout(this.timer);
    // Wakes our own pending waitAsync, so nothing stays queued on the ring.
    Atomics.notify(this.ring.control, WRITE);
    this.drain();
    this.stdout.flush();
    this.stderr.flush();
  }

  private next(): void {
    if (!this.following) return;
    const full = this.o.ready?.();
    if (full) {
      this.full = true;
      void full.then(() => {
        this.full = false;
        this.next();
      });
      return;
    }
    const { control } = this.ring;
    Atomics.store(control, IDLE, 0);
    const every = this.o.drainEveryMs ?? DEFAULT_DRAIN_MS;
    if (this.drain()) {
      const now = performance.now();
      const busy = now - this.drainedAt < every;
      this.drainedAt = now;
      if (busy) {
        this.timer = setTimeout(() => this.next(), every);
        return;
      }
    }
    Atomics.store(control, IDLE, 1);
    const wait = waitAsync(control, WRITE, Atomics.load(control, READ));
    if (wait.async) void wait.value.then(() => this.next());
    else this.next();
  }

  private take(at: number, into: Uint8Array): number {
    const { data, mask } = this.ring;
    for (let i = 0; i < into.length; i++) into[i] = data[(at + i) & mask]!;
    return (at + into.length) | 0;
  }

  private emit(fd: number, length: number): void {
    if (length === 0) return;
    (fd === 2 ? this.stderr : this.stdout).push(this.scratch.subarray(0, length));
  }
}
