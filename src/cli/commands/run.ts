/**
 * `ebpm run`: resolve the package, turn its parameters into flags, run it and print its events:
 * a live table on a TTY, aligned columns when piped, JSON lines with `--json`. The attach
 * summary and the final count go to stderr, so stdout holds only events.
 *
 * Exit codes: 0 after `--duration`, `--max-events` or once stdout is closed (`| head`); 130
 * after SIGINT and 143 after SIGTERM (128 + the signal number, as shells report them), every
 * program detached either way. A package with a Wasm program runs it instead (runGuest): its
 * exit code is ebpm's.
 */
import { closeSync, openSync } from 'node:fs';
import { isatty } from 'node:tty';
import { takeRepeated, type Command, type Io } from '../command.js';
import type { LogLevel } from '../../bpf/native.js';
import { ATTACH_FORMS, parseTarget, type TargetSpec } from '../../bpf/loader-targets.js';
import { EbpmError, isEbpmError } from '../../core/errors.js';
import { eventFormat, rawEventFormat, type EventFormat } from '../../package/decode.js';
import { sampleFormat, type SampleFormat } from '../../package/histogram.js';
import { assignments, findSource, flagHelp, flagSpecs, parseRunArgs, type OwnFlag, type ParamValue, type FlagSpec } from '../../package/params.js';
import { localSource, PULL_POLICIES, resolvePackage, type PackageSource, type PullPolicy, type ResolvedPackage } from '../../services/run-source.js';
import { planRun, runPackage, type AttachedProgram, type RunPlan, type RunResult, type SamplePlan, type StopReason } from '../../services/run.js';
import { terminalSafe, writeText } from '../format.js';
import { coalesce, jsonOutput, plainOutput, type RunOutput } from '../views/run-output.js';
import { takeWasmFlags, WASM_FLAG_HELP, WASM_FLAG_NAMES, type WasmFlags } from './run-wasm-flags.js';

const OWN: readonly OwnFlag[] = [
  { long: 'json', takesValue: false },
  { long: 'verbose', takesValue: false },
  { long: 'duration', takesValue: true },
  { long: 'max-events', takesValue: true },
  { long: 'pull', takesValue: true },
  { long: 'help', takesValue: false },
];

const USAGE =
  'ebpm run <dir | layout[:tag] | file.bpf.o | file.wasm | package.json | reference> [--json] [--verbose] [--duration <s>] [--max-events <n>] [--attach <program>=<target>]... [--pull always|missing|never] [Wasm flags] [package flags] [-- Wasm program args]';

const HELP = [
  'flags:',
  '  --json                    print events as JSON lines',
  "  --verbose                 show the programs, maps and values, and libbpf's messages",
  '  --duration <s>            stop after this many seconds (exit code 0)',
  '  --max-events <n>          stop after this many events (exit code 0)',
  '  --pull <policy>           pull a reference always, if missing (default) or never',
  '  --attach <program>=<target>',
  '                            attach the program to this target instead of by its section',
  '                            (repeatable; what uprobe, xdp, tc and cgroup programs need):',
  ...ATTACH_FORMS.map((f) => `      ${f}`),
  '',
  'flags for packages with a Wasm program (its own arguments go after --):',
  ...WASM_FLAG_HELP,
  '',
  'SIGINT and SIGTERM stop the run with exit code 130 and 143, a closed stdout (| head) with 0;',
  "a Wasm program's exit code is ebpm's.",
].join('\n');

/**
 * Registry references, through the pull service (loaded only when no local path matched: a
 * local run does not pay for the registry client).
 */
const registrySource: PackageSource = {
  async resolve(arg, opts) {
    const [{ referenceSource }, { openContext }] = await Promise.all([import('../../services/pull.js'), import('../../services/context.js')]);
    return referenceSource(() => openContext(opts.env)).resolve(arg, opts);
  },
};

/** `sources` are tried in order: local paths, then references. */
const sources: readonly PackageSource[] = [localSource(), registrySource];

