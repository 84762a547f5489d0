/**
 * The command line of `ebpm run`, read in two stages because a package's flags are known only
 * once the package is. `parseRunLine`, before: the package, ebpm's own flags wherever they stand
 * before `--` (the Wasm flags through run-wasm-flags.ts), everything else after the package kept
 * as written. `bpfArgs` and `guestArgs`, after: those words against the package's generated
 * flags, or the Wasm program's arguments after `--`. Pure: no file is touched.
 */
import { resolve } from 'node:path';
import { parseTarget, type TargetProgram, type AttachTarget } from '../../kernel/loader-targets.js';
import { EbpmError, withContext } from '../../core/errors.js';
import { suggest } from '../../core/suggest.js';
import { DEFAULT_TOP, parseSort, type SortKey } from '../../package/result-maps.js';
import type { Flags } from '../command.js';
import { parseValue, type FlagSpec, type ParamValue } from '../../package/params.js';
import type { ProgramSelection } from '../../api/alternatives.js';
import type { PullPolicy } from '../../api/sources.js';
import { pullPolicy } from '../pull-policy.js';
import { takeWasmFlags, WASM_FLAG_NAMES, type WasmFlags } from './run-wasm-flags.js';

export const RUN_USAGE =
  'ebpm run <dir | layout[:tag] | file.bpf.o | file.wasm | package.json | reference> [--json | -o table|wide|json|jsonpretty|yaml] [--filter <field><op><value>,...] [--fields <field>,...] [--verbose] [--duration <duration>] [--max-events <n>] [--attach <program>=<target>]... [--event-type <struct>] [--map-size <map>=<n>]... [--print-map <map>]... [--no-print-map] [--interval <duration>] [--top <n>] [--sort <field>[,-field]...] [--program <name>]... [--skip-program <name>]... [--btf <file>] [--pull always|missing|never] [--follow [--follow-interval <duration>]] [Wasm flags] [package flags] [-- Wasm program args]';

/** ebpm's own flags of `run` besides the Wasm ones, with their help (`parseRunLine` reads them, not parseArgs). */
export const RUN_FLAGS = {
  json: { type: 'boolean', description: "print each event as a JSON line (a Wasm program's lines as strings)" },
  output: {
    type: 'string',
    short: 'o',
    valueName: 'table|wide|json|jsonpretty|yaml',
    description:
      'print events as a table (live and cut to the width on a terminal), wide (plain lines, never cut), JSON lines (as --json), indented JSON or YAML documents',
  },
  filter: {
    type: 'string',
    valueName: '<field><op><value>,...',
    description: 'print only events whose fields match every term: == != < <= > >= or ~ (a regular expression), e.g. comm==bash,pid!=1,fname~^/etc',
  },
  fields: {
    type: 'string',
    valueName: '<field>,...',
    description: 'print these fields, in this order, in the table and JSON; or +field/-field to add to or remove from every field',
  },
  verbose: {
    type: 'boolean',
    description: "show the programs, maps and values, and libbpf's messages; of a Wasm program, the host's details (bad pointers, dropped events)",
  },
  help: { type: 'boolean', short: 'h', description: "show this help; after a package, that package's flags too" },
  duration: { type: 'string', valueName: '<duration>', description: 'stop after this long: 500ms, 10s, 2m, 1h or seconds (exit code 0)' },
  'max-events': { type: 'string', valueName: '<n>', description: 'stop after this many events or Wasm output lines (exit code 0)' },
  pull: { type: 'string', valueName: 'always|missing|never', description: 'pull a reference always, if missing (default) or never' },
  attach: {
    type: 'string',
    multiple: true,
    valueName: '<program>=<target>',
    description: 'attach the program to this target instead of by its section; what uprobe, xdp, tc and cgroup programs need (forms: ebpm run --help)',
  },
  'event-type': {
    type: 'string',
    valueName: '<struct>',
    description:
      'decode events as this struct of the object (default: the declared type, else a struct named event, data_t, <tool>_event or *_event, else hex)',
  },
  'map-size': {
    type: 'string',
    multiple: true,
    valueName: '<map>=<n>',
    description: 'max_entries of this map (maps declared with 0 get 10240, stack_trace maps 1024 of 127 frames, ring buffers 256 KiB)',
  },
  'print-map': {
    type: 'string',
    multiple: true,
    valueName: '<map>',
    description:
      'print this map at the stop; by default every result map of a package without @sample maps: histograms (a value with an integer array `slots`) and counters (see `ebpm inspect`), and arrays of them in .bss/.data (softirqs)',
  },
  'no-print-map': { type: 'boolean', description: 'print no result map' },
  interval: { type: 'string', valueName: '<duration>', description: 'also print the result maps this often (10s, 1m), clearing them' },
  top: { type: 'string', valueName: '<n>', description: `rows of a counter table (default ${DEFAULT_TOP})` },
  sort: {
    type: 'string',
    valueName: '<field>[,-field]...',
    description:
      'order the rows of counter tables and the histograms of a map by these columns, - before one for largest first (default: the first counter, largest first)',
  },
  program: { type: 'string', multiple: true, valueName: '<name>', description: 'load and attach only this program' },
  'skip-program': {
    type: 'string',
    multiple: true,
    valueName: '<name>',
    description:
      'do not load this program. Of programs that attach to one event two ways (tp_btf or raw_tp, fentry or kprobe) only the best one this kernel supports is loaded; `ebpm inspect` shows the choice',
  },
  btf: {
    type: 'string',
    valueName: '<file>',
    description: "relocate CO-RE against this kernel BTF (raw or a vmlinux), instead of the kernel's own or the BTF the package carries for this kernel",
  },
  follow: { type: 'boolean', description: 'follow a range or floating tag: swap in each newer version (SIGHUP checks now)' },
  'follow-interval': { type: 'string', valueName: '<duration>', description: 'time between two checks of the registry with --follow (default 60s)' },
} as const satisfies Flags;

