/**
 * The non-TTY outputs of `ebpm run`: aligned columns when piped, JSON lines with `--json`.
 * Each batch's records are formatted into one string, and the batches of one event-loop turn
 * are written at once, so a pipe keeps up with a million events. (The TTY's live table is run-live.tsx, loaded only on a TTY.)
 */
import { clockTime, TIME_WIDTH, type ColumnHead, type EventFormat } from '../../package/decode.js';
import type { SampleEntry, SampleFormat } from '../../package/histogram.js';

/** `RunOutput` receives what `runPackage` produces and writes it. */
export interface RunOutput {
  /** Before the first event: headers, or the live table. */
  start(): void;
  events(records: readonly Uint8Array[]): void;
  sample(format: SampleFormat, entries: readonly SampleEntry[]): void;
  /** After the last event: flush, unmount. */
  end(): void;
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

/**
 * `coalesce` gathers what several batches produce within one turn of the event loop and writes
 * it once (`setImmediate` runs after the loop's pending I/O callbacks): a reader whose ring
 * fills fast is woken per event again, and a write per batch of one would cost more than it.
 */
export function coalesce(out: NodeJS.WritableStream): { write(s: string): void; flush(): void } {
  let pending = '';
  let scheduled: NodeJS.Immediate | undefined;
  const flush = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (pending === '') return;
    const s = pending;
    pending = '';
    out.write(s);
  };
  return {
    write(s) {
      pending += s;
      if (pending.length >= 1 << 20) flush();
      else scheduled ??= setImmediate(flush);
    },
    flush,
  };
}

/** `plainOutput` writes a header, then one aligned line per event; samples as text blocks. */
export function plainOutput(stream: NodeJS.WritableStream, format: EventFormat | undefined, now: () => number = Date.now): RunOutput {
  const time = clock(now);
  const out = coalesce(stream);
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
      out.write(s);
    },
    sample: (f, entries) => {
      out.write(f.text(entries, time()));
    },
    end: () => out.flush(),
  };
}

/** `jsonOutput` writes one JSON object per event and per sample entry. */
export function jsonOutput(stream: NodeJS.WritableStream, format: EventFormat | undefined): RunOutput {
  const out = coalesce(stream);
  return {
    start: () => undefined,
    events: (records) => {
      if (!format || records.length === 0) return;
      const view = new DataView(records[0]!.buffer);
      let s = '';
      for (const r of records) s += format.json(view, r.byteOffset, r.byteLength);
      out.write(s);
    },
    sample: (f, entries) => {
      if (entries.length > 0) out.write(f.json(entries));
    },
    end: () => out.flush(),
  };
}

/**
 * `alignRow` lays out one row of the live table as the plain output would, cut to `width`
 * characters so a long path cannot wrap the table.
 */
export function alignRow(time: string, cells: readonly string[], columns: readonly ColumnHead[], width: number): string {
  let s = time.padEnd(TIME_WIDTH);
  cells.forEach((c, i) => {
    s += ' ' + (i === cells.length - 1 ? c : c.padEnd(columns[i]?.width ?? 0));
  });
  return s.length > width ? s.slice(0, Math.max(0, width - 1)) + '…' : s;
}