function usageError(message: string): EbpmError {
  return new EbpmError('USAGE', `run: ${message}`, { hint: `usage: ${USAGE}` });
}

function positiveNumber(flag: string, text: string | true | undefined, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isSafeInteger(n))) {
    throw usageError(`--${flag} ${JSON.stringify(text)}: not a ${integer ? 'whole number' : 'number of seconds'} ≥ 0`);
  }
  return n;
}

/** `--pull`, read before the package (and so its flags) is known: the policy decides how it is found. */
function pullPolicy(args: readonly string[]): PullPolicy {
  const end = args.indexOf('--');
  let value = 'missing';
  for (let i = 0; i < (end < 0 ? args.length : end); i++) {
    if (args[i] === '--pull') value = args[i + 1] ?? '';
    else if (args[i]!.startsWith('--pull=')) value = args[i]!.slice('--pull='.length);
  }
  if (!(PULL_POLICIES as readonly string[]).includes(value)) throw usageError(`--pull ${JSON.stringify(value)}: not one of ${PULL_POLICIES.join(', ')}`);
  return value as PullPolicy;
}

/**
 * `takeAttach` removes `--attach <program>=<target>` (any position before `--`, repeatable),
 * read before the package is known, and returns the targets by program, as written.
 */
export function takeAttach(args: readonly string[]): { args: string[]; attach: Map<string, string> } {
  const { args: rest, values } = takeRepeated(args, 'attach');
  const attach = new Map<string, string>();
  for (const spec of values) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw usageError(`--attach ${JSON.stringify(spec)}: not <program>=<target>`);
    const program = spec.slice(0, eq);
    if (attach.has(program)) throw usageError(`--attach ${program} given twice`);
    attach.set(program, spec.slice(eq + 1));
  }
  return { args: rest, attach };
}

/** `attachTargets` parses each `--attach` for the package's program of that name; an unknown program is `USAGE`. */
function attachTargets(pkg: ResolvedPackage, attach: ReadonlyMap<string, string>): Map<string, TargetSpec> {
  const programs = pkg.metadata.objects.flatMap((o) => o.programs);
  const targets = new Map<string, TargetSpec>();
  for (const [name, text] of attach) {
    const p = programs.find((x) => x.name === name);
    if (p === undefined)
      throw usageError(`--attach ${name}=${text}: ${pkg.metadata.name} has no program ${name} (its programs: ${programs.map((x) => x.name).join(', ')})`);
    targets.set(name, parseTarget(p, text));
  }
  return targets;
}

/** The one-line attach summary: `sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)`; `xdp_pass (xdp on lo)` for a target given. */
export function attachSummary(pkg: ResolvedPackage, programs: readonly AttachedProgram[], attach: ReadonlyMap<string, string> = new Map()): string {
  const m = pkg.metadata;
  const list = programs.map((p) => `${p.program} (${p.section}${attach.has(p.program) ? ` on ${attach.get(p.program)}` : ''})`).join(', ');
  return `${m.name} ${m.version}: attached ${programs.length === 1 ? '' : `${programs.length} programs: `}${list || 'nothing'}`;
}

/** The final line: how many events, how many lost, why the run stopped. */
export function endSummary(name: string, r: Pick<RunResult, 'events' | 'lost' | 'stop'>): string {
  const why = r.stop.kind === 'signal' ? r.stop.signal : r.stop.kind;
  return `${name}: ${r.events} events, ${r.lost} lost (stopped: ${why})`;
}

/** `exitCode` of a run: 0 for a planned stop, 128 + the signal number for a signal. */
export function exitCode(stop: StopReason): number {
  switch (stop.kind) {
    case 'duration':
    case 'max-events':
    case 'output-closed':
      return 0;
    case 'signal':
      return stop.signal === 'SIGINT' ? 130 : 143;
  }
}

