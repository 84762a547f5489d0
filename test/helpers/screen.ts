/**
 * `screenOf` replays what a program wrote to a terminal `columns` wide and returns the lines the
 * terminal shows at the end (trailing spaces cut, scrollback kept), for asserting a live view's
 * last frame exactly. It interprets what ink and ebpm write: printable text (wrapping at the
 * right margin), CR, LF, backspace, CSI cursor moves (A B C D G H), erase in line (K) and in
 * display (J); other CSI sequences (SGR colours, private modes such as ?25l and ?2026h) and OSC
 * strings change nothing on the screen and are skipped.
 */
export function screenOf(output: string, columns: number): string[] {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  const line = () => (lines[row] ??= []);
  for (let i = 0; i < output.length; i++) {
    const c = output[i]!;
    if (c === '\u001b') {
      if (output[i + 1] === ']') {
        // OSC: up to BEL or ST.
        const bel = output.indexOf('\u0007', i);
        const st = output.indexOf('\u001b\\', i);
        const ends = [bel, st].filter((n) => n >= 0);
        i = ends.length === 0 ? output.length : Math.min(...ends) + (Math.min(...ends) === st ? 1 : 0);
        continue;
      }
      if (output[i + 1] !== '[') {
        i++;
        continue;
      }
      // biome-ignore lint/suspicious/noControlCharactersInRegex: reading escape sequences is the point
      const m = /^\u001b\[([?>=]?)([0-9;]*)([ -/]*)([@-~])/.exec(output.slice(i));
      if (m === null) throw new Error(`screenOf: unfinished escape sequence at ${i}: ${JSON.stringify(output.slice(i, i + 12))}`);
      i += m[0].length - 1;
      if (m[1] !== '') continue;
      const args = m[2]!.split(';').map((a) => (a === '' ? undefined : Number(a)));
      const n = args[0] ?? 1;
      switch (m[4]) {
        case 'A':
          row = Math.max(0, row - n);
          break;
        case 'B':
          row += n;
          break;
        case 'C':
          col = Math.min(columns - 1, col + n);
          break;
        case 'D':
          col = Math.max(0, col - n);
          break;
        case 'G':
          col = Math.min(columns - 1, n - 1);
          break;
        case 'H':
          row = (args[0] ?? 1) - 1;
          col = (args[1] ?? 1) - 1;
          break;
        case 'K': {
          const mode = args[0] ?? 0;
          const l = line();
          if (mode === 2) l.length = 0;
          else if (mode === 0) l.length = Math.min(l.length, col);
          else for (let k = 0; k <= col && k < l.length; k++) l[k] = ' ';
          break;
        }
        case 'J': {
          const mode = args[0] ?? 0;
          if (mode === 0) {
            line().length = Math.min(line().length, col);
            lines.length = row + 1;
          } else if (mode === 2 || mode === 3) {
            lines.length = 0;
            lines.push([]);
            row = 0;
            col = 0;
          }
          break;
        }
        default:
          // SGR and the rest leave the text as it is.
          break;
      }
      continue;
    }
    if (c === '\r') col = 0;
    else if (c === '\n') row++;
    else if (c === '\b') col = Math.max(0, col - 1);
    else if (c === '\u0007') continue;
    else {
      if (col >= columns) {
        row++;
        col = 0;
      }
      const l = line();
      while (l.length < col) l.push(' ');
      l[col++] = c;
    }
  }
  for (let r = 0; r <= row; r++) lines[r] ??= [];
  const shown = Array.from(lines, (l) => (l ?? []).join('').trimEnd());
  while (shown.length > 0 && shown[shown.length - 1] === '') shown.pop();
  return shown;
}
