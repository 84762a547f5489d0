/**
 * The live view of `ebpm run` on a terminal, as lines: the attach summary, the header, the newest
 * rows, the latest sample block and the counts, fitted to the terminal. Pure: state and size in,
 * lines out; live-region.ts writes them.
 */
import { cut } from '../format.js';
import type { Line } from './live-region.js';

/** What the live view shows. */
export interface RunScreen {
  /** The one-line attach summary. */
  readonly title: string;
  /** The header line (`TIME     PID …`), or undefined when the package prints no events. */
  readonly header?: string;
  /** The newest rows, oldest first, each one line as the plain output lays it out. */
  readonly rows: readonly string[];
  readonly events: number;
  readonly lost: number;
  /** The latest sample maps' text (histograms), if any. */
  readonly sample?: string;
}

/**
 * `runScreen` lays out the view `columns` wide in at most `height` lines (Infinity: all of it,
 * for the last frame). Every line is cut to the width, so none wraps. When it does not fit, the
 * oldest rows go first, then the end of the sample, for one line saying how much is left out;
 * the summary, the header and the counts always stay.
 */
export function runScreen(s: RunScreen, columns: number, height: number): Line[] {
  const line = (text: string, style?: Line['style']): Line => ({ text: cut(text, columns), ...(style === undefined ? {} : { style }) });
  const top = [line(s.title, 'dim'), ...(s.header === undefined ? [] : [line(s.header, 'bold')])];
  const status = line(`${s.events} events, ${s.lost} lost · Ctrl-C to stop`, 'dim');
  let room = Math.max(0, height - top.length - 1);
  let sample = s.sample === undefined ? [] : s.sample.split('\n');
  if (sample.length > room) sample = room === 0 ? [] : [...sample.slice(0, room - 1), `… ${sample.length - room + 1} more lines`];
  room -= sample.length;
  const rows = room === 0 ? [] : s.rows.slice(-room);
  return [...top, ...rows.map((r) => line(r)), ...sample.map((l) => line(l)), status];
}
