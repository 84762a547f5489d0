/**
 * The lines `ebpm run` writes besides events: its help and a package's, the attach summary,
 * what `--verbose` shows and the final count. Pure text, no I/O.
 */
import { ATTACH_FORMS } from '../../kernel/loader-targets.js';
import type { FlagSpec, ParamValue } from '../../package/params.js';
import type { AlternativeChoice, ObjectPrograms } from '../../api/alternatives.js';
import type { ResolvedPackage } from '../../api/sources.js';
import type { TypeLayout } from '../../bpf/layout.js';
import type { MapSize } from '../../package/map-sizes.js';
import type { AttachedProgram, EventTypeWhy, RunPlan, RunResult } from '../../api/run.js';
import { WASM_FLAGS } from '../commands/run-wasm-flags.js';
import { BPF_ONLY_FLAGS, RUN_FLAGS } from '../commands/run-args.js';
import { flagLines, type HelpSection } from '../help.js';
import { OUTPUT_LIMIT } from './run-output.js';

/** What `ebpm run --help` shows below its flags: attach targets, the Wasm flags, how runs end. */
export const RUN_HELP_SECTIONS: readonly HelpSection[] = [
  { title: 'attach targets (--attach <program>=<target>):', lines: ATTACH_FORMS.map((f) => `  ${f}`) },
  { title: 'flags for packages with a Wasm program (its own arguments go after --):', lines: flagLines(WASM_FLAGS) },
  {
    title: 'how a run ends:',
    lines: [
      '  SIGINT and SIGTERM stop the run with exit code 130 and 143, a closed stdout (| head) with 0;',
      "  a Wasm program's exit code is ebpm's, but 1-4, 70 and 125-255 (ebpm's and the shell's own) and",
      `  any above 255 become 125. When a piped stdout falls more than ${OUTPUT_LIMIT / 2 ** 20} MiB behind, events`,
      '  are dropped, and the last line on stderr counts them.',
    ],
  },
];

/** `flagHelp` renders the package's flags for `ebpm run <pkg> --help`: spelling, type, description, default. */
export function flagHelp(specs: readonly FlagSpec[]): string[] {
  const left = specs.map((s) => {
    const short = s.short === undefined ? '    ' : `-${s.short}, `;
    // ecli's pair where the package has it: what its users know.
    const [on, off] = s.spellings.has(`enable-${s.long}`) ? [`enable-${s.long}`, `disable-${s.long}`] : [s.long, `no-${s.long}`];
    return s.isSwitch ? `${short}--${on}, --${off}` : `${short}--${s.long} <${s.parameter.type}>`;
  });
  const width = Math.max(0, ...left.map((l) => l.length));
  return specs.map((s, i) => {
    const help = s.parameter.description ?? `set ${s.parameter.type} ${s.parameter.name}`;
    const d = s.parameter.default;
    const shown = typeof d === 'string' && s.parameter.kind === 'string' ? JSON.stringify(d) : String(d);
    return `  ${left[i]!.padEnd(width)}  ${help} (default ${shown})`;
  });
}

/** ebpm's flags that `ebpm run <pkg> --help` lists before the package's own (`ebpm run --help` has them all). */
const PACKAGE_HELP_FLAGS: readonly (keyof typeof RUN_FLAGS)[] = ['json', 'verbose', 'duration', 'max-events', 'attach', 'pull', 'follow'];

/** `bpfHelp` is `ebpm run <pkg> --help` for a package without a Wasm program: ebpm's main flags, then the package's. */
export function bpfHelp(source: string, pkg: ResolvedPackage, specs: readonly FlagSpec[]): string {
  const lines = flagHelp(specs);
  const ecli = pkg.ecli && lines.length ? "\n\nFlags are spelled as ecli spells them; ebpm's spellings work too (- for _, --<switch> and --no-<switch>)." : '';
  const own = Object.fromEntries(PACKAGE_HELP_FLAGS.map((f) => [f, RUN_FLAGS[f]]));
  return (
    `usage: ebpm run ${source} [flags]\n\n${pkg.metadata.description ?? pkg.metadata.name}\n\n` +
    `flags (\`ebpm run --help\` lists them all):\n${flagLines(own).join('\n')}\n\n` +
    `${lines.length ? `package flags:\n${lines.join('\n')}` : 'the package has no parameters'}${ecli}\n`
  );
}

/** `guestHelp` is `ebpm run <pkg> --help` for a package with a Wasm program, which parses its own arguments (and `-h`). */
export function guestHelp(source: string, pkg: ResolvedPackage): string {
  const own = Object.fromEntries(Object.entries(RUN_FLAGS).filter(([f]) => f !== 'help' && !BPF_ONLY_FLAGS.has(f)));
  return (
    `usage: ebpm run ${source} [flags] [arguments of its Wasm program]\n\n${pkg.metadata.description ?? pkg.metadata.name}\n\n` +
    `flags:\n${flagLines({ ...own, ...WASM_FLAGS }).join('\n')}\n\n` +
    `The package's Wasm program parses its own arguments: try \`ebpm run ${source} -h\`. Arguments that are also ebpm's flags go after --.\n`
  );
}

/** The one-line attach summary: `sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)`; `xdp_pass (xdp on lo)` for a target given. */
export function attachSummary(pkg: ResolvedPackage, programs: readonly AttachedProgram[], attach: ReadonlyMap<string, string> = new Map()): string {
  const m = pkg.metadata;
  const on = (p: AttachedProgram) => attach.get(p.program) ?? p.defaultTarget;
  const list = programs.map((p) => `${p.program} (${p.section}${on(p) === undefined ? '' : ` on ${on(p)}`})`).join(', ');
  return `${m.name} ${m.version}: attached ${programs.length === 1 ? '' : `${programs.length} programs: `}${list || 'nothing'}`;
}

