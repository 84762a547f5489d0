/**
 * Display logic of the distribution commands, kept out of the views' writers so it is tested as
 * plain functions: byte and rate units, progress bars, table layout, and the transfer state a
 * push or pull view lays out (a reducer over `TransferEvent`s).
 */
import type { BuildNotice } from '../api/build.js';
import type { TransferEvent } from '../api/transfer.js';
import type { Io } from './command.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `formatBytes` is `n` in binary units with one decimal from KiB up: `512 B`, `1.5 KiB`, `64.0 MiB`. */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

/** `formatRate` is bytes over milliseconds as `<bytes>/s` (`–` before any time has passed). */
export function formatRate(bytes: number, ms: number): string {
  return ms <= 0 ? '–' : `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

const AGE_UNITS: readonly [string, number][] = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['week', 7 * 86_400],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
];

/**
 * `formatAge` is how long before `now` (ms) the ISO time `iso` was, in its largest whole unit:
 * `1 second ago`, `3 minutes ago`, `2 weeks ago` (a month is 30 days, a year 365). Under a
 * second, or in the future (another machine's clock), it is `just now`; a time that does not parse is `-`.
 */
export function formatAge(iso: string, now: number): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '-';
  const seconds = Math.floor((now - at) / 1000);
  for (const [unit, size] of AGE_UNITS) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  }
  return 'just now';
}

/** `bar` draws a `width`-cell progress bar for `fraction` in [0, 1]. */
export function bar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

/** `cut` is `text` cut to `width` characters with `…` when it is longer. */
export function cut(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
}

/**
 * `layoutTable` aligns `rows` under `header` with two spaces between columns, the last column
 * unpadded; cells longer than `maxCell` are cut with `…`. Returns one string per line.
 */
export function layoutTable(header: readonly string[], rows: readonly (readonly string[])[], maxCell = 60): string[] {
  const all = [header, ...rows].map((r) => r.map((c) => cut(c, maxCell)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * `fitColumn` shortens the cells of column `col` (with `…`, to no fewer than `min` characters) so
 * that the lines `layoutTable` makes of them fit in `width`; the other columns keep their cells.
 */
export function fitColumn(header: readonly string[], rows: readonly (readonly string[])[], col: number, width: number, maxCell = 60, min = 10): string[][] {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => Math.min((r[i] ?? '').length, maxCell))));
  const over = widths.reduce((n, w) => n + w, 2 * (header.length - 1)) - width;
  const keep = Math.max(min, widths[col]! - over);
  return rows.map((r) => r.map((c, i) => (i === col && over > 0 ? cut(c, keep) : c)));
}

/** `BlobState` is one blob of a transfer. */
export interface BlobState {
  readonly digest: string;
  readonly label: string;
  readonly size: number;
  readonly bytes: number;
  readonly state: 'active' | 'done' | 'skipped';
}

/** `TransferState` is what a push or pull view shows. */
export interface TransferState {
  /** Waiting for the reference to resolve (the spinner). */
  readonly resolving: string | undefined;
  readonly resolved: { readonly ref: string; readonly digest: string } | undefined;
  readonly blobs: readonly BlobState[];
  /** When the first byte-moving event arrived (ms), for the rate. */
  readonly startedAt: number | undefined;
}

export const INITIAL_TRANSFER: TransferState = Object.freeze({ resolving: undefined, resolved: undefined, blobs: [], startedAt: undefined });

/** `reduceTransfer` folds one event into the state (pure; `now` in ms). */
export function reduceTransfer(s: TransferState, e: TransferEvent, now: number): TransferState {
  const update = (digest: string, f: (b: BlobState) => BlobState): readonly BlobState[] => s.blobs.map((b) => (b.digest === digest ? f(b) : b));
  switch (e.kind) {
    case 'resolving':
      return { ...s, resolving: terminalSafe(e.ref) };
    case 'resolved':
      return { ...s, resolving: undefined, resolved: { ref: terminalSafe(e.ref), digest: e.digest } };
    case 'blob-start':
      if (s.blobs.some((b) => b.digest === e.digest)) return s;
      return {
        ...s,
        startedAt: s.startedAt ?? now,
        blobs: [...s.blobs, { digest: e.digest, label: terminalSafe(e.label), size: e.size, bytes: 0, state: 'active' }],
      };
    case 'blob-progress':
      return { ...s, blobs: update(e.digest, (b) => ({ ...b, bytes: e.bytes })) };
    case 'blob-done':
      return { ...s, blobs: update(e.digest, (b) => ({ ...b, bytes: b.size, state: 'done' })) };
    case 'blob-skipped':
      if (s.blobs.some((b) => b.digest === e.digest)) return s;
      return { ...s, blobs: [...s.blobs, { digest: e.digest, label: terminalSafe(e.label), size: e.size, bytes: e.size, state: 'skipped' }] };
  }
}

/**
 * `transferRows` is what a transfer view lists, in an order that is the same at every frame
 * whatever order uploads start and finish in: by label (a config's is its media type, so it
 * comes before the files), then digest, and the resolved root manifest last. At most `limit`
 * lines: past it (a terminal too short for every blob) the blobs in flight stay, the earliest
 * of the others fill what is left but one line, and `more` counts those left out.
 */
export function transferRows(s: TransferState, limit = Number.POSITIVE_INFINITY): { rows: readonly BlobState[]; more: number } {
  const root = s.resolved?.digest;
  const key = (b: BlobState) => `${b.digest === root ? 1 : 0}\u0000${b.label}\u0000${b.digest}`;
  const all = [...s.blobs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  if (all.length <= limit) return { rows: all, more: 0 };
  const room = Math.max(1, limit - 1);
  const kept = new Set(all.filter((b) => b.state === 'active').slice(0, room));
  for (const b of all) if (kept.size < room && b.state !== 'active') kept.add(b);
  const rows = all.filter((b) => kept.has(b));
  return { rows, more: all.length - rows.length };
}

/** `transferTotals` sums what moved (skipped blobs count toward neither). */
export function transferTotals(s: TransferState): { bytes: number; size: number } {
  let bytes = 0;
  let size = 0;
  for (const b of s.blobs) {
    if (b.state === 'skipped') continue;
    bytes += b.bytes;
    size += b.size;
  }
  return { bytes, size };
}

/** `SPINNER` frames (braille dots, as most terminal UIs use). */
export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * `terminalSafe` makes every control character of `text` visible as `\xNN`: C0 (but tab and
 * newline when `multiline`), DEL and C1. Text ebpm did not write itself (registry messages,
 * package metadata, annotations) passes here before it reaches a terminal, so that an escape
 * sequence in it (`ESC ] 0 ; title BEL`, `ESC [ 2 J`, a C1 `CSI`) prints as text instead of
 * driving the terminal. `--json` output does not pass here: JSON escapes them already.
 */
export function terminalSafe(text: string, multiline = false): string {
  return text.replace(multiline ? CONTROL_BUT_LINES : CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `writeText` prints `text` (whole lines) for people: every printer of text from outside ebpm goes through it. */
export function writeText(out: NodeJS.WritableStream, text: string): void {
  out.write(terminalSafe(text, true));
}

/** `writeNotices` prints a build's warnings and notes, one `level: message` line each (services/build.ts `buildNotices`). */
export function writeNotices(out: NodeJS.WritableStream, notices: readonly BuildNotice[] = []): void {
  for (const n of notices) writeText(out, `${n.level}: ${n.message}\n`);
}

/**
 * `isLive` is true when output goes to a terminal for a person: live views (live-region.ts), not
 * plain lines.
 * `CI` set to anything but the empty string means a log, not a person, whatever the terminal.
 * `NO_COLOR` (no-color.org: any non-empty value) asks for plain text: live views redraw with
 * escape sequences and colour, so it gets the plain lines, with no escape sequence at all.
 */
export function isLive(io: Pick<Io, 'stdout' | 'env'>, json: boolean): boolean {
  return !json && io.stdout.isTTY === true && !io.env.CI && !io.env.NO_COLOR;
}

/**
 * `paints` is whether a live view shows its styles and colours (bold, dim, a bar's colour), as
 * chalk decides: `FORCE_COLOR` decides when set (`0` and `false`: no), else a terminal named by
 * `TERM` but `dumb`, or one that says `COLORTERM`.
 */
export function paints(env: Io['env']): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  return env.TERM !== 'dumb' && !!(env.TERM || env.COLORTERM);
}