/** The flags of `RUN_FLAGS` a package with a Wasm program refuses (`guestArgs`): its program loads, attaches and prints. */
export const BPF_ONLY_FLAGS: ReadonlySet<string> = new Set([
  'attach',
  'event-type',
  'map-size',
  'print-map',
  'no-print-map',
  'interval',
  'top',
  'sort',
  'program',
  'skip-program',
]);

/** What `-o` prints events as. */
export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'jsonpretty', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** ebpm's own flags besides the Wasm ones: whether each takes a value. */
const OWN: ReadonlyMap<string, boolean> = new Map(Object.entries(RUN_FLAGS).map(([f, o]) => [f, o.type === 'string']));

/** Flag names a package may not take: ebpm's own, their negations and `-h`. */
export const RESERVED_FLAGS: readonly string[] = [...OWN]
  .flatMap(([f, valued]) => [`--${f}`, ...(valued ? [] : [`--no-${f}`])])
  .concat(WASM_FLAG_NAMES, ['-h', '-o']);

/** `RunLine` is the command line read before the package is known. */
export interface RunLine {
  /** The package argument; undefined only with `help`. */
  readonly source?: string;
  /** `--help`, or `-h` before the package (after it, `helpWanted` decides). */
  readonly help: boolean;
  /** `-o`, or `json` with `--json`; default `table`. */
  readonly output: OutputFormat;
  /** Whether events print as JSON, YAML or JSON text rather than a table. */
  readonly json: boolean;
  /** `--filter`, as written: compiled against the events' fields once they are known. */
  readonly filter?: string;
  /** `--fields`, as written. */
  readonly fields?: string;
  readonly verbose: boolean;
  readonly durationMs?: number;
  readonly maxEvents?: number;
  readonly pull: PullPolicy;
  /** `--attach <program>=<target>`: the targets by program, as written. */
  readonly attach: ReadonlyMap<string, string>;
  /** `--event-type <struct>`: the record type of the printed event map. */
  readonly eventType?: string;
  /** `--map-size <map>=<n>`: max_entries by map name. */
  readonly mapSizes: ReadonlyMap<string, number>;
  /** `--print-map` (repeatable): the result maps to print; false with `--no-print-map`; undefined: ebpm's choice. */
  readonly printMaps?: readonly string[] | false;
  /** `--interval <duration>`: print the result maps this often, not only at the stop. */
  readonly intervalMs?: number;
  /** `--top <n>`: rows of a counter table. */
  readonly top?: number;
  /** `--sort`: the order of counter tables' rows and of histograms. */
  readonly sort?: readonly SortKey[];
  /** `--btf <file>`, resolved: the kernel BTF CO-RE relocates against. */
  readonly btf?: string;
  /** `--follow`: milliseconds between two checks for a newer version (`--follow-interval`, default 60 s). */
  readonly followMs?: number;
  /** `--program` (run only these) and `--skip-program`, as given. */
  readonly programs: ProgramSelection;
  readonly wasm: WasmFlags;
  /** What follows the package up to `--`, less ebpm's flags: the package's flags and their values. */
  readonly flags: readonly string[];
  /** What follows `--`. */
  readonly afterDashes: readonly string[];
}

