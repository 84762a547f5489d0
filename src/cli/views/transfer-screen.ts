/**
 * The live view of `ebpm push`, `pull` and `cp` on a terminal, as lines: a spinner while the
 * reference resolves, then one progress bar per blob (bytes and rate) and a total bar. Every blob
 * keeps its row, in `transferRows` order, until the end. Pure: state and size in, lines out;
 * live-region.ts writes them.
 */
import { shortDigest } from '../../core/digest.js';
import { bar, cut, formatBytes, formatRate, SPINNER, transferRows, transferTotals, type TransferState } from '../format.js';
import type { Line } from './live-region.js';

/** What the view shows, and on what. */
export interface TransferScreen {
  readonly verb: 'push' | 'pull';
  readonly state: TransferState;
  /** Milliseconds since the transfer started moving bytes (for rates). */
  readonly elapsedMs: number;
  /** Spinner frame counter. */
  readonly frame: number;
  readonly width: number;
  /** Terminal rows: the view stays shorter, so that a frame never scrolls. */
  readonly height: number;
  /** The last frame, which stays on the terminal: totals without a rate. */
  readonly final?: boolean;
}

const BAR = 24;

/** `transferScreen` lays out the view; blob lines are cut to the width, with `…`. */
export function transferScreen(s: TransferScreen): Line[] {
  const state = s.state;
  const lines: Line[] = [];
  if (state.resolving !== undefined) {
    lines.push({ text: `${SPINNER[s.frame % SPINNER.length]} resolving ${state.resolving}`, color: { at: 0, length: 1, color: 'yellow' } });
  }
  const labelWidth = Math.max(8, Math.min(32, s.width - BAR - 60));
  // Less the spinner's, the total's and the cursor's lines.
  const { rows, more } = transferRows(state, s.height - 3);
  for (const b of rows) {
    const head = `${shortDigest(b.digest)}  ${cut(b.label, labelWidth).padEnd(labelWidth)}  `;
    const tail =
      b.state === 'skipped'
        ? 'exists'
        : `${formatBytes(b.bytes)} / ${formatBytes(b.size)}${b.state === 'active' ? `  ${formatRate(b.bytes, s.elapsedMs)}` : ''}`;
    lines.push({
      text: cut(`${head}${bar(b.size === 0 ? 1 : b.bytes / b.size, BAR)}  ${tail}`, s.width),
      color: { at: head.length, length: BAR, color: b.state === 'active' ? 'cyan' : 'green' },
    });
  }
  if (more > 0) lines.push({ text: `… and ${more} more` });
  if (state.blobs.length > 0) {
    const total = transferTotals(state);
    const rate = s.final ? '' : `  ${formatRate(total.bytes, s.elapsedMs)}`;
    const verb = s.verb === 'push' ? 'pushing' : 'pulling';
    lines.push({
      text: `${verb} ${state.resolved?.ref ?? ''}  ${bar(total.size === 0 ? 1 : total.bytes / total.size, BAR)}  ${formatBytes(total.bytes)} / ${formatBytes(total.size)}${rate}`,
      style: 'bold',
    });
  }
  return lines;
}
