/**
 * What `ebpm help <command>` and `ebpm <command> --help` print, rendered from the command's own
 * tables (`Command.flags`, `Command.examples`), so that help says what the parser reads. Pure
 * text, no I/O; lines fit 100 columns, whatever the terminal, so the output is the same
 * everywhere.
 */
import type { Command, Flag, Flags } from './command.js';

const WIDTH = 100;
/** Flag spellings longer than this get their description on the next line. */
const LEFT_MAX = 28;

/** `flagSpelling` is how a flag is written in help: `-u, --username <user>`; `    --json` in a table with short flags. */
export function flagSpelling(long: string, flag: Flag, shortColumn = flag.short !== undefined): string {
  const short = flag.short !== undefined ? `-${flag.short}, ` : shortColumn ? '    ' : '';
  return `${short}--${long}${flag.type === 'string' ? ` ${flag.valueName ?? '<value>'}` : ''}`;
}

/** `flagText` is a flag's description with what the table adds: repeatable, and a non-empty default. */
export function flagText(flag: Flag): string {
  const notes = [
    ...(flag.multiple === true ? ['repeatable'] : []),
    ...(typeof flag.default === 'string' && flag.default !== '' ? [`default ${flag.default}`] : []),
  ];
  return notes.length === 0 ? flag.description : `${flag.description} (${notes.join('; ')})`;
}

/** `wrap` cuts `text` into lines of at most `width` characters at spaces (a longer word stays whole). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

/**
 * `twoColumns` lays out `[left, text]` rows indented by two: text in a column of its own,
 * wrapped; a `\n` in text starts a line of its own there (lists under a flag).
 */
export function twoColumns(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.min(LEFT_MAX, Math.max(0, ...rows.map(([l]) => l.length)));
  const pad = ' '.repeat(2 + width + 2);
  return rows.flatMap(([left, text]) => {
    const body = text.split('\n').flatMap((part) => wrap(part, WIDTH - pad.length));
    const first = left.length > width ? [`  ${left}`] : [`  ${left.padEnd(width)}  ${body.shift() ?? ''}`.trimEnd()];
    return [...first, ...body.map((l) => `${pad}${l}`)];
  });
}

/** `flagLines` are a table of flags as help lists them, in the table's order. */
export function flagLines(flags: Flags): string[] {
  const shorts = Object.values(flags).some((f) => f.short !== undefined);
  return twoColumns(Object.entries(flags).map(([long, f]) => [flagSpelling(long, f, shorts), flagText(f)]));
}

/** `HelpSection` is a titled block of help beyond the flags (run's attach targets). */
export interface HelpSection {
  readonly title: string;
  readonly lines: readonly string[];
}

/** `commandHelp` is a command's help: usage, summary, flags, `sections`, examples. */
export function commandHelp(cmd: Command, sections: readonly HelpSection[] = []): string {
  const flags = cmd.flags === undefined || Object.keys(cmd.flags).length === 0 ? [] : ['', 'flags:', ...flagLines(cmd.flags)];
  const more = sections.flatMap((s) => ['', s.title, ...s.lines]);
  const examples = cmd.examples === undefined ? [] : ['', 'examples:', ...cmd.examples.map((e) => `  ${e}`)];
  return [`usage: ${cmd.usage}`, '', ...wrap(cmd.summary, WIDTH), ...flags, ...more, ...examples, ''].join('\n');
}
