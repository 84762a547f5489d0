/**
 * The non-TTY outputs of `ebpm run`: aligned columns when piped, JSON lines with `--json`.
 * Each batch's records are formatted into one string, and the batches of one event-loop turn
 * are written at once, so a pipe keeps up with a million events. (The TTY's live view is run-live.ts.)
 */
import { writeSync } from 'node:fs';
import { clockTime, TIME_WIDTH, type ColumnHead, type EventFormat } from '../../package/decode.js';
import type { SampleEntry, SampleFormat } from '../../package/histogram.js';

/** `RunOutput` receives what `runPackage` produces and writes it. */
export interface RunOutput {
  /** Before the first event: headers, or the live table. */
  start(): void;
  events(records: readonly Uint8Array[]): void;
  sample(format: SampleFormat, entries: readonly SampleEntry[]): void;
  /**
   * After the last event: flush, unmount. `abandon` (a run stopped by a signal): hand stdout
   * what is queued (at most the bound) and write nothing after it; the process then ends
   * without waiting for a reader that does not read.
   */
  end(abandon?: boolean): void;
  /** Events not printed because stdout did not keep up. */
  dropped(): number;
}

/** A time string cached per second: formatting the clock per event would cost more than the event. */
export function clock(now: () => number = Date.now): () => string {
  let second = -1;
  let text = '';
  return () => {
    const t = now();
    const s = Math.floor(t / 1000);
    if (s !== second) {
      second = s;
      text = clockTime(new Date(t));
    }
    return text;
  };
}

/** Text held for stdout while it takes nothing (a reader that stopped reading) before events are dropped. */
export const OUTPUT_LIMIT = 1 << 20;

/** `Bound` caps what `coalesce` holds for a stream that does not keep up. */
export interface Bound {
  /** Characters held beyond the write stdout has not completed; past them, text is dropped. */
  readonly limit: number;
  /** Called at the first drop. */
  readonly onFirstDrop?: () => void;
}

/** Text written as soon as it is queued, not at the end of the turn: a burst is not held whole. */
const CHUNK = 1 << 20;

/** `OutputQueue` is text on its way to a stream, written once per turn of the event loop. */
export interface OutputQueue {
  /** Queues `text`, holding `records` events; false when it is dropped (the bound is full), its events counted. */
  write(text: string, records?: number): boolean;
  /** Hands everything queued to the stream now, whether or not it keeps up. */
  flush(): void;
  /** Hands what is queued to the stream, then takes nothing more: the process ends without waiting for a reader. */
  abandon(): void;
  /** Events dropped so far. */
  dropped(): number;
}

/**
 * `syncText` is text on its way to file descriptor `fd`, written on this thread with write(2)
 * when `flush`ed: for a Wasm guest on the main thread, whose run the event loop does not see
 * (`RunWasmOptions.inline`). A full pipe makes the writer wait, as it should the guest, until
 * there is room or `giveUp()`. The first failed write goes to `onError`; what comes after it is
 * dropped.
 */
export function syncText(fd: number, onError: (e: NodeJS.ErrnoException) => void): SyncText {
  let pending = '';
  let failed = false;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const flush = (giveUp: () => boolean = () => false) => {
    let bytes = Buffer.from(pending);
    pending = '';
    while (bytes.length > 0 && !failed) {
      try {
        bytes = bytes.subarray(writeSync(fd, bytes));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        // Node makes a pipe non-blocking for a stream of its own.
        if (err.code === 'EAGAIN') {
          if (giveUp()) return false;
          Atomics.wait(pause, 0, 0, 1);
        } else {
          failed = true;
          onError(err);
        }
      }
    }
    return true;
  };
  return {
    write(text) {
      if (failed) return false;
      pending += text;
      return true;
    },
    flush,
  };
}

export interface SyncText extends Pick<OutputQueue, 'write'> {
  /** False when it gave up waiting for room, what it held dropped. */
  flush(giveUp?: () => boolean): boolean;
}

/**
 * `coalesce` gathers what several batches produce within one turn of the event loop and writes
 * it once (`setImmediate` runs after the loop's pending I/O callbacks): a reader whose ring
 * fills fast is woken per event again, and a write per batch of one would cost more than it.
 * With a `bound`, it writes again only once the stream has written the last chunk (its
 * callback), holds at most `bound.limit` characters meanwhile and drops the rest: a reader
 * that stops reading costs a bounded amount of memory, not all of it. Without one, everything
 * is written as it comes (the Wasm guest's output).
 */
