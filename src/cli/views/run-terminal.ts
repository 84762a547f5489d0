/**
 * `ebpm run` on a terminal: plain rows at once, then the live view. The first rows are printed as
 * plain lines the moment they exist, laid out as the view lays them out; the view takes over
 * after that turn of the event loop (a run that ends in it, `--max-events`, ends plain, and one
 * that prints nothing never starts it): the plain lines are erased and the view starts with the
 * rows they showed, so no event is lost or shown twice.
 */
import type { EventFormat } from '../../package/decode.js';
import type { SampleEntry, SampleFormat } from '../../package/histogram.js';
import { cut } from '../format.js';
import { alignRow, clock, tableHeight, type RunOutput } from './run-output.js';
import { liveOutput } from './run-live.js';

export interface TerminalOptions {
  readonly stdout: NodeJS.WriteStream;
  readonly format: EventFormat | undefined;
  /** The attach summary: the first line, as in the live table. */
  readonly title: string;
  /** Events seen and lost so far, read at each frame of the live view. */
  readonly counts: () => { readonly events: number; readonly lost: number };
  /** Whether the live view is drawn in its styles (bold, dim): `paints`. */
  readonly color: boolean;
  /** The clock of the rows' times; `Date.now` unless the snapshot's warm-up sets one. */
  readonly now?: () => number;
}

/** `terminalOutput` prints plain rows until the end of the turn, then hands the run to the live view. */
export function terminalOutput(opts: TerminalOptions): RunOutput {
  const time = clock(opts.now);
  const width = opts.stdout.columns || 80;
  const height = tableHeight(opts.stdout);
  /** The newest rows, laid out, for the live view to start with. */
  const rows: string[] = [];
  /** Lines written while plain: what the live view erases. */
  let lines = 0;
  /** Rows written while plain: at most a table's worth. */
  let printed = 0;
  /** The latest entries of each sample map, for the live view (or, if it never comes, the end). */
  const samples = new Map<SampleFormat, readonly SampleEntry[]>();
  let live: RunOutput | undefined;
  let planned = false;
  let ended = false;
  const write = (text: string[]) => {
    opts.stdout.write(`${text.join('\n')}\n`);
    lines += text.length;
  };
  const takeOver = () => {
    if (ended) return;
    // Up to the first plain line, then erase to the end of the screen: the view is drawn there.
    if (lines > 0) opts.stdout.write(`\x1b[${lines}A\r\x1b[J`);
    live = liveOutput({ ...opts, rows });
    live.start();
    for (const [f, entries] of samples) live.sample(f, entries);
  };
  /** Starts the live view after this turn: a run that ends now (`--max-events`) ends plain. */
  const plan = () => {
    if (planned) return;
    planned = true;
    setImmediate(takeOver);
  };
  return {
    start() {
      write([cut(opts.title, width), ...(opts.format ? [cut(opts.format.header(), width)] : [])]);
    },
    events(records) {
      if (live !== undefined) return live.events(records);
      const f = opts.format;
      if (!f || records.length === 0) return;
      const view = new DataView(records[0]!.buffer);
      const t = time();
      // Printed only while they fit on the screen the view takes over; the rest is kept for it, as the view keeps the newest.
      const laid = records.slice(-height).map((r) => alignRow(t, f.cells(view, r.byteOffset, r.byteLength), f.columns));
      const shown = records.length <= height ? laid.slice(0, height - printed) : [];
      if (shown.length > 0) write(shown.map((r) => cut(r, width)));
      printed += shown.length;
      rows.push(...laid);
      rows.splice(0, Math.max(0, rows.length - height));
      plan();
    },
    sample(f, entries) {
      if (live !== undefined) return live.sample(f, entries);
      samples.set(f, entries);
      plan();
    },
    end(abandon) {
      ended = true;
      if (live !== undefined) return live.end(abandon);
      const t = time();
      for (const [f, entries] of samples) opts.stdout.write(f.text(entries, t));
    },
    // A terminal takes each write whole (writes to a TTY block): nothing is dropped.
    dropped: () => 0,
  };
}
