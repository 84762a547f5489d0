/**
 * The TTY output of `ebpm run`: keeps the newest rows of each wakeup (only those are formatted)
 * and re-renders the `RunTable` at most every `RENDER_MS`, so a burst of events costs one
 * render, not one per event. Imported only when stdout is a TTY, once the first rows are printed
 * (run-terminal.ts): ink and React stay unloaded otherwise.
 */
import { render, type Instance } from 'ink';
import type { EventFormat } from '../../package/decode.js';
import type { SampleFormat } from '../../package/histogram.js';
import { cut } from '../format.js';
import { alignRow, clock, tableHeight, type RunOutput } from './run-output.js';
import { RunTable, type RunTableProps } from './run-table.js';

/** Re-render interval: 10 frames a second reads as live and costs nothing at a million events. */
const RENDER_MS = 100;

export interface LiveOptions {
  readonly stdout: NodeJS.WriteStream;
  readonly format: EventFormat | undefined;
  readonly title: string;
  /** Events seen and lost so far, read at each render. */
  readonly counts: () => { readonly events: number; readonly lost: number };
  /** Rows already laid out to start with (the plain rows the table takes over from, run-terminal.ts). */
  readonly rows?: readonly string[];
}

/** `liveOutput` renders the run as a live table on `stdout`. */
export function liveOutput(opts: LiveOptions): RunOutput {
  const time = clock();
  const height = tableHeight(opts.stdout);
  const width = opts.stdout.columns || 80;
  const rows: string[] = [...(opts.rows ?? [])];
  const samples = new Map<SampleFormat, string>();
  let instance: Instance | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  const props = (): RunTableProps => ({
    title: opts.title,
    width,
    // Cut as the rows are: a header wider than the terminal would wrap and push the table down.
    ...(opts.format ? { header: cut(opts.format.header(), width) } : {}),
    rows,
    ...opts.counts(),
    ...(samples.size === 0 ? {} : { sample: [...samples.values()].join('\n\n') }),
  });
  const draw = () => {
    dirty = false;
    instance?.rerender(<RunTable {...props()} />);
  };
  return {
    start() {
      instance = render(<RunTable {...props()} />, { stdout: opts.stdout, exitOnCtrlC: false, patchConsole: false });
      timer = setInterval(() => dirty && draw(), RENDER_MS);
    },
    events(records) {
      const f = opts.format;
      if (!f || records.length === 0) return;
      const view = new DataView(records[0]!.buffer);
      const t = time();
      for (const r of records.slice(-height)) rows.push(alignRow(t, f.cells(view, r.byteOffset, r.byteLength), f.columns, width));
      rows.splice(0, Math.max(0, rows.length - height));
      dirty = true;
    },
    sample(f, entries) {
      samples.set(f, f.text(entries, time()).trimEnd());
      dirty = true;
    },
    end() {
      clearInterval(timer);
      draw();
      instance?.unmount();
    },
    // A terminal takes each frame whole (writes to a TTY block): nothing is dropped.
    dropped: () => 0,
  };
}
