/**
 * The CLI's dispatch over a table of commands: global flags, `help`, `--version`, unknown
 * commands with a suggestion, and a command's errors as one line with a hint and its exit code.
 * main.ts gives it every command; `ebpm ls`'s own start-up snapshot (snapshot-ls.ts) only `ls`.
 */
import { errorJson, exitCodeFor, formatError } from './errors.js';
import { takeRepeated, type Command, type Io } from './command.js';
import { suggest } from '../core/suggest.js';
import { VERSION } from './build-facts.js';

/** Commands by name, each loaded when it runs. */
export type CommandTable = Readonly<Record<string, () => Promise<{ default: Command }>>>;

/** `allCommands` loads every command of `commands`: for the overview, completion and the man page. */
export function allCommands(commands: CommandTable): Promise<Command[]> {
  return Promise.all(Object.values(commands).map(async (load) => (await load()).default));
}

/** `usage` lists every command with its summary; only `--help` pays for loading them all. */
async function usage(commands: CommandTable): Promise<string> {
  const [cmds, { twoColumns }] = await Promise.all([allCommands(commands), import('./help.js')]);
  return [
    'usage: ebpm <command> [flags]',
    '',
    'commands:',
    ...twoColumns(cmds.map((c) => [c.name, c.summary])),
    '',
    'global flags (before or after the command):',
    ...twoColumns([
      ['--json', 'print the result as JSON on stdout'],
      ['--plain-http <host>', 'speak plain HTTP to this registry (repeatable; loopback registries need none)'],
    ]),
    '',
    'Run `ebpm help <command>` (or `ebpm <command> --help`) for its flags and examples, `ebpm help --man`',
    'for the man page, `ebpm completion bash|zsh|fish` for shell completion.',
  ].join('\n');
}

/**
 * `takePlainHttp` removes `--plain-http <host>` (any position before `--`, repeatable) and
 * hands the hosts to the command (`Io.plainHttp`, which its context applies): the registries it
 * may speak plain HTTP to besides loopback ones and the config's `insecure` list.
 */
function takePlainHttp(argv: string[], io: Io): { argv: string[]; io: Io } {
  const { args: rest, values: hosts } = takeRepeated(argv, 'plain-http');
  if (hosts.length === 0) return { argv, io };
  return { argv: rest, io: { ...io, plainHttp: [...(io.plainHttp ?? []), ...hosts] } };
}

/** The switch every command takes may come before the command too, as in `ebpm --json ls` (docker, gh). */
const GLOBAL_SWITCHES: ReadonlySet<string> = new Set(['--json']);

/** `leadingSwitchesAfterCommand` moves global switches that precede the command to just after it. */
function leadingSwitchesAfterCommand(argv: readonly string[]): readonly string[] {
  const at = argv.findIndex((a) => !GLOBAL_SWITCHES.has(a));
  return at <= 0 ? argv : [argv[at]!, ...argv.slice(0, at), ...argv.slice(at + 1)];
}

/** `dispatcher` is the CLI over `commands`: `ebpm <args>` with `io`, to its exit code. */
export function dispatcher(commands: CommandTable): (args: string[], io: Io) => Promise<number> {
  const main = async (args: string[], ioIn: Io): Promise<number> => {
    const { argv: given, io } = takePlainHttp(args, ioIn);
    const argv = leadingSwitchesAfterCommand(given);
    const [name, ...rest] = argv;
    const topic = name === 'help' ? rest.find((a) => !a.startsWith('-')) : undefined;
    if (topic !== undefined) return main([topic, '--help'], io);
    if (name === 'help' && rest.includes('--man')) {
      const { manPage } = await import('./man.js');
      io.stdout.write(manPage(await allCommands(commands), VERSION));
      return 0;
    }
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write((await usage(commands)) + '\n');
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-V' || name === '-v') {
      io.stdout.write(`ebpm ${VERSION}\n`);
      return 0;
    }
    const load = commands[name];
    if (!load) {
      const near = suggest(name, Object.keys(commands));
      io.stderr.write(
        `error: unknown command "${name}"\nhint: ${near === undefined ? 'run `ebpm --help` for the list of commands' : `did you mean ebpm ${near}?`}\n`,
      );
      return 2;
    }
    const cmd = (await load()).default;
    if ((rest.includes('--help') || rest.includes('-h')) && !cmd.handlesHelp) {
      io.stdout.write((await import('./help.js')).commandHelp(cmd));
      return 0;
    }
    try {
      return await cmd.run(rest, io);
    } catch (e) {
      io.stderr.write(formatError(e, io.env.EBPM_DEBUG === '1') + '\n');
      // Commands print their JSON only on success, so stdout holds one object either way; one
      // line, so that it also ends the JSON lines of `ebpm run --json`.
      if (wantsJson(rest)) io.stdout.write(`${JSON.stringify(errorJson(e))}\n`);
      return exitCodeFor(e);
    }
  };
  return main;
}

/** `wantsJson` tells whether `--json` is among the command's own flags (before `--`, after which a Wasm guest's arguments start). */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}
