/**
 * `ebpm run`: resolve the package, turn its parameters into flags, run it and print its events:
 * a live table on a TTY (its first rows printed plain, the table taking over after that turn),
 * aligned columns when piped, JSON lines with `--json`. The attach summary and the final count
 * go to stderr, so stdout holds only events.
 *
 * Exit codes: 0 after `--duration`, `--max-events` or once stdout is closed (`| head`); 130
 * after SIGINT and 143 after SIGTERM (128 + the signal number, as shells report them), every
 * program detached either way (run-stops.ts). A package with a Wasm program runs it instead
 * (runGuest): its exit code becomes ebpm's as `guestExitCode` maps it.
 */
import type { LogLevel } from '../../kernel/native.js';
import { assertNever, EbpmError, isEbpmError } from '../../core/errors.js';
import { phase, phaseLines } from '../../core/phases.js';
import { btfCache, type BtfCache } from '../../kernel/btf-cache.js';
import { loadNative } from '../../kernel/native.js';
import type { EventFormat } from '../../package/decode.js';
import type { SampleFormat } from '../../package/histogram.js';
import { DEFAULT_TOP } from '../../package/result-maps.js';
import { assignments, flagSpecs, type Assignment } from '../../package/params.js';
import { checkSelection } from '../../api/alternatives.js';
import { resolveSource, type ResolvedPackage } from '../../api/sources.js';
import { GuestWorker } from '../../runtime/guest-worker.js';
import { openPackage, type OpenedPackage } from '../package-sources.js';
import {
  eventPrinter,
  planPackage,
  runPackage,
  samplePrinter,
  type Follow,
  type NextRun,
  type RunPlan,
  type SamplePlan,
  type UpdateEvent,
} from '../../api/run.js';
import type { Command, Io } from '../command.js';
import { guestExitCode } from '../errors.js';
import { isLive, paints, terminalSafe, writeText } from '../format.js';
import { coalesce, jsonOutput, OUTPUT_LIMIT, plainOutput, syncText, type Bound, type RunOutput } from '../views/run-output.js';
import { terminalOutput } from '../views/run-terminal.js';
import { prettyJson, yamlDocument } from '../views/json-styles.js';
import { attachSummary, bpfHelp, DROPPING, endSummary, guestHelp, RUN_HELP_SECTIONS, verboseLines } from '../views/run-text.js';
import { commandHelp } from '../help.js';
import {
  bpfArgs,
  guestArgs,
  helpWanted,
  parseRunLine,
  RESERVED_FLAGS,
  RUN_FLAGS,
  RUN_USAGE,
  type BpfArgs,
  type OutputFormat,
  type RunLine,
  type RunPackageInfo,
} from './run-args.js';
import { exitCode, withStops } from './run-stops.js';
import { WASM_FLAGS } from './run-wasm-flags.js';

const cmd: Command = {
  name: 'run',
  summary: "Load a package's eBPF programs, attach them and print their events; its parameters are flags (see `ebpm run <package> --help`).",
  usage: RUN_USAGE,
  flags: { ...RUN_FLAGS, ...WASM_FLAGS },
  examples: [
    'ebpm run examples/sigsnoop',
    'ebpm run sigsnoop@1.2 --duration 10 --json',
    'ebpm run examples/opensnoop --pid 1234 --max-events 20',
    'ebpm run ./bashreadline.bpf.o --attach uprobe_readline=/usr/bin/bash:readline',
    'ebpm run examples/runqlat -- -m',
  ],
  handlesHelp: true,
  async run(argv, io) {
    phase('command');
    const line = argv.length === 0 ? undefined : parseRunLine(argv, io.cwd);
    if (line?.source === undefined) {
      // The Wasm flags have a section of their own.
      io.stdout.write(commandHelp({ ...cmd, flags: RUN_FLAGS }, RUN_HELP_SECTIONS));
      return line === undefined ? 2 : 0;
    }
    // A guest's thread takes longer to start than anything else of a Wasm run's: it starts as
    // soon as the package is known to have a Wasm module, while the package is checked and read,
    // and runs nothing until runGuest hands it the guest. A guest on the main thread needs none.
    let worker: GuestWorker | undefined;
    const inline = onMainThread(line, io);
    try {
      const { pkg, ...opened } = await openPackage(line.source, line.pull, io, () => {
        if (!inline()) worker ??= new GuestWorker();
      });
      phase('resolve');
      // The one place the policy's warning is printed, whichever kind of package runs.
      if (pkg.trust?.decision.warn) writeText(io.stderr, `warning: ${pkg.trust.decision.message}\n`);
      const info: RunPackageInfo = { name: pkg.metadata.name, programs: pkg.metadata.objects.flatMap((o) => o.programs) };
      if (pkg.wasm !== undefined && !helpWanted(line, true)) {
        const args = guestArgs(line, info);
        const taken = inline() ? undefined : (worker ?? new GuestWorker());
        worker = undefined;
        return await runGuest(pkg as ResolvedPackage & { wasm: Uint8Array }, line, args, io, opened, taken);
      }
      // Refused, not run, or run without a guest: the thread ends before anything else happens.
      worker?.discard();
      if (helpWanted(line, pkg.wasm !== undefined)) {
        writeText(
          io.stdout,
          pkg.wasm === undefined ? bpfHelp(line.source, pkg, flagSpecs(pkg.metadata.objects, RESERVED_FLAGS, pkg.ecli)) : guestHelp(line.source, pkg),
        );
        return 0;
      }
      checkSelection(pkg.metadata.name, pkg.metadata.objects, line.programs);
      return await runBpf(pkg, line, io, opened);
    } catch (e) {
      worker?.discard();
      throw e;
    }
  },
};