function verboseLines(pkg: ResolvedPackage, programs: readonly AttachedProgram[], values: ReadonlyMap<FlagSpec, ParamValue>, plan: RunPlan): string[] {
  const out = programs.map((p) => `  program ${p.program}: ${p.type} ${p.section} (${p.object})`);
  for (const o of pkg.metadata.objects) for (const m of o.maps) out.push(`  map ${m.name}: ${m.type} (${o.name})`);
  for (const [s, v] of values) out.push(`  --${s.long} = ${v instanceof Uint8Array ? Buffer.from(v).toString('hex') : String(v)}`);
  if (plan.events) out.push(`  events from ${plan.events.map}${plan.events.layout ? '' : ' (no type: printed as hex)'}`);
  for (const i of plan.ignored) out.push(`  not read: event map ${i} (one event map is printed)`);
  return out;
}

const cmd: Command = {
  name: 'run',
  summary: "Load a package's eBPF programs, attach them and print their events; its parameters are flags (see `ebpm run <package> --help`).",
  usage: USAGE,
  handlesHelp: true,
  async run(argv, io) {
    const dashes = argv.indexOf('--');
    const args = argv.map((a, i) => (a === '-h' && (dashes < 0 || i < dashes) ? '--help' : a));
    if (args.length === 0 || args[0] === '--help') {
      io.stdout.write(`usage: ${USAGE}\n\n${cmd.summary}\n\n${HELP}\n`);
      return args.length === 0 ? 2 : 0;
    }
    // The Wasm flags are checked before the package is resolved: a bad value costs no build or pull.
    const { args: unattached, flags } = takeWasmFlags(args, io.cwd, USAGE);
    const { args: rest, attach } = takeAttach(unattached);
    const source = findSource(rest, OWN, USAGE);
    const pull = pullPolicy(rest);
    const pkg = await resolvePackage(source, sources, { pull, env: io.env, cwd: io.cwd });
    // The one place the policy's warning is printed, whichever kind of package runs.
    if (pkg.trust?.decision.warn) writeText(io.stderr, `warning: ${pkg.trust.decision.message}\n`);
    if (pkg.wasm !== undefined) {
      if (attach.size > 0)
        throw usageError(`--attach does not apply to ${pkg.metadata.name}: its Wasm program attaches its programs (grant targets with --allow-attach)`);
      return runGuest(pkg as ResolvedPackage & { wasm: Uint8Array }, rest, flags, source, io);
    }
    if (flags.given.length > 0)
      throw usageError(
        `${flags.given.join(', ')} ${flags.given.length === 1 ? 'applies' : 'apply'} only to packages with a Wasm program, and ${pkg.metadata.name} has none`,
      );
    return runBpf(pkg, rest, attach, source, io);
  },
};

