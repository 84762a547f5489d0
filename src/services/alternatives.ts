/**
 * Which programs of a package run here: the user's `--program`/`--skip-program`, then one option
 * of each group of alternatives (src/bpf/alternatives.ts), the best this kernel supports
 * (src/kernel/features.ts). Shared by `run` (what to load) and `inspect` (what would be loaded).
 */
import { alternativeGroups, chooseAlternatives, unchosen, type AlternativeChoice, type Mechanism, type Support } from '../bpf/alternatives.js';
import { EbpmError } from '../core/errors.js';
import { kernelSupport } from '../kernel/features.js';
import type { BpfObjectMeta } from '../package/metadata.js';

export type { AlternativeChoice } from '../bpf/alternatives.js';

/** The kernel's answer for a mechanism on an event (`kernelSupport`). */
export type SupportProbe = (mechanism: Mechanism, name: string) => Support;

/** `--program` (run only these) and `--skip-program` (never these), by program name. */
export interface ProgramSelection {
  readonly only: readonly string[];
  readonly skip: readonly string[];
}

export const ALL_PROGRAMS: ProgramSelection = { only: [], skip: [] };

/** What of an object is loaded: the programs left out, and the choice made in each group of alternatives. */
export interface ObjectPrograms {
  readonly object: string;
  readonly skip: readonly string[];
  readonly choices: readonly AlternativeChoice[];
}

/**
 * `selectPrograms` decides which programs of `object` are not loaded. With `--program`, exactly
 * the named ones run (the user's choice is final: no automatic choice among them); else those
 * not skipped, and of each group of alternatives among them only the option `support` prefers.
 */
export function selectPrograms(object: BpfObjectMeta, selection: ProgramSelection, support: SupportProbe): ObjectPrograms {
  const names = object.programs.map((p) => p.name);
  if (selection.only.length > 0) return { object: object.name, skip: names.filter((n) => !selection.only.includes(n)), choices: [] };
  const kept = object.programs.filter((p) => !selection.skip.includes(p.name));
  const choices = chooseAlternatives(alternativeGroups(kept), support);
  const skip = new Set([...selection.skip.filter((n) => names.includes(n)), ...unchosen(choices)]);
  return { object: object.name, skip: names.filter((n) => skip.has(n)), choices };
}

/**
 * `checkSelection` refuses a `--program` or `--skip-program` naming no program of the package,
 * a program both named and skipped, and a selection that leaves nothing to run: all `USAGE`.
 */
export function checkSelection(packageName: string, objects: readonly BpfObjectMeta[], selection: ProgramSelection): void {
  const all = objects.flatMap((o) => o.programs.map((p) => p.name));
  const usage = (message: string) => new EbpmError('USAGE', `run: ${message}`, { hint: `the programs of ${packageName}: ${all.join(', ')}` });
  for (const [flag, names] of [
    ['--program', selection.only],
    ['--skip-program', selection.skip],
  ] as const) {
    const unknown = names.find((n) => !all.includes(n));
    if (unknown !== undefined) throw usage(`${flag} ${unknown}: ${packageName} has no program ${unknown}`);
  }
  const both = selection.only.find((n) => selection.skip.includes(n));
  if (both !== undefined) throw usage(`--program ${both} and --skip-program ${both} contradict each other`);
  if (selection.only.length === 0 && all.length > 0 && all.every((n) => selection.skip.includes(n))) throw usage('--skip-program leaves no program to run');
}

/**
 * `alternativesHere` is, for each object of `objects` that has alternatives, the choice this
 * kernel makes (`ebpm inspect`). Without the addon nothing can be probed: every option but the
 * last is then passed over with that reason.
 */
export function alternativesHere(objects: readonly BpfObjectMeta[], probe?: SupportProbe): ObjectPrograms[] {
  let support = probe;
  const lazy: SupportProbe = (m, name) => {
    try {
      support ??= kernelSupport();
    } catch (e) {
      support = () => ({ ok: false, why: e instanceof Error ? e.message : String(e) });
    }
    return support(m, name);
  };
  return objects.map((o) => selectPrograms(o, ALL_PROGRAMS, lazy)).filter((o) => o.choices.length > 0);
}