/**
 * `onMainThread` tells, once asked, whether a Wasm package's guest is to run on the main thread
 * (`RunWasmOptions.inline`): when ebpm writes to its own stdout, has no --follow, which needs the
 * event loop while the guest runs, and has the addon to take its signals and its --duration.
 */
function onMainThread(line: RunLine, io: Io): () => boolean {
  let known: boolean | undefined;
  return () => {
    if (known !== undefined) return known;
    known = line.followMs === undefined && io.stdout === process.stdout && io.stderr === process.stderr;
    try {
      // An addon built before it could take a guest's signals (or its deadline) runs the guest in a worker.
      const native = known ? loadNative() : undefined;
      known = typeof native?.guestSignals === 'function' && (line.durationMs === undefined || typeof native.guestDeadline === 'function');
    } catch {
      known = false;
    }
    return known;
  };
}

/** The command's context and trust policy, as `openPackage` opened them: a `--follow` resolves each newer version with them. */
type Opened = Omit<OpenedPackage, 'pkg'>;

/** What a BPF package's run is made of: its plan, its parameters' values, how its events print. */
export interface Prepared {
  readonly pkg: ResolvedPackage;
  readonly args: BpfArgs;
  readonly plan: RunPlan;
  readonly given: readonly Assignment[];
  readonly format: EventFormat | undefined;
  readonly sampleFormats: ReadonlyMap<SamplePlan, SampleFormat>;
  /** Names the frames of one snapshot of a stack map (the symbolizer loads only for a package that has one). */
  readonly symbolizer?: typeof import('../../kernel/symbolize.js').symbolizer;
}

/** `prepare` reads the package flags of `line` against `pkg`'s parameters (new ones keep their defaults) and plans the run. */
export async function prepare(pkg: ResolvedPackage, line: RunLine): Promise<Prepared> {
  const info: RunPackageInfo = { name: pkg.metadata.name, programs: pkg.metadata.objects.flatMap((o) => o.programs) };
  const specs = flagSpecs(pkg.metadata.objects, RESERVED_FLAGS, pkg.ecli);
  const args = bpfArgs(line, info, specs);
  const choices = {
    mapSizes: line.mapSizes,
    ...(line.printMaps === undefined ? {} : { printMaps: line.printMaps }),
    ...(line.intervalMs === undefined ? {} : { intervalMs: line.intervalMs }),
  };
  const given = assignments(args.values, specs);
  const plan = await planPackage(pkg, choices, given, line.eventType);
  const format = eventPrinter(pkg, plan, line);
  const top = line.top ?? DEFAULT_TOP;
  if (line.sort !== undefined && !plan.samples.some((s) => s.result !== undefined))
    throw new EbpmError('USAGE', `run: --sort does not apply to ${pkg.metadata.name}: it prints no counter table or histogram map`, {
      hint: 'choose the events to print with --filter and --fields',
    });
  // Stack maps get their printer per snapshot (below), with that snapshot's stacks.
  const sampleFormats = new Map<SamplePlan, SampleFormat>(
    plan.samples.filter((s) => s.result?.kind !== 'stacks').map((s) => [s, samplePrinter(pkg, s, args.values, top, line.sort)]),
  );
  const stacks = plan.samples.some((s) => s.result?.kind === 'stacks');
  const symbolizer = stacks ? (await import('../../kernel/symbolize.js')).symbolizer : undefined;
  return { pkg, args, plan, given, format, sampleFormats, ...(symbolizer === undefined ? {} : { symbolizer }) };
}

