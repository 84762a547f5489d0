/**
 * `ebpm run` on a terminal: plain rows at once, then the live table. Loading ink and React takes
 * longer than loading and attaching the programs, so the first rows are printed as plain lines,
 * laid out as the table lays them out; ink starts loading only after the first row or sample
 * (a run that prints nothing never pays for it). Once it is loaded, the live table takes over:
 * the plain lines are erased and the table starts with the rows they showed, so no event is
 * lost or shown twice.
 */
import type { EventFormat } from '../../package/decode.js';
import type { SampleEntry, SampleFormat } from '../../package/histogram.js';
import { cut } from '../format.js';
import { alignRow, clock, tableHeight, type RunOutput } from './run-output.js';

export interface TerminalOptions {
  readonly stdout: NodeJS.WriteStream;
  readonly format: EventFormat | undefined;
  /** The attach summary: the first line, as in the live table. */
  readonly title: string;
  /** Events seen and lost so far, read at each render of the live table. */
  readonly counts: () => { readonly events: number; readonly lost: number };
}

/** `terminalOutput` prints plain rows until the live table is loaded, then hands the run to it. */
export function terminalOutput(opts: TerminalOptions): RunOutput {
  const time = clock();
  const width = opts.stdout.columns || 80;
  const height = tableHeight(opts.stdout);
  /** The newest rows, laid out, for the live table to start with. */
  const rows: string[] = [];
  /** Lines written while plain: what the live table erases. */
  let lines = 0;
  /** Rows written while plain: at most a table's worth. */
  let printed = 0;
  /** The latest entries of each sample map, for the live table (or, if it never comes, the end). */
  const samples = new Map<SampleFormat, readonly SampleEntry[]>();
  let live: RunOutput | undefined;
  let loading = false;
  let ended = false;
  const write = (text: string[]) => {
    opts.stdout.write(`${text.join('\n')}\n`);
    lines += text.length;
  };
  const takeOver = (view: typeof import('./run-live.js')) => {
    if (ended) return;
    // Up to the first plain line, then erase to the end of the screen: the table is drawn there.
    if (lines > 0) opts.stdout.write(`\x1b[${lines}A\r\x1b[J`);
    live = view.liveOutput({ ...opts, rows });
    live.start();
    for (const [f, entries] of samples) live.sample(f, entries);
  };
  /** Loads the live table after this turn: a run that ends now (`--max-events`) ends plain, without waiting for ink. */
  const load = () => {
    if (loading) return;
    loading = true;
    setImmediate(() => {
      if (!ended) void import('./run-live.js').then(takeOver);
    });
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
      // Printed only while they fit on the screen the table takes over; the rest is kept for it, as the table keeps the newest.
      const laid = records.slice(-height).map((r) => alignRow(t, f.cells(view, r.byteOffset, r.byteLength), f.columns, width));
      const shown = records.length <= height ? laid.slice(0, height - printed) : [];
      if (shown.length > 0) write(shown);
      printed += shown.length;
      rows.push(...laid);
      rows.splice(0, Math.max(0, rows.length - height));
      load();
    },
    sample(f, entries) {
      if (live !== undefined) return live.sample(f, entries);
      samples.set(f, entries);
      load();
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
