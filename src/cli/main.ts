import { errorJson, exitCodeFor, formatError } from './errors.js';
import { takeRepeated, type Command, type Io } from './command.js';
import { suggest } from '../core/suggest.js';
import { VERSION } from './build-facts.js';

/** Commands load lazily: `ebpm run` must not pay for the registry client or ink. */
const COMMANDS: Record<string, () => Promise<{ default: Command }>> = {
  build: () => import('./commands/build.js'),
  check: () => import('./commands/check.js'),
  init: () => import('./commands/init.js'),
  inspect: () => import('./commands/inspect.js'),
  push: () => import('./commands/push.js'),
  pull: () => import('./commands/pull.js'),
  tag: () => import('./commands/tag.js'),
  cp: () => import('./commands/cp.js'),
  ls: () => import('./commands/ls.js'),
  rm: () => import('./commands/rm.js'),
  prune: () => import('./commands/prune.js'),
  login: () => import('./commands/login.js'),
  logout: () => import('./commands/logout.js'),
  search: () => import('./commands/search.js'),
  versions: () => import('./commands/versions.js'),
  export: () => import('./commands/export.js'),
  import: () => import('./commands/import.js'),
  keygen: () => import('./commands/keygen.js'),
  run: () => import('./commands/run.js'),
  sign: () => import('./commands/sign.js'),
  verify: () => import('./commands/verify.js'),
  agent: () => import('./commands/agent.js'),
  ps: () => import('./commands/ps.js'),
  logs: () => import('./commands/logs.js'),
  stop: () => import('./commands/stop.js'),
  start: () => import('./commands/start.js'),
  version: () => import('./commands/version.js'),
  completion: async () => ({ default: (await import('./commands/completion.js')).completionCommand(allCommands) }),
};

/** Every command, loaded: for the overview, completion and the man page. */
function allCommands(): Promise<Command[]> {
  return Promise.all(Object.values(COMMANDS).map(async (load) => (await load()).default));
}

/** `usage` lists every command with its summary; only `--help` pays for loading them all. */
async function usage(): Promise<string> {
  const [cmds, { twoColumns }] = await Promise.all([allCommands(), import('./help.js')]);
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

export async function main(args: string[], ioIn: Io): Promise<number> {
  const { argv: given, io } = takePlainHttp(args, ioIn);
  const argv = leadingSwitchesAfterCommand(given);
  const [name, ...rest] = argv;
  const topic = name === 'help' ? rest.find((a) => !a.startsWith('-')) : undefined;
  if (topic !== undefined) return main([topic, '--help'], io);
  if (name === 'help' && rest.includes('--man')) {
    const { manPage } = await import('./man.js');
    io.stdout.write(manPage(await allCommands(), VERSION));
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write((await usage()) + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === '-v') {
    io.stdout.write(`ebpm ${VERSION}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    const near = suggest(name, Object.keys(COMMANDS));
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
}

/** `wantsJson` tells whether `--json` is among the command's own flags (before `--`, after which a Wasm guest's arguments start). */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}