/** What `-o` does to each JSON line of events and samples. */
const RESTYLE: Partial<Record<OutputFormat, (json: string) => string>> = { jsonpretty: prettyJson, yaml: yamlDocument };

/**
 * What the start-up snapshot's warm-up runs a package against instead of this machine
 * (snapshot-warm.ts): a stand-in addon and machine, a BTF cache of its own, and a fixed clock.
 */
export interface StandIn extends Required<Pick<Parameters<typeof runPackage>[0], 'native' | 'machine'>> {
  readonly btfCache: BtfCache | undefined;
  readonly now: () => number;
}

/** A BPF package: its parameters are flags; ebpm loads it and decodes its events. */
export async function runBpf(pkg: ResolvedPackage, line: RunLine, io: Io, opened: Opened, standIn?: StandIn): Promise<number> {
  let run = await prepare(pkg, line);
  phase('plan');
  const follow = line.followMs === undefined ? undefined : await following(run.pkg, line, io, opened);
  // Each newer version is prepared with the same flags; its parameters new to them keep their defaults.
  const prepared = new Map<ResolvedPackage, Prepared>();
  const nextRuns: Follow<NextRun> | undefined = follow && {
    intervalMs: follow.intervalMs,
    onDemand: follow.onDemand,
    async next(current) {
      const next = await follow.next(current);
      if (next === undefined) return undefined;
      const p = await prepare(next, line);
      prepared.set(next, p);
      return { package: next, plan: p.plan, assignments: p.given };
    },
  };
  const top = line.top ?? DEFAULT_TOP;
  const counts = { events: 0, lost: 0 };
  // `-o wide` keeps every line whole: plain lines, even on a terminal.
  const live = isLive(io, line.json) && line.output === 'table';
  // One DataView per batch buffer, as the outputs make theirs.
  let view = new DataView<ArrayBufferLike>(new ArrayBuffer(0));
  const accept = (r: Uint8Array) => {
    if (r.buffer !== view.buffer) view = new DataView(r.buffer);
    return run.format!.accepts(view, r.byteOffset, r.byteLength);
  };
  const bound: Bound = { limit: OUTPUT_LIMIT, onFirstDrop: () => io.stderr.write(`${DROPPING}\n`) };
  let output: RunOutput | undefined;
  const outputFor = (title: string) =>
    line.json
      ? jsonOutput(io.stdout, run.format, bound, RESTYLE[line.output])
      : live
        ? terminalOutput({ stdout: io.stdout as NodeJS.WriteStream, format: run.format, title, counts: () => counts, color: paints(io.env) })
        : plainOutput(io.stdout, run.format, standIn?.now ?? Date.now, bound);
  return withStops(io, async (signal) => {
    try {
      const result = await runPackage({
        package: run.pkg,
        plan: run.plan,
        assignments: run.given,
        ...(line.durationMs === undefined ? {} : { durationMs: line.durationMs }),
        ...(line.maxEvents === undefined ? {} : { maxEvents: line.maxEvents }),
        ...(line.filter === undefined ? {} : { accept }),
        targets: run.args.targets,
        programs: line.programs,
        ...(line.btf === undefined ? { btfCache: standIn ? standIn.btfCache : btfCache(io.env) } : { btfFile: line.btf }),
        ...(standIn === undefined ? {} : { native: standIn.native, machine: standIn.machine }),
        ...(nextRuns === undefined ? {} : { follow: nextRuns }),
        signal,
        verbose: line.verbose,
        hooks: {
          // Called synchronously after attach, before the event loop can deliver a batch.
          onAttached: (programs, selected) => {
            phase('attach');
            const title = terminalSafe(attachSummary(run.pkg, programs, line.attach));
            if (line.verbose) io.stderr.write(verboseLines(run.pkg, programs, run.args.values, run.plan, selected).join('\n') + '\n');
            if (!live) writeText(io.stderr, title + '\n');
            output = outputFor(title);
            output.start();
          },
          onEvents: (records, lost) => {
            counts.events += records.length;
            counts.lost = lost;
            output!.events(records);
            phase('event');
            const phases = phaseLines();
            if (phases !== undefined) io.stderr.write(phases);
          },
          // Stacks are named per snapshot: a fresh symbolizer reads the maps of processes started since.
          onSample: (s, entries, frames) =>
            output!.sample(
              frames === undefined
                ? run.sampleFormats.get(s)!
                : samplePrinter(run.pkg, s, run.args.values, top, line.sort, { frames, names: run.symbolizer!() }),
              entries,
            ),
          // The events of the new version print in its own format, after the line that says so.
          onUpdate: (update, next) => {
            if (next !== undefined) {
              output!.end();
              run = prepared.get(next.package)!;
            }
            sayUpdate(io, io.stdout, line.json, run.pkg.metadata.name, update);
            if (next !== undefined) {
              output = outputFor(run.pkg.metadata.name);
              output.start();
            }
          },
          // libbpf's own lines (they start with `libbpf: `) only with --verbose: failures come back as one error.
          ...(line.verbose ? { onLog: (_: LogLevel, message: string) => io.stderr.write(`${message.trimEnd()}\n`) } : {}),
        },
      });
      // After a signal the process ends at once (bin.ts): what stdout has not taken is dropped, and counted.
      output?.end(result.stop.kind === 'signal');
      writeText(io.stderr, endSummary(run.pkg.metadata.name, result, output?.dropped(), line.filter !== undefined) + '\n');
      return exitCode(result.stop);
    } catch (e) {
      output?.end();
      if (line.verbose && isEbpmError(e) && typeof e.data?.log === 'string' && e.data.log !== '') io.stderr.write(`verifier log:\n${e.data.log}\n`);
      throw e;
    }
  }).finally(() => follow?.stop());
}

