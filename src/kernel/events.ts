/**
 * Event readers over ring buffers (BPF_MAP_TYPE_RINGBUF, 5.8+) and perf event arrays. The
 * addon drains everything available into one batch, so JavaScript runs once per drain rather
 * than once per event (as cilium's ringbuf reader and libbpf-bootstrap do). An idle reader
 * drains at the kernel's wakeup; while events keep coming it drains every few milliseconds
 * instead of at each event's wakeup (native/events.c).
 */
import { EbpmError } from '../core/errors.js';
import { nativeError } from './loader-errors.js';
import type { BpfNative, NativeError, RawBatch, ReaderHandle } from './native.js';

/**
 * One drain's records (views into the one buffer the addon filled, no copies; they stay valid
 * after the reader closes) and the perf events lost since the last.
 */
export interface EventBatch {
  readonly records: readonly Uint8Array[];
  /** The CPU each record came from (perf buffers), or -1 (ring buffers: one ring for all CPUs). */
  readonly cpus: readonly number[];
  readonly lost: number;
}

const NO_CPU = 0xffffffff;

/**
 * `parseBatch` splits the addon's batch (`u32 length | u32 cpu | data | pad to 8`,
 * little-endian, native/events.c) into records, checking every length against the buffer.
 */
export function parseBatch(raw: RawBatch): EventBatch {
  const view = new DataView(raw.data);
  const records: Uint8Array[] = [];
  const cpus: number[] = [];
  let off = 0;
  while (off < raw.data.byteLength) {
    if (off + 8 > raw.data.byteLength) throw badBatch(`header at ${off} past the end`);
    const len = view.getUint32(off, true);
    const cpu = view.getUint32(off + 4, true);
    const next = off + 8 + Math.ceil(len / 8) * 8;
    if (next > raw.data.byteLength) throw badBatch(`record at ${off} of ${len} bytes past the end`);
    records.push(new Uint8Array(raw.data, off + 8, len));
    cpus.push(cpu === NO_CPU ? -1 : cpu);
    off = next;
  }
  if (records.length !== raw.count) throw badBatch(`${records.length} records, addon counted ${raw.count}`);
  return { records, cpus, lost: raw.lost };
}

function badBatch(why: string): EbpmError {
  return new EbpmError('INTERNAL', `events: malformed batch: ${why}`);
}

/**
 * `EventReader` consumes one ring buffer or perf event array, either through the event loop
 * (`onBatch`, or `for await` over `batches()`) or by blocking `poll` (worker threads). One
 * consumer at a time: a second `onBatch`, or `poll` while one runs, fails at once.
 */
export class EventReader implements Disposable {
  #native: BpfNative;
  #handle: ReaderHandle;
  #onClose: (() => void) | undefined;
  #started = false;
  #closed = false;
  #lost = 0;
  #endIterators: (() => void)[] = [];

  /** Made by `BpfObject.events`; `onClose` lets the owner forget it. */
  constructor(
    native: BpfNative,
    handle: ReaderHandle,
    readonly map: string,
    onClose?: () => void,
  ) {
    this.#native = native;
    this.#handle = handle;
    this.#onClose = onClose;
  }

  /** Events the kernel dropped so far (perf buffers; a full ring buffer fails the reserve instead). */
  get lost(): number {
    return this.#lost;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Waits up to `timeoutMs` (-1: forever), then returns everything available (maybe nothing). */
  poll(timeoutMs: number): EventBatch {
    this.#check();
    let raw: RawBatch;
    try {
      raw = this.#native.readerPoll(this.#handle, timeoutMs);
    } catch (e) {
      throw this.#error(e);
    }
    return this.#take(raw);
  }

  /**
   * Calls `callback` once per drain with what it found, until `close()`. A failed drain, and
   * whatever `callback` throws, go to `onError` (by default thrown: an uncaught exception).
   */
  onBatch(
    callback: (batch: EventBatch) => void,
    onError: (e: unknown) => void = (e) => {
      throw e;
    },
  ): void {
    this.#check();
    if (this.#started) throw new EbpmError('EVENTS_BUSY', `events ${this.map}: already consumed`);
    try {
      this.#native.readerStart(this.#handle, (error: NativeError | null, raw: RawBatch | null) => {
        if (error || !raw) return onError(this.#error(error));
        try {
          callback(this.#take(raw));
        } catch (e) {
          onError(e);
        }
      });
    } catch (e) {
      throw this.#error(e);
    }
    this.#started = true;
  }

  /**
   * `flush` drains what the buffers hold now, without waiting, also while `onBatch` consumes:
   * a consumer's last read before it closes, so that nothing already produced is left behind
   * (as cilium/ebpf's ringbuf `Reader.Flush`). The batch is returned, not given to `onBatch`.
   */
  flush(): EventBatch {
    this.#check();
    let raw: RawBatch;
    try {
      raw = this.#native.readerFlush(this.#handle);
    } catch (e) {
      throw this.#error(e);
    }
    return this.#take(raw);
  }

  /** The batches as an async iterator; it ends when the reader is closed. */
  batches(): AsyncIterableIterator<EventBatch> {
    const queue: EventBatch[] = [];
    let failure: unknown;
    let wake: (() => void) | undefined;
    let done = false;
    const end = (): void => {
      done = true;
      wake?.();
    };
    this.#endIterators.push(end);
    this.onBatch(
      (b) => {
        queue.push(b);
        wake?.();
      },
      (e) => {
        failure = e;
        wake?.();
      },
    );
    const iterator: AsyncIterableIterator<EventBatch> = {
      next: async () => {
        while (queue.length === 0 && failure === undefined && !done) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const b = queue.shift();
        if (b) return { value: b, done: false };
        if (failure !== undefined) throw failure;
        return { value: undefined, done: true };
      },
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<EventBatch> {
    return this.batches();
  }

  /** Stops consuming and frees the buffers; pending iterators end. Harmless twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.readerClose(this.#handle);
    for (const end of this.#endIterators.splice(0)) end();
    this.#onClose?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #take(raw: RawBatch): EventBatch {
    this.#lost += raw.lost;
    return parseBatch(raw);
  }

  #check(): void {
    if (this.#closed) throw new EbpmError('CLOSED', `events ${this.map}: reader is closed`);
  }

  #error(e: unknown): EbpmError {
    if ((e as NativeError | null)?.code === 'EBUSY') {
      return new EbpmError('EVENTS_BUSY', `events ${this.map}: consumed by the event loop`, { cause: e });
    }
    return nativeError(e, `events ${this.map}`);
  }
}
