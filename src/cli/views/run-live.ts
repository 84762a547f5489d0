/**
 * The TTY output of `ebpm run`: keeps the newest rows of each wakeup (only those are formatted)
 * and redraws the live view (run-screen.ts, in a live-region.ts region) at most every
 * `RENDER_MS`, so a burst of events costs one frame, not one per event; at once when the
 * terminal is resized.
 */
import type { EventFormat } from '../../package/decode.js';
import type { SampleFormat } from '../../package/histogram.js';
import { liveRegion } from './live-region.js';
import { alignRow, clock, tableHeight, type RunOutput } from './run-output.js';
import { runScreen } from './run-screen.js';

/** Redraw interval: 10 frames a second reads as live and costs nothing at a million events. */
const RENDER_MS = 100;

export interface LiveOptions {
  readonly stdout: NodeJS.WriteStream;
  readonly format: EventFormat | undefined;
  readonly title: string;
  /** Events seen and lost so far, read at each frame. */
  readonly counts: () => { readonly events: number; readonly lost: number };
  /** Whether the view is drawn in its styles (bold, dim): `paints`. */
  readonly color: boolean;
  /** Rows already laid out to start with (the plain rows the view takes over from, run-terminal.ts). */
  readonly rows?: readonly string[];
}

/** `liveOutput` renders the run as a live view on `stdout`. */
export function liveOutput(opts: LiveOptions): RunOutput {
  const time = clock();
  const rows: string[] = [...(opts.rows ?? [])];
  const samples = new Map<SampleFormat, string>();
  const header = opts.format?.header();
  const region = liveRegion(opts.stdout, opts.color);
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  /** Draws the view in `height` lines: the screen's less the cursor's line, which keeps the frame on the screen. */
  const draw = (height = (opts.stdout.rows || 24) - 1) => {
    dirty = false;
    const sample = samples.size === 0 ? {} : { sample: [...samples.values()].join('\n\n') };
    region.draw(
      runScreen({ title: opts.title, ...(header === undefined ? {} : { header }), rows, ...opts.counts(), ...sample }, opts.stdout.columns || 80, height),
    );
  };
  const resized = () => draw();
  return {
    start() {
      draw();
      timer = setInterval(() => dirty && draw(), RENDER_MS);
      opts.stdout.on('resize', resized);
    },
    events(records) {
      const f = opts.format;
      if (!f || records.length === 0) return;
      const height = tableHeight(opts.stdout);
      const view = new DataView(records[0]!.buffer);
      const t = time();
      for (const r of records.slice(-height)) rows.push(alignRow(t, f.cells(view, r.byteOffset, r.byteLength), f.columns));
      rows.splice(0, Math.max(0, rows.length - height));
      dirty = true;
    },
    sample(f, entries) {
      samples.set(f, f.text(entries, time()).trimEnd());
      dirty = true;
    },
    end() {
      clearInterval(timer);
      opts.stdout.off('resize', resized);
      // The last frame whole (a sample taller than the screen too): nothing is drawn over it.
      draw(Number.POSITIVE_INFINITY);
      region.done();
    },
    // A terminal takes each frame whole (writes to a TTY block): nothing is dropped.
    dropped: () => 0,
  };
}