/**
 * `following` is the run's `--follow`: every interval, and at once on SIGHUP, it asks the
 * registry whether the reference names something newer (one request), and pulls that through
 * the normal path (the trust policy applies).
 */
async function following(pkg: ResolvedPackage, line: RunLine, io: Io, opened: Opened): Promise<Follow<ResolvedPackage> & { stop(): void }> {
  const ctx = await opened.context();
  const { followedReference, hasNewer } = await import('../../api/follow.js');
  const ref = followedReference(ctx, pkg);
  // Caught from the start, not only once the run is attached: unhandled, SIGHUP ends the process.
  let asked: (() => void) | undefined;
  let early = false;
  const onHup = () => {
    if (asked === undefined) early = true;
    else asked();
  };
  process.on('SIGHUP', onHup);
  return {
    intervalMs: line.followMs!,
    onDemand: (check) => {
      asked = check;
      if (early) {
        early = false;
        check();
      }
      return () => {
        asked = undefined;
      };
    },
    stop: () => process.off('SIGHUP', onHup),
    async next(current) {
      if (!(await hasNewer(ctx, ref, current))) {
        if (line.verbose) writeText(io.stderr, `${current.metadata.name}: ${current.metadata.version} is still the newest of ${line.source}\n`);
        return undefined;
      }
      const next = await resolveSource(line.source!, { pull: 'always', env: io.env, cwd: io.cwd, ...opened });
      if (next.digest === current.digest) return undefined;
      if (next.trust?.decision.warn) writeText(io.stderr, `warning: ${next.trust.decision.message}\n`);
      return next;
    },
  };
}

/** Says what became of an update: one stderr line, and with `--json` a line of its own on stdout. */
function sayUpdate(io: Io, stdout: { write(s: string): unknown }, json: boolean, name: string, update: UpdateEvent): void {
  if (json) stdout.write(`${JSON.stringify({ update })}\n`);
  writeText(io.stderr, `${updateLine(name, update)}\n`);
}

/** The one stderr line saying what became of an update. */
function updateLine(name: string, u: UpdateEvent): string {
  switch (u.how) {
    case 'replaced':
      return `${name}: updated ${u.from} → ${u.to} (BPF objects replaced)`;
    case 'swapped':
      return `${name}: updated ${u.from} → ${u.to} (Wasm module swapped, BPF objects kept attached)`;
    case 'refused':
    case 'failed':
      return `${name}: update${u.to === undefined ? '' : ` to ${u.to}`} ${u.how}, ${u.from} keeps running: ${u.reason}`;
    default:
      return assertNever(u, 'update');
  }
}

/**
 * A package with a Wasm module: its guest is the user space, taking the arguments after `--`,
 * seeing only the `--env` variables and `--dir` directories.
 */
