import type { Readable } from 'node:stream';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { suggest } from '../core/suggest.js';
import { parsePlatforms } from '../core/arch.js';
import { EbpmError, withContext } from '../core/errors.js';
import type { Platform } from '../core/oci.js';

/** `Io` is what a command may touch of the process: streams and environment, injected for tests. */
export interface Io {
  /**
   * Standard input, for commands that take `-` for it (`import -`); a function because node's
   * `process.stdin` takes hold of the descriptor (a terminal's mode) once touched. Absent in most tests.
   */
  readonly stdin?: () => Readable & { isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** `--plain-http <host>` (any command, taken by main): registries to speak plain HTTP to. */
  readonly plainHttp?: readonly string[];
  /** The clock (ms since the epoch), for what prints times relative to now; `Date.now` unless a test sets it. */
  readonly now?: () => number;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `Flag` is one flag of a command, as node's `parseArgs` reads it (which ignores the other keys)
 * with its help: what it does and, for a string flag, what its value is (`<duration>`). Help,
 * completion and the man page are rendered from these, so each flag is described once.
 */
export type Flag = Options[string] & { readonly description: string; readonly valueName?: string };

/** `Flags` is a command's flags by long name. */
export type Flags = Readonly<Record<string, Flag>>;

/** `Command` is one `ebpm <name>`: it parses its flags, calls one service and renders the result. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** The flags it parses (`parseFlags(cmd, args, FLAGS)`), for its help. */
  readonly flags?: Flags;
  /** Whole command lines that show it at work, for its help. */
  readonly examples?: readonly string[];
  /** Set when the command answers `--help` itself (`run`: its flags come from the package). */
  readonly handlesHelp?: boolean;
  run(args: string[], io: Io): Promise<number>;
}

/**
 * `parseFlags` wraps node's `parseArgs` so that a bad flag becomes a `USAGE` error with the
 * command's usage line as hint, instead of node's `ERR_PARSE_ARGS_*` exception.
 */
export function parseFlags<O extends Options>(cmd: Pick<Command, 'name' | 'usage'>, args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw flagError(cmd, e as Error & { code?: string }, Object.keys(options));
  }
}

/** `flagError` says in our words what node's `parseArgs` refused: its own text quotes unevenly and advises at length. */
function flagError(cmd: Pick<Command, 'name' | 'usage'>, e: Error & { code?: string }, names: readonly string[]): EbpmError {
  const usage = `usage: ${cmd.usage}`;
  const flag = /^(?:Unknown option|Option) '(-[^' ]+)/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag !== undefined) {
    const near = flag.startsWith('--') ? suggest(flag.slice(2), names) : undefined;
    return new EbpmError('USAGE', `${cmd.name}: unknown flag: ${flag}`, { hint: near === undefined ? usage : `did you mean --${near}?` });
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag !== undefined) {
    const why = e.message.includes('argument missing') ? 'needs a value' : 'takes no value';
    return new EbpmError('USAGE', `${cmd.name}: ${flag} ${why}`, { hint: usage });
  }
  return new EbpmError('USAGE', `${cmd.name}: ${e.message.split('\n')[0]!.replace(/\.$/, '')}`, { hint: usage });
}

/**
 * `takeRepeated` removes every `--<flag> <value>` and `--<flag>=<value>` before `--` from `args`,
 * for flags read before the command's own parsing (anywhere on the line, repeatable), and
 * returns the other arguments and the values in order. A last `--<flag>` with no value is left
 * in the arguments, for the command's parser to refuse.
 */
export function takeRepeated(args: readonly string[], flag: string): { args: string[]; values: string[] } {
  const values: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (a === `--${flag}` && i + 1 < args.length) values.push(args[++i]!);
    else if (a.startsWith(`--${flag}=`)) values.push(a.slice(flag.length + 3));
    else rest.push(a);
  }
  return { args: rest, values };
}

/** `JSON_FLAG` is the `--json` switch every command offers. */
export const JSON_FLAG = { json: { type: 'boolean', default: false, description: 'print the result as JSON on stdout' } } as const satisfies Flags;

/** `platformsFlag` reads `--platform` (undefined when not given); errors name the command. */
export function platformsFlag(cmd: Pick<Command, 'name'>, value: string | undefined): Platform[] | undefined {
  try {
    return value === undefined ? undefined : parsePlatforms(value);
  } catch (e) {
    throw withContext(cmd.name, e);
  }
}

/** `onePlatform` reads a `--platform` that names one platform (pull, inspect); undefined when not given. */
export function onePlatform(cmd: Pick<Command, 'name'>, value: string | undefined): Platform | undefined {
  const list = platformsFlag(cmd, value);
  if (list !== undefined && list.length !== 1) {
    throw new EbpmError('USAGE', `${cmd.name}: --platform ${value}: give one platform`, { hint: 'build takes several; pull and inspect read one' });
  }
  return list?.[0];
}