export function coalesce(out: NodeJS.WritableStream, bound?: Bound): OutputQueue {
  let pending = '';
  /** Writes the stream has not completed. */
  let writing = 0;
  let dropped = 0;
  let abandoned = false;
  let warned = false;
  let scheduled: NodeJS.Immediate | undefined;
  const flush = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (pending === '') return;
    const s = pending;
    pending = '';
    writing++;
    // Called once the bytes are the kernel's, or with the error that stops the run.
    out.write(s, () => {
      writing--;
      if (writing === 0 && !abandoned) flush();
    });
  };
  /** Whether a write may go out now: always without a bound, else once the last one is done. */
  const free = () => bound === undefined || writing === 0;
  const pump = () => {
    if (pending.length >= CHUNK && free()) flush();
    else
      scheduled ??= setImmediate(() => {
        scheduled = undefined;
        if (free()) flush();
      });
  };
  return {
    write(s, records = 0) {
      if (abandoned || (bound !== undefined && writing > 0 && pending.length + s.length > bound.limit)) {
        if (!warned) bound?.onFirstDrop?.();
        warned = true;
        dropped += records;
        return false;
      }
      pending += s;
      pump();
      return true;
    },
    flush,
    abandon() {
      // What the stop drained from the kernel is queued here: a reader that reads gets it.
      flush();
      abandoned = true;
    },
    dropped: () => dropped,
  };
}

/** How a queue of `plainOutput` and `jsonOutput` ends. */
function ending(out: OutputQueue): Pick<RunOutput, 'end' | 'dropped'> {
  return { end: (abandon) => (abandon ? out.abandon() : out.flush()), dropped: out.dropped };
}

/** `plainOutput` writes a header, then one aligned line per event; samples as text blocks. */
export function plainOutput(
  stream: NodeJS.WritableStream,
  format: EventFormat | undefined,
  now: () => number = Date.now,
  bound: Bound = { limit: OUTPUT_LIMIT },
): RunOutput {
  const time = clock(now);
  const out = coalesce(stream, bound);
  return {
    start: () => {
      if (format) out.write(format.header() + '\n');
    },
    events: (records) => {
      if (!format || records.length === 0) return;
      const view = new DataView(records[0]!.buffer);
      const t = time();
      let s = '';
      for (const r of records) s += format.line(view, r.byteOffset, r.byteLength, t);
      out.write(s, records.length);
    },
    sample: (f, entries) => {
      out.write(f.text(entries, time()));
    },
    ...ending(out),
  };
}

/**
 * `stamped` is an event's JSON line with the time it was read first, as ISO 8601 (`timestamp`,
 * as `ig` names it): a struct's object gets it as its first key, any other value becomes
 * `{"timestamp":…,"value":…}`.
 */
export function stamped(line: string, timestamp: string): string {
  if (!line.startsWith('{')) return `{"timestamp":"${timestamp}","value":${line.trimEnd()}}\n`;
  return line.startsWith('{}') ? `{"timestamp":"${timestamp}"}${line.slice(2)}` : `{"timestamp":"${timestamp}",${line.slice(1)}`;
}

/**
 * `jsonOutput` writes one JSON object per event, with its `timestamp`, and per sample entry;
 * `restyle` turns each object's one-line JSON into what `-o` asks for (indented JSON, YAML).
 */
export function jsonOutput(
  stream: NodeJS.WritableStream,
  format: EventFormat | undefined,
  bound: Bound = { limit: OUTPUT_LIMIT },
  restyle?: (json: string) => string,
  now: () => number = Date.now,
): RunOutput {
  const out = coalesce(stream, bound);
  const lines = (text: string) => (restyle === undefined ? text : text.split('\n').slice(0, -1).map(restyle).join(''));
  return {
    start: () => undefined,
    events: (records) => {
      if (!format || records.length === 0) return;
      const view = new DataView(records[0]!.buffer);
      // One read of the clock per batch: its records were read at once.
      const t = new Date(now()).toISOString();
      let s = '';
      for (const r of records) s += stamped(format.json(view, r.byteOffset, r.byteLength), t);
      out.write(lines(s), records.length);
    },
    sample: (f, entries) => {
      if (entries.length > 0) out.write(lines(f.json(entries)));
    },
    ...ending(out),
  };
}

/** `tableHeight` is how many rows the live view keeps for `stdout`: the terminal's height less its other lines (a pty without a size: 24). */
export function tableHeight(stdout: NodeJS.WriteStream): number {
  return Math.max(3, (stdout.rows || 24) - 5);
}

/** `alignRow` lays out one row of the live view as the plain output would; the view cuts it to the terminal's width. */
export function alignRow(time: string, cells: readonly string[], columns: readonly ColumnHead[]): string {
  let s = time.padEnd(TIME_WIDTH);
  cells.forEach((c, i) => {
    s += ' ' + (i === cells.length - 1 ? c : c.padEnd(columns[i]?.width ?? 0));
  });
  return s;
}