async function runGuest(
  pkg: ResolvedPackage & { wasm: Uint8Array },
  cmdline: RunLine,
  args: readonly string[],
  io: Io,
  opened: Opened,
  /** The guest's thread, started ahead; none: the guest runs on the main thread (`onMainThread`). */
  worker: GuestWorker | undefined,
): Promise<number> {
  const flags = cmdline.wasm;
  let follow: Awaited<ReturnType<typeof following>> | undefined;
  let runWasmPackage: typeof import('../../api/run-wasm.js').runWasmPackage;
  try {
    follow = cmdline.followMs === undefined ? undefined : await following(pkg, cmdline, io, opened);
    ({ runWasmPackage } = await import('../../api/run-wasm.js'));
  } catch (e) {
    worker?.discard();
    throw e;
  }
  const r = await withStops(io, async (signal, outputFailed) => {
    // Lines still go out as they come, but a burst of them within one turn (on the main thread,
    // a poll's records) is one write.
    const sync = worker === undefined ? syncText(1, outputFailed) : undefined;
    const stdout = sync ?? coalesce(io.stdout);
    const ended = await runWasmPackage({
      package: pkg,
      ...(sync === undefined ? {} : { inline: { flush: sync.flush } }),
      ...(worker === undefined ? {} : { worker }),
      args,
      env: flags.env,
      preopens: flags.preopens,
      ...(flags.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: flags.maxMemoryBytes }),
      allowAttach: flags.allowAttach,
      allowUndeclared: flags.allowUndeclared,
      ...(cmdline.btf === undefined ? { btfCache: btfCache(io.env) } : { btfFile: cmdline.btf }),
      ...(cmdline.durationMs === undefined ? {} : { durationMs: cmdline.durationMs }),
      // A Wasm program's events are its output lines: --max-events counts them.
      ...(cmdline.maxEvents === undefined ? {} : { maxLines: cmdline.maxEvents }),
      // The counterpart of a BPF run's attach line: what runs, in which version.
      onStart: () => writeText(io.stderr, `${pkg.metadata.name} ${pkg.metadata.version}: started its Wasm program\n`),
      ...(follow === undefined ? {} : { follow, onUpdate: (update: UpdateEvent) => sayUpdate(io, stdout, cmdline.json, pkg.metadata.name, update) }),
      signal,
      onStdout: (line) => {
        stdout.write(`${cmdline.json ? guestJsonLine(line) : line}\n`);
        phase('event');
        const phases = phaseLines();
        if (phases !== undefined) io.stderr.write(phases);
      },
      onStderr: (line) => io.stderr.write(line + '\n'),
      // While stdout or stderr holds more than its high-water mark, the guest waits instead of ebpm growing.
      outputReady: () => {
        const full = [io.stdout, io.stderr].find(needsDrain);
        return full && new Promise<void>((resolve) => full.once('drain', resolve));
      },
      // What ebpm or the kernel refused the guest is shown always (the guest may say only "failed"); other details with --verbose.
      onLog: (line, refusal) => {
        if (refusal || cmdline.verbose) writeText(io.stderr, `ebpm: ${line}\n`);
      },
    }).finally(() => stdout.flush());
    // Stopped because nobody reads its output any more: a clean end, as for BPF packages.
    return ended.reason === 'signal' && signal.reason === 'output-closed' ? { reason: 'output-closed', exitCode: 0 } : ended;
  }).finally(() => follow?.stop());
  const code = r.reason === 'exit' ? guestExitCode(r.exitCode) : r.exitCode;
  writeText(
    io.stderr,
    `${pkg.metadata.name}: Wasm program ended (${r.reason}, exit code ${r.exitCode}${code === r.exitCode ? '' : `; ebpm exits with ${code}`})\n`,
  );
  return code;
}

/**
 * `guestJsonLine` is a Wasm program's output line under `--json`: a JSON object it printed as it
 * is (sigsnoop's events, as ecli's guests print them), any other line as a JSON string, so that
 * stdout stays JSON lines whatever the program prints.
 */
export function guestJsonLine(line: string): string {
  if (line.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return line;
    } catch {
      // Not JSON after all: a string like any other line.
    }
  }
  return JSON.stringify(line);
}

function needsDrain(stream: NodeJS.WritableStream): boolean {
  return (stream as { writableNeedDrain?: boolean }).writableNeedDrain === true;
}

export default cmd;