/** A BPF package: its parameters are flags; ebpm loads it and decodes its events. */
async function runBpf(pkg: ResolvedPackage, args: readonly string[], attach: ReadonlyMap<string, string>, source: string, io: Io): Promise<number> {
  const specs = flagSpecs(
    pkg.metadata.objects,
    OWN.flatMap((o) => [`--${o.long}`, ...(o.takesValue ? [] : [`--no-${o.long}`])]).concat(WASM_FLAG_NAMES, ['-h']),
    pkg.ecli,
  );
  const parsed = parseRunArgs(args, OWN, specs, USAGE);
  if (parsed.own.has('help')) {
    const lines = flagHelp(specs);
    const ecli =
      pkg.ecli && lines.length ? "\n\nFlags are spelled as ecli spells them; ebpm's spellings work too (- for _, --<switch> and --no-<switch>)." : '';
    writeText(
      io.stdout,
      `usage: ebpm run ${source} [flags]\n\n${pkg.metadata.description ?? pkg.metadata.name}\n\n${lines.length ? `package flags:\n${lines.join('\n')}` : 'the package has no parameters'}${ecli}\n`,
    );
    return 0;
  }
  if (parsed.positionals.length !== 1) throw usageError(`unexpected argument ${JSON.stringify(parsed.positionals[1])}`);
  // A BPF package has no program to hand arguments to: what follows `--` is package flags too.
  const tail = parseRunArgs(parsed.rest, [], specs, USAGE);
  const values = new Map(parsed.values);
  for (const [s, v] of tail.values) {
    if (values.has(s)) throw usageError(`--${s.long} given twice`);
    values.set(s, v);
  }
  if (tail.positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(tail.positionals[0])} after --`);
  const seconds = positiveNumber('duration', parsed.own.get('duration'), false);
  const maxEvents = positiveNumber('max-events', parsed.own.get('max-events'), true);
  const json = parsed.own.has('json');
  const verbose = parsed.own.has('verbose');
  const targets = attachTargets(pkg, attach);

  const plan = planRun(pkg.metadata);
  const format: EventFormat | undefined = plan.events ? (plan.events.layout ? eventFormat(plan.events.layout) : rawEventFormat()) : undefined;
  const sampleFormats = new Map<SamplePlan, SampleFormat>(plan.samples.map((s) => [s, sampleFormat(s.map, s.spec, s.key, s.value)]));

  const counts = { events: 0, lost: 0 };
  const live = !json && io.stdout.isTTY === true && io.env.CI === undefined ? await import('../views/run-live.js') : undefined;
  let output: RunOutput | undefined;
  return withStops(io, async (signal) => {
    try {
      const result = await runPackage({
        package: pkg,
        plan,
        assignments: assignments(values, specs),
        ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
        ...(maxEvents === undefined ? {} : { maxEvents }),
        targets,
        signal,
        verbose,
        hooks: {
          // Called synchronously after attach, before the event loop can deliver a batch.
          onAttached: (programs) => {
            const title = terminalSafe(attachSummary(pkg, programs, attach));
            if (verbose) io.stderr.write(verboseLines(pkg, programs, values, plan).join('\n') + '\n');
            if (live === undefined) writeText(io.stderr, title + '\n');
            output = json
              ? jsonOutput(io.stdout, format)
              : live
                ? live.liveOutput({ stdout: io.stdout as NodeJS.WriteStream, format, title, counts: () => counts })
                : plainOutput(io.stdout, format);
            output.start();
          },
          onEvents: (records, lost) => {
            counts.events += records.length;
            counts.lost = lost;
            output!.events(records);
          },
          onSample: (s, entries) => output!.sample(sampleFormats.get(s)!, entries),
          // libbpf's own lines (they start with `libbpf: `) only with --verbose: failures come back as one error.
          ...(verbose ? { onLog: (_: LogLevel, message: string) => io.stderr.write(`${message.trimEnd()}\n`) } : {}),
        },
      });
      output?.end();
      writeText(io.stderr, endSummary(pkg.metadata.name, result) + '\n');
      return exitCode(result.stop);
    } catch (e) {
      output?.end();
      if (verbose && isEbpmError(e) && typeof e.data?.log === 'string' && e.data.log !== '') io.stderr.write(`verifier log:\n${e.data.log}\n`);
      throw e;
    }
  });
}

/** Write errors that mean the reader of stdout went away: a closed pipe, a hung-up terminal. */
const CLOSED_OUTPUT = ['EPIPE', 'EIO'];

/**
 * `withStops` runs `fn` with an abort signal that SIGINT/SIGTERM raise (reason: the signal's
 * name) instead of killing the process, and that a closed stdout raises (reason
 * `output-closed`), so the run can detach everything first. Any other write error on stdout
 * stops the run too and is thrown once it has ended (`OUTPUT_FAILED`).
 */
async function withStops<T>(io: Io, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const terminals = [0, 1, 2].filter((fd) => isatty(fd));
  let failed: NodeJS.ErrnoException | undefined;
  const onSignal = (sig: NodeJS.Signals) => controller.abort(sig);
  const onOutputError = (e: NodeJS.ErrnoException) => {
    if (!CLOSED_OUTPUT.includes(e.code ?? '')) failed ??= e;
    controller.abort('output-closed');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Left on: a write that fails as the run winds down (the last flush, the end summary) must
  // not crash the process, and a closed stderr leaves nowhere to report it.
  io.stdout.on('error', onOutputError);
  io.stderr.on('error', () => undefined);
  try {
    const result = await fn(controller.signal);
    if (failed)
      throw new EbpmError('OUTPUT_FAILED', `run: write stdout: ${failed.code ?? failed.message}`, {
        cause: failed,
        hint: 'free space or fix where stdout goes, then run again',
      });
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Node 20 aborts at exit when it cannot restore a hung-up terminal's modes (nodejs/node#51519,
    // fixed by #58200 after 20.x); it skips a descriptor that now names another file.
    if (controller.signal.reason === 'output-closed') for (const fd of terminals) if (!isatty(fd)) reopenAsNull(fd);
  }
}

/** `reopenAsNull` makes `fd` refer to /dev/null: closed, it is the lowest free descriptor that open takes. */
function reopenAsNull(fd: number): void {
  closeSync(fd);
  openSync('/dev/null', fd === 0 ? 'r' : 'w');
}

/**
 * A package with a Wasm module: its guest is the user space, taking the arguments after `--`,
 * seeing only the `--env` variables and `--dir` directories; `--json` and `--max-events` are
 * for ebpm's own decoder and do not apply.
 */
async function runGuest(pkg: ResolvedPackage & { wasm: Uint8Array }, args: readonly string[], flags: WasmFlags, source: string, io: Io): Promise<number> {
  const parsed = parseRunArgs(args, OWN, [], USAGE);
  if (parsed.own.has('help')) {
    writeText(
      io.stdout,
      `usage: ebpm run ${source} [flags] -- [arguments of its Wasm program]\n\n${pkg.metadata.description ?? pkg.metadata.name}\n\n` +
        `flags:\n  --verbose                 show what the host refuses or drops\n  --duration <s>            stop after this many seconds (exit code 0)\n${WASM_FLAG_HELP.join('\n')}\n\n` +
        `The package's Wasm program parses its own arguments: try \`ebpm run ${source} -- -h\`.\n`,
    );
    return 0;
  }
  if (parsed.positionals.length !== 1)
    throw usageError(`unexpected argument ${JSON.stringify(parsed.positionals[1])} (arguments for the Wasm program go after --)`);
  for (const f of ['json', 'max-events']) {
    if (parsed.own.has(f)) throw usageError(`--${f} does not apply to ${pkg.metadata.name}: its Wasm program prints the events`);
  }
  const seconds = positiveNumber('duration', parsed.own.get('duration'), false);
  const { runWasmPackage } = await import('../../services/run-wasm.js');
  // Lines still go out as they come, but a burst of them within one turn is one write.
  const stdout = coalesce(io.stdout);
  const r = await withStops(io, async (signal) => {
    const ended = await runWasmPackage({
      package: pkg,
      args: parsed.rest,
      env: flags.env,
      preopens: flags.preopens,
      ...(flags.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: flags.maxMemoryBytes }),
      allowAttach: flags.allowAttach,
      allowUndeclared: flags.allowUndeclared,
      ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
      signal,
      onStdout: (line) => stdout.write(line + '\n'),
      onStderr: (line) => io.stderr.write(line + '\n'),
      ...(parsed.own.has('verbose') ? { onLog: (line: string) => io.stderr.write(`ebpm: ${line}\n`) } : {}),
    }).finally(() => stdout.flush());
    // Stopped because nobody reads its output any more: a clean end, as for BPF packages.
    return ended.reason === 'signal' && signal.reason === 'output-closed' ? { reason: 'output-closed', exitCode: 0 } : ended;
  });
  writeText(io.stderr, `${pkg.metadata.name}: Wasm program ended (${r.reason}, exit code ${r.exitCode})\n`);
  return r.exitCode;
}

export default cmd;