function usageError(message: string, hint = `usage: ${RUN_USAGE}`): EbpmError {
  return new EbpmError('USAGE', `run: ${message}`, { hint });
}

function wholeNumber(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw usageError(`--${flag} ${JSON.stringify(text)}: not a whole number ≥ 0`);
  return n;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The longest timer node keeps (2^31 - 1 ms); past it, `setTimeout` fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const DURATION_HINT = 'write it as 500ms, 10s, 2m, 1h, 1h30m, or a number of seconds';

/**
 * `parseDuration` reads a duration as people write one, in milliseconds: a number of seconds
 * (`10`, `0.5`), or numbers each with a unit ms, s, m or h, largest first (`2m`, `1h30m`,
 * `1.5s`), as Go's and docker's flags take them. Undefined for anything else.
 */
export function parseDuration(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  let last = Number.POSITIVE_INFINITY;
  for (const [, n, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
    const size = DURATION_UNITS[unit!]!;
    if (size >= last) return undefined;
    last = size;
    ms += Number(n) * size;
  }
  return ms;
}

/** `durationFlag` reads `--<flag>`'s duration in ms, or refuses it; `positive` refuses 0. */
function durationFlag(flag: string, text: string, positive: boolean): number {
  const ms = parseDuration(text);
  const at = `--${flag} ${JSON.stringify(text)}`;
  if (ms === undefined) throw usageError(`${at}: not a duration`, DURATION_HINT);
  if (positive && ms === 0) throw usageError(`${at}: must be longer than 0`, DURATION_HINT);
  if (ms > MAX_TIMER_MS) throw usageError(`${at}: longer than 596h, the most a timer can wait`, DURATION_HINT);
  return ms;
}

/**
 * `parseRunLine` reads `argv` (what follows `ebpm run`) before the package is known. ebpm's
 * flags are ebpm's anywhere before `--`, so a package flag's value that spells one of them is
 * written `--flag=value`. Before the package only ebpm's flags may stand: whether a package
 * flag takes a value is not known yet. Every value is checked here, so a bad one costs no
 * build or pull; all errors are `USAGE`.
 */
export function parseRunLine(argv: readonly string[], cwd: string): RunLine {
  const { args, flags: wasm } = takeWasmFlags(argv, cwd, RUN_USAGE);
  const own = new Map<string, string | true>();
  const attach = new Map<string, string>();
  const mapSizes = new Map<string, number>();
  const printMaps: string[] = [];
  const selection = { only: [] as string[], skip: [] as string[] };
  const flags: string[] = [];
  let source: string | undefined;
  let afterDashes: string[] = [];
  for (let i = 0; i < args.length; i++) {
    // After the package, `-h` may be its Wasm program's (ecli passes it on): `helpWanted` decides.
    const arg = args[i] === '-h' && source === undefined ? '--help' : shortOutput(args[i]!);
    if (arg === '--') {
      afterDashes = args.slice(i + 1);
      break;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq < 0 ? undefined : eq) : '';
    const valued = OWN.get(name);
    if (valued === undefined) {
      if (source !== undefined) flags.push(arg);
      else if (arg.startsWith('-') && arg !== '-') throw usageError(`${arg} before the package`, `package flags go after the package; usage: ${RUN_USAGE}`);
      else source = arg;
      continue;
    }
    if (!valued && eq >= 0) throw usageError(`--${name} takes no value`);
    let value: string | true = true;
    if (valued) {
      if (eq >= 0) value = arg.slice(eq + 1);
      else if (i + 1 < args.length && args[i + 1] !== '--') value = args[++i]!;
      else throw usageError(`--${name} needs a value`);
    }
    if (name === 'attach') addAttach(attach, value as string);
    else if (name === 'map-size') addMapSize(mapSizes, value as string);
    else if (name === 'print-map') printMaps.push(value as string);
    else if (name === 'program' || name === 'skip-program') addProgram(name === 'program' ? selection.only : selection.skip, name, value as string);
    else if (own.has(name)) throw usageError(`--${name} given twice`);
    else own.set(name, value);
  }
  const text = (flag: string) => own.get(flag) as string | undefined;
  const duration = text('duration');
  const maxEvents = text('max-events');
  const eventType = text('event-type');
  const interval = text('interval');
  const top = text('top');
  const sort = text('sort');
  const btf = text('btf');
  const followInterval = text('follow-interval');
  const output = outputFormat(text('output'), own.has('json'));
  const filter = text('filter');
  const fields = text('fields');
  if (followInterval !== undefined && !own.has('follow')) throw usageError('--follow-interval needs --follow');
  if (own.has('no-print-map') && printMaps.length > 0) throw usageError('--print-map and --no-print-map together');
  if (top !== undefined && Number(top) === 0) throw usageError(`--top ${JSON.stringify(top)}: not a whole number > 0`);
  let pull: PullPolicy = 'missing';
  try {
    pull = pullPolicy(text('pull') ?? pull);
  } catch (e) {
    throw withContext('run', e);
  }
  const help = own.has('help');
  if (source === undefined && !help) throw usageError('no package given');
  return {
    ...(source === undefined ? {} : { source }),
    help,
    output,
    json: output !== 'table' && output !== 'wide',
    ...(filter === undefined ? {} : { filter }),
    ...(fields === undefined ? {} : { fields }),
    verbose: own.has('verbose'),
    ...(duration === undefined ? {} : { durationMs: durationFlag('duration', duration, false) }),
    ...(maxEvents === undefined ? {} : { maxEvents: wholeNumber('max-events', maxEvents) }),
    pull,
    attach,
    ...(eventType === undefined ? {} : { eventType }),
    mapSizes,
    ...(own.has('no-print-map') ? { printMaps: false as const } : printMaps.length > 0 ? { printMaps } : {}),
    ...(interval === undefined ? {} : { intervalMs: durationFlag('interval', interval, true) }),
    ...(top === undefined ? {} : { top: wholeNumber('top', top) }),
    ...(sort === undefined ? {} : { sort: parseSort(sort) }),
    ...(btf === undefined ? {} : { btf: resolve(cwd, btf) }),
    ...(own.has('follow') ? { followMs: followInterval === undefined ? 60_000 : durationFlag('follow-interval', followInterval, true) } : {}),
    programs: selection,
    wasm,
    flags,
    afterDashes,
  };
}

/** `-o x` and `-ox` are `--output x`: the one short flag of ebpm's own that takes a value. */
function shortOutput(arg: string): string {
  if (arg === '-o') return '--output';
  return arg.startsWith('-o') && !arg.startsWith('--') ? `--output=${arg.slice(2)}` : arg;
}

function outputFormat(text: string | undefined, json: boolean): OutputFormat {
  if (text === undefined) return json ? 'json' : 'table';
  const format = OUTPUT_FORMATS.find((f) => f === text);
  if (format === undefined) {
    const near = suggest(text, OUTPUT_FORMATS);
    throw usageError(
      `-o ${JSON.stringify(text)}: not an output format`,
      `${near === undefined ? '' : `did you mean ${near}? `}formats: ${OUTPUT_FORMATS.join(', ')}`,
    );
  }
  if (json && format !== 'json') throw usageError(`--json and -o ${format} together`, '--json is -o json: give one of them');
  return format;
}

function addAttach(attach: Map<string, string>, spec: string): void {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw usageError(`--attach ${JSON.stringify(spec)}: not <program>=<target>`);
  const program = spec.slice(0, eq);
  if (attach.has(program)) throw usageError(`--attach ${program} given twice`);
  attach.set(program, spec.slice(eq + 1));
}

function addMapSize(sizes: Map<string, number>, spec: string): void {
  const eq = spec.indexOf('=');
  const n = Number(spec.slice(eq + 1));
  if (eq <= 0 || !/^[0-9]+$/.test(spec.slice(eq + 1)) || n < 1 || n > 0xffffffff) {
    throw usageError(`--map-size ${JSON.stringify(spec)}: not <map>=<entries> with entries from 1 to 4294967295`);
  }
  const map = spec.slice(0, eq);
  if (sizes.has(map)) throw usageError(`--map-size ${map} given twice`);
  sizes.set(map, n);
}

function addProgram(list: string[], flag: string, name: string): void {
  if (name === '') throw usageError(`--${flag} needs a program name`);
  if (list.includes(name)) throw usageError(`--${flag} ${name} given twice`);
  list.push(name);
}

/** What a package without a Wasm program runs with. */
export interface BpfArgs {
  readonly values: ReadonlyMap<FlagSpec, ParamValue>;
  /** `--attach` parsed for the package's program of each name. */
  readonly targets: ReadonlyMap<string, AttachTarget>;
}

/** What `parseTarget` and the refusals need of the package. */
export interface RunPackageInfo {
  readonly name: string;
  readonly programs: readonly TargetProgram[];
}

/**
 * `bpfArgs` reads the rest of the line for a package without a Wasm program: its flags, after
 * the package and after `--` alike (it has no program to hand arguments to), and the `--attach`
 * targets for its programs. A Wasm flag, an unknown flag or a program it does not have is
 * `USAGE`; a bad value `INVALID_PARAMETER`.
 */
export function bpfArgs(line: RunLine, pkg: RunPackageInfo, specs: readonly FlagSpec[]): BpfArgs {
  const given = line.wasm.given;
  if (given.length > 0)
    throw usageError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only to packages with a Wasm program, and ${pkg.name} has none`);
  const values = new Map<FlagSpec, ParamValue>();
  readPackageFlags(line.flags, specs, values, '');
  readPackageFlags(line.afterDashes, specs, values, ' after --');
  const targets = new Map<string, AttachTarget>();
  for (const [name, text] of line.attach) {
    const p = pkg.programs.find((x) => x.name === name);
    if (p === undefined)
      throw usageError(`--attach ${name}=${text}: ${pkg.name} has no program ${name} (its programs: ${pkg.programs.map((x) => x.name).join(', ')})`);
    targets.set(name, parseTarget(p, text));
  }
  return { values, targets };
}

/**
 * `helpWanted`: `--help`, or `-h` after a package without a Wasm program; one with a Wasm program
 * gets `-h` as an argument of the program, as ecli passes it, so that it prints its own usage.
 */
export function helpWanted(line: RunLine, wasm: boolean): boolean {
  return line.help || (!wasm && line.flags.includes('-h'));
}

/**
 * `guestArgs` reads the rest of the line for a package with a Wasm program. Flags for ebpm's
 * decoder or loader are refused; every word ebpm does not know, before `--` and after it, is an
 * argument of the Wasm program, in order, as ecli passes them (`ebpm run app.wasm -p 1`).
 */
export function guestArgs(line: RunLine, pkg: RunPackageInfo): readonly string[] {
  if (line.attach.size > 0)
    throw usageError(`--attach does not apply to ${pkg.name}: its Wasm program attaches its programs (grant targets with --allow-attach)`);
  if (line.mapSizes.size > 0) throw usageError(`--map-size does not apply to ${pkg.name}: its Wasm program loads its objects`);
  const chosen = line.programs.only.length > 0 ? '--program' : line.programs.skip.length > 0 ? '--skip-program' : undefined;
  if (chosen !== undefined) throw usageError(`${chosen} does not apply to ${pkg.name}: its Wasm program loads its programs`);
  for (const [flag, given] of [
    ['event-type', line.eventType !== undefined],
    ['print-map', Array.isArray(line.printMaps)],
    ['no-print-map', line.printMaps === false],
    ['interval', line.intervalMs !== undefined],
    ['top', line.top !== undefined],
    ['sort', line.sort !== undefined],
    ['filter', line.filter !== undefined],
    ['fields', line.fields !== undefined],
  ] as const) {
    if (given) throw usageError(`--${flag} does not apply to ${pkg.name}: its Wasm program prints the events`);
  }
  if (line.output !== 'table' && line.output !== 'json')
    throw usageError(
      `-o ${line.output} does not apply to ${pkg.name}: its Wasm program prints the events`,
      'its lines print as they are, or as JSON with -o json',
    );
  return [...line.flags, ...line.afterDashes];
}

/**
 * `packageFlagValues` reads `words` as a package's flags only (no package argument, no `--`),
 * for callers that hold a package's flags without a command line.
 */
export function packageFlagValues(words: readonly string[], specs: readonly FlagSpec[]): Map<FlagSpec, ParamValue> {
  const values = new Map<FlagSpec, ParamValue>();
  readPackageFlags(words, specs, values, '');
  return values;
}

/**
 * `readPackageFlags` reads `words` against the package's generated flags into `values`:
 * `--long value`, `--long=value`, `-s value`, `-svalue`, grouped short switches (`-xP`),
 * `--no-long` for switches. A value may start with `-`, so negative numbers need no `=`. node's
 * `parseArgs` cannot do that nor take flags known only after the package is read, hence this
 * parser. A flag given twice (`values` already holding it), an unknown flag or a word that is
 * no flag's value (`where` says where it stood) is `USAGE`; a bad value `INVALID_PARAMETER`.
 */
function readPackageFlags(words: readonly string[], specs: readonly FlagSpec[], values: Map<FlagSpec, ParamValue>, where: string): void {
  const byLong = new Map(specs.flatMap((s) => [...s.spellings].map(([name, sets]) => [name, { spec: s, sets }] as const)));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short!, s]));
  const set = (s: FlagSpec, spelled: string, text: string | boolean) => {
    if (values.has(s)) throw usageError(`${spelled} given twice`);
    values.set(s, typeof text === 'boolean' ? text : parseValue(s.parameter, text, spelled));
  };
  for (let i = 0; i < words.length; i++) {
    const arg = words[i]!;
    const next = (spelled: string): string => {
      if (i + 1 >= words.length) throw usageError(`${spelled} needs a value`);
      return words[++i]!;
    };
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const hit = byLong.get(name);
      if (hit === undefined) {
        const near = suggest(name, byLong.keys());
        throw near === undefined ? usageError(`unknown flag: --${name}`) : usageError(`unknown flag: --${name}`, `did you mean --${near}?`);
      }
      if (hit.sets === undefined) set(hit.spec, `--${name}`, inline ?? next(`--${name}`));
      else if (inline !== undefined)
        throw usageError(
          hit.spec.spellings.has(`no-${name}`) ? `--${name} is a switch and takes no value; use --no-${name} to turn it off` : `--${name} takes no value`,
        );
      else set(hit.spec, `--${name}`, hit.sets);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]!;
        const s = byShort.get(c);
        if (s === undefined) throw usageError(`unknown flag: -${c}`);
        if (s.isSwitch) {
          set(s, `-${c}`, true);
          continue;
        }
        const tail = arg.slice(j + 1).replace(/^=/, '');
        set(s, `-${c}`, tail !== '' ? tail : next(`-${c}`));
        break;
      }
      continue;
    }
    throw usageError(`unexpected argument ${JSON.stringify(arg)}${where}`);
  }
}
