/**
 * What `ebpm run` prints at the stop beyond the maps the metadata names: result globals of
 * `.bss`/`.data` (their rows named by a kernel enum where one fits exactly), and the syscall
 * names of maps the code proves keyed by syscall number. Both read the object's bytes, so they
 * refine a plan `planRun` made from the metadata.
 */
import { readFileSync } from 'node:fs';
import type { TypeLayout } from '../bpf/layout.js';
import { ociArch } from '../core/arch.js';
import { EbpmError } from '../core/errors.js';
import { applyAssignments, type Assignment } from '../package/params.js';
import { indexKey, resultGlobals } from '../package/result-globals.js';
import { isWritableGlobal, WRITABLE_DATA, type PlanChoices, type RunPlan, type SamplePlan } from './run.js';
import type { ResolvedPackage } from './run-source.js';

/**
 * `withResultGlobals` adds to `plan` the result globals of the package's objects
 * (result-globals.ts), printed as result maps are: all of them when the result maps are printed
 * by default (no `--print-map`, no `--no-print-map`, no `@sample` maps), else those `--print-map`
 * names (one that is no result global is `USAGE`). Rows are named by a kernel enum where
 * `indexKey` finds one in `/sys/kernel/btf/vmlinux`.
 */
export async function withResultGlobals(plan: RunPlan, pkg: ResolvedPackage, choices: PlanChoices = {}): Promise<RunPlan> {
  const meta = pkg.metadata;
  const { printMaps } = choices;
  if (printMaps === false || (printMaps === undefined && meta.objects.some((o) => o.maps.some((m) => m.sample !== undefined)))) return plan;
  const named = printMaps?.filter((n) => isWritableGlobal(meta, n));
  if (named?.length === 0) return plan;
  const candidates = meta.objects.filter((o) => o.layer && o.parameters.some((p) => WRITABLE_DATA.test(p.section)));
  if (candidates.length === 0) return plan;
  // The ELF and BTF reader loads only here, as for --event-type.
  const [{ parseObject }, { enumsWithMember }] = await Promise.all([import('../bpf/object.js'), import('../bpf/btf.js')]);
  const kernelEnums = (member: string) => {
    vmlinux ??= kernelBtfBytes();
    return vmlinux === null ? [] : enumsWithMember(vmlinux, member);
  };
  const samples: SamplePlan[] = [];
  for (const o of candidates) {
    const bytes = pkg.objects.get(o.name);
    if (bytes === undefined) throw new EbpmError('INTERNAL', `object ${o.name}: bytes not resolved`);
    const found = resultGlobals(parseObject(bytes).globals);
    for (const n of named ?? []) {
      if (o.parameters.some((p) => p.name === n) && !found.some((g) => g.name === n))
        throw new EbpmError('USAGE', `run: --print-map ${n}: a global that is neither an array of counters nor of histograms (\`slots\`)`, {
          hint: `the globals it would print: ${found.map((g) => g.name).join(', ') || 'none'}`,
        });
    }
    for (const g of found.filter((x) => named === undefined || named.includes(x.name))) {
      samples.push({
        object: o.name,
        map: g.name,
        spec: { interval: choices.intervalMs ?? 0, type: g.kind === 'histogram' ? 'log2_hist' : 'default_kv', clearMap: choices.intervalMs !== undefined },
        key: indexKey(
          o.programs.map((p) => p.attach ?? ''),
          g.count,
          kernelEnums,
        ),
        value: g.element,
        result: { map: g.name, kind: g.kind, reason: g.reason },
        global: g,
      });
    }
  }
  return { ...plan, samples: [...plan.samples, ...samples] };
}

/**
 * `withSyscallNames` names the keys of the counter maps an object keys by syscall number, as
 * proven from its code with this run's parameter values (`syscallKeyedMaps`: syscount's `data`,
 * unless counting by process), after the generated table of this machine's architecture;
 * numbers the table lacks print as numbers. Other plans are returned as they are.
 */
export async function withSyscallNames(plan: RunPlan, pkg: ResolvedPackage, given: readonly Assignment[], arch: string = ociArch()): Promise<RunPlan> {
  const wanted = plan.samples.filter((s) => s.result?.kind === 'counters' && s.global === undefined && s.key?.kind === 'int');
  if (wanted.length === 0) return plan;
  // The syscall tables and the ELF reader load only for such maps.
  const [{ SYSCALL_NAMES }, { parseElf }, { syscallKeyedMaps }] = await Promise.all([
    import('../package/syscalls.js'),
    import('../bpf/elf.js'),
    import('../bpf/syscall-keys.js'),
  ]);
  const table = SYSCALL_NAMES[arch];
  if (table === undefined) return plan;
  const keyed = new Map<string, readonly string[]>();
  for (const object of new Set(wanted.map((s) => s.object))) {
    const bytes = pkg.objects.get(object);
    if (bytes === undefined) throw new EbpmError('INTERNAL', `object ${object}: bytes not resolved`);
    const elf = parseElf(bytes);
    const mine = given.filter((a) => a.object === object);
    const readonly = (name: string) => {
      const sec = elf.sections.find((x) => x.name === name);
      return sec === undefined || !name.startsWith('.rodata') ? undefined : applyAssignments(name, sec.data, mine);
    };
    keyed.set(object, syscallKeyedMaps(elf, readonly));
  }
  const values = table.map(([value, name]) => ({ name, value }));
  return {
    ...plan,
    samples: plan.samples.map((s) => {
      if (!wanted.includes(s) || !keyed.get(s.object)?.includes(s.map)) return s;
      const layout: TypeLayout = { kind: 'enum', size: s.key!.size, signed: false, values };
      return { ...s, key: { kind: 'struct', size: s.key!.size, fields: [{ name: 'syscall', offset: 0, layout }] } };
    }),
  };
}

/** The running kernel's BTF, read once (null without one): result globals name their rows by its enums. */
let vmlinux: Uint8Array | null | undefined;

function kernelBtfBytes(): Uint8Array | null {
  try {
    return readFileSync('/sys/kernel/btf/vmlinux');
  } catch {
    return null;
  }
}
