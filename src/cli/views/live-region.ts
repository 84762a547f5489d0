/**
 * A live region on a terminal: lines drawn below what was printed before, each frame written over
 * the last one in place (ANSI: cursor up, erase down, the lines). It only writes what it is
 * given; what the lines say and how wide they are is the caller's layout (run-screen.ts,
 * transfer-screen.ts, a table). No ink, React or yoga: they cost a command on a terminal 200 ms
 * and 20-30 MB of memory for a handful of lines.
 */

/** One line of a region, the one style it is drawn in, and at most one span of it in a colour (a progress bar, a spinner). */
export interface Line {
  readonly text: string;
  readonly style?: 'bold' | 'dim';
  readonly color?: { readonly at: number; readonly length: number; readonly color: 'cyan' | 'green' | 'yellow' };
}

/** `LiveRegion` draws frames in place of each other. */
export interface LiveRegion {
  /** Draws `lines`, each at most the terminal's width, in place of the last frame; the same frame again writes nothing. */
  draw(lines: readonly Line[]): void;
  /** Leaves the last frame on the screen, the cursor below it, and shows the cursor again. */
  done(): void;
}

const ESC = '\x1b[';
/** Synchronized output (mode 2026): a terminal that knows it shows the frame whole, no flicker; others ignore it. */
const BEGIN = `${ESC}?2026h`;
const END = `${ESC}?2026l`;
const HIDE_CURSOR = `${ESC}?25l`;
const SHOW_CURSOR = `${ESC}?25h`;
/**
 * Auto-wrap off while a frame is written (DECAWM): a line the terminal finds wider than the
 * layout thought (wide characters) is cut at the margin instead of wrapping onto a row the next
 * frame would not erase.
 */
const NO_WRAP = `${ESC}?7l`;
const WRAP = `${ESC}?7h`;

/** SGR foreground colours. */
const FOREGROUND = { cyan: 36, green: 32, yellow: 33 } as const;

/** SGR as chalk writes it. */
function paint(l: Line, color: boolean): string {
  if (!color) return l.text;
  let text = l.text;
  if (l.color !== undefined && l.color.at < text.length) {
    const { at, length } = l.color;
    text = `${text.slice(0, at)}${ESC}${FOREGROUND[l.color.color]}m${text.slice(at, at + length)}${ESC}39m${text.slice(at + length)}`;
  }
  return l.style === undefined ? text : `${ESC}${l.style === 'bold' ? 1 : 2}m${text}${ESC}22m`;
}

/** The frame as one string, to compare with the last. */
const textOf = (lines: readonly Line[]) => lines.map((l) => `${l.style ?? ''}:${l.color?.color ?? ''}\n${l.text}`).join('\n');

/**
 * `liveRegion` starts a region at the cursor, which must stand at the start of a line. `color`:
 * whether lines are drawn in their styles (bold, dim).
 */
export function liveRegion(out: NodeJS.WriteStream, color: boolean): LiveRegion {
  let drawn: readonly Line[] = [];
  let drawnText = '';
  /** The width the last frame was drawn at. */
  let width = out.columns || 80;
  let hidden = false;
  // A process that ends without `done` (a bug's exit) must not leave the terminal without its cursor.
  const showCursor = () => out.write(SHOW_CURSOR);
  return {
    draw(lines) {
      const columns = out.columns || 80;
      const text = textOf(lines);
      if (text === drawnText && columns === width) return;
      // A terminal made narrower rewraps the lines that no longer fit (most do: VTE, kitty, iTerm2,
      // tmux): each then takes more rows, and the cursor is that much further below the frame's
      // top. One that cuts them instead (xterm) loses as many lines above the frame.
      const rows = columns < width ? (l: Line) => Math.max(1, Math.ceil(l.text.length / columns)) : () => 1;
      const up = drawn.reduce((n, l) => n + rows(l), 0);
      let s = BEGIN + (hidden ? '' : HIDE_CURSOR) + NO_WRAP + (up > 0 ? `${ESC}${up}A` : '') + `\r${ESC}J`;
      for (const l of lines) s += `${paint(l, color)}\n`;
      out.write(s + WRAP + END);
      if (!hidden) process.once('exit', showCursor);
      hidden = true;
      drawn = lines;
      drawnText = text;
      width = columns;
    },
    done() {
      if (hidden) {
        process.off('exit', showCursor);
        showCursor();
      }
      hidden = false;
    },
  };
}
