/**
 * The man page, ebpm(1), in roff (the man macros), rendered from the same tables as help: each
 * command's usage, summary, flags and examples. `ebpm help --man` prints it; the build writes it
 * to dist/ebpm.1 (package.json "man"). Pure text.
 */
import type { Command } from './command.js';
import { flagText } from './help.js';

/** `roff` escapes text for a roff text line: backslashes, hyphens (minus signs in flags), and a leading control character. */
export function roff(text: string): string {
  const escaped = text.replaceAll('\\', '\\e').replaceAll('-', '\\-');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

const EXIT_STATUS: readonly (readonly [string, string])[] = [
  ['0', 'success; also a run stopped by --duration or --max-events, or whose output was closed'],
  ['1', 'a failure the message explains, with a hint'],
  ['2', 'bad usage: flags, arguments, references, parameter values'],
  ['3', 'refused by the trust policy or by signature verification'],
  ['4', 'the kernel refused: verifier, a missing program type, helper or kernel feature, permissions'],
  ['70', 'a bug in ebpm (the stack is printed)'],
  ['125', "a Wasm program exited with a code ebpm does not pass through (ebpm's own, the shell's, above 255)"],
  ['130, 143', 'a run stopped by SIGINT or SIGTERM'],
];

function commandSection(cmd: Command): string[] {
  const flags = Object.entries(cmd.flags ?? {}).flatMap(([long, f]) => {
    const short = f.short === undefined ? '' : `\\fB\\-${f.short}\\fR, `;
    const value = f.type === 'string' ? ` \\fI${roff(f.valueName ?? '<value>')}\\fR` : '';
    return ['.TP', `${short}\\fB\\-\\-${roff(long)}\\fR${value}`, roff(flagText(f))];
  });
  const examples = cmd.examples === undefined ? [] : ['.PP', 'Examples:', '.PP', '.RS 4', '.nf', ...cmd.examples.map(roff), '.fi', '.RE'];
  return [`.SS ${cmd.name}`, '.PP', `\\fBusage:\\fR ${roff(cmd.usage)}`, '.PP', roff(cmd.summary), ...flags, ...examples];
}

/** `manPage` is ebpm(1) for `cmds` at `version`. */
export function manPage(cmds: readonly Command[], version: string): string {
  return [
    `.TH EBPM 1 "" "ebpm ${version}" "User Commands"`,
    // References and paths are not to be hyphenated, nor lines stretched between their words.
    '.nh',
    '.ad l',
    '.SH NAME',
    'ebpm \\- package manager and runner for eBPF programs with WebAssembly user space',
    '.SH SYNOPSIS',
    '\\fBebpm\\fR \\fIcommand\\fR [\\fIflags\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    roff(
      'ebpm builds, pushes, pulls, signs, caches and runs eBPF programs, with an optional WebAssembly user space, as versioned OCI artifacts, against any OCI registry or an embedded local one.',
    ),
    roff('`ebpm help <command>` prints the help of one command, as this page shows it below.'),
    '.SH GLOBAL FLAGS',
    '.TP',
    '\\fB\\-\\-json\\fR',
    roff('print the result as JSON on stdout (before or after the command)'),
    '.TP',
    `\\fB\\-\\-plain\\-http\\fR \\fI${roff('<host>')}\\fR`,
    roff('speak plain HTTP to this registry (repeatable; loopback registries need none)'),
    '.TP',
    '\\fB\\-\\-version\\fR, \\fB\\-v\\fR',
    roff("print ebpm's version"),
    '.SH COMMANDS',
    ...cmds.flatMap(commandSection),
    '.SH EXIT STATUS',
    ...EXIT_STATUS.flatMap(([code, what]) => ['.TP', `\\fB${code}\\fR`, roff(what)]),
    '',
  ].join('\n');
}