/** What `--verbose` adds after attaching: programs, the alternatives chosen, maps, the values given and what is read. */
export function verboseLines(
  pkg: ResolvedPackage,
  programs: readonly AttachedProgram[],
  values: ReadonlyMap<FlagSpec, ParamValue>,
  plan: RunPlan,
  selected: readonly ObjectPrograms[] = [],
): string[] {
  const out = programs.map((p) => `  program ${p.program}: ${p.type} ${p.section} (${p.object})`);
  for (const o of selected) out.push(...o.choices.map((c) => `  ${choiceLine(c)}`));
  for (const o of pkg.metadata.objects) for (const m of o.maps) out.push(`  map ${m.name}: ${m.type} (${o.name})`);
  for (const [s, v] of values) out.push(`  --${s.long} = ${v instanceof Uint8Array ? Buffer.from(v).toString('hex') : String(v)}`);
  for (const m of plan.mapSizes)
    out.push(`  map ${m.map}: sized ${mapSizeText(m)} (${m.why === 'flag' ? '--map-size' : 'default: the object leaves it to user space'})`);
  const ev = plan.events;
  if (ev) {
    out.push(`  events from ${ev.map}: ${ev.layout ? eventTypeText(ev.layout, ev.why ?? 'declared', ev.programs) : 'no type: printed as hex'}`);
    if (ev.layout && ev.why === 'instructions') out.push(...fieldLines(ev.layout, ev.origins));
  }
  for (const i of plan.ignored) out.push(`  not read: event map ${i} (one event map is printed)`);
  for (const s of plan.samples) if (s.result) out.push(`  result ${s.global ? 'global' : 'map'} ${s.map}: ${s.result.kind} (${s.result.reason})`);
  return out;
}

/** What inspect and `run --verbose` say of an event map with no record type. */
export const UNTYPED_EVENTS = 'no type declared, none found by name or from the instructions: printed as hex (run --event-type <struct> chooses one)';

/**
 * `eventTypeText` says which record type an event map is read as, and why: `struct event (by
 * name, 7720 bytes)`, `record inferred from the instructions of handle_exit (56 bytes)`.
 */
export function eventTypeText(layout: TypeLayout, why: EventTypeWhy, programs: readonly string[] = []): string {
  if (why === 'instructions') return `record inferred from the instructions of ${programs.join(', ')} (${layout.size} bytes)`;
  const name = layout.kind === 'struct' || layout.kind === 'union' ? `${layout.kind} ${layout.name ?? ''}` : (layout.name ?? layout.kind);
  const how = why === 'declared' ? '' : why === 'name' ? 'by name, ' : '--event-type, ';
  return `${name} (${how}${layout.size} bytes)`;
}

/** `fieldLines` lists a record's fields, with where each came from when known: `    +16 pid: u32 (4) from bpf_get_current_pid_tgid() >> 32`. */
export function fieldLines(l: TypeLayout, origins: readonly string[] = []): string[] {
  if (l.kind !== 'struct' && l.kind !== 'union') return [];
  return l.fields.map(
    (f, i) =>
      `    +${f.offset} ${f.name}: ${f.layout.kind === 'string' ? `char[${f.layout.size}]` : (f.layout.name ?? f.layout.kind)} (${f.layout.size})${origins[i] === undefined ? '' : ` from ${origins[i]}`}`,
  );
}

function mapSizeText(m: MapSize): string {
  const parts = [...(m.maxEntries === undefined ? [] : [`max_entries ${m.maxEntries}`]), ...(m.valueSize === undefined ? [] : [`value size ${m.valueSize}`])];
  return parts.join(', ');
}

/**
 * `choiceLine` says which option of a group of alternatives is used and why the better ones are
 * not: `function vfs_read: kprobe (kprobe_vfs_read), not fentry (fentry_vfs_read): <why>`.
 */
export function choiceLine(c: AlternativeChoice): string {
  const others = c.group.options
    .filter((o) => o !== c.chosen)
    .map((o) => {
      const why = c.passedOver.find((p) => p.mechanism === o.mechanism)?.why;
      return `${o.mechanism} (${o.programs.join(', ')})${why === undefined ? '' : `: ${why}`}`;
    });
  const chosen = `${c.group.kind} ${c.group.name}: ${c.chosen.mechanism} (${c.chosen.programs.join(', ')}), not ${others.join('; nor ')}`;
  return c.support.ok ? chosen : `${chosen}; ${c.chosen.mechanism} cannot run here either: ${c.support.why}`;
}

/** The line written at the first event dropped because stdout does not keep up. */
export const DROPPING = 'warning: stdout is not keeping up: dropping events until it does (the last line counts them)';

/**
 * The final line: how many events, how many the kernel lost, how many ebpm dropped because
 * stdout did not keep up (when any), how many `--filter` left out (when `filtering`), why the run stopped.
 */
export function endSummary(
  name: string,
  r: Pick<RunResult, 'events' | 'lost' | 'stop'> & { readonly filtered?: number },
  dropped = 0,
  filtering = false,
): string {
  const why = r.stop.kind === 'signal' ? r.stop.signal : r.stop.kind;
  const filtered = filtering ? `, ${r.filtered ?? 0} filtered out` : '';
  return `${name}: ${r.events} events, ${r.lost} lost${dropped > 0 ? `, ${dropped} dropped` : ''}${filtered} (stopped: ${why})`;
}
