/**
 * The preflight: an object's needs (src/bpf/needs.ts) held against what a kernel offers, before
 * anything is loaded, so a refusal lists everything the kernel lacks instead of the first
 * verifier or CO-RE failure. Pure over `KernelFacts`; kernel-facts.ts reads the real kernel.
 */
import type { Mechanism, Support } from '../bpf/alternatives.js';
import { EbpmError, isCode, isEbpmError, isKernelRefusal } from '../core/errors.js';
import { resolveType, type Btf, type BtfType } from '../bpf/btf.js';
import type { FieldStep, Need } from '../bpf/needs.js';
import { since } from './since.js';

/** What a kernel offers; `null` where it cannot be told (no tracefs, a probe libbpf lacks). */
export interface KernelFacts {
  /** `uname -r`. */
  readonly release: string;
  programType(type: string): boolean | null;
  mapType(type: string): boolean | null;
  helper(id: number, programType: string): boolean | null;
  tracepoint(category: string, name: string): boolean | null;
  /** A tracepoint of any category named `name` (raw_tp attaches by name alone). */
  rawTracepoint(name: string): boolean | null;
  /** Whether a kernel function is in /proc/kallsyms (kprobes attach to those). */
  kernelFunction(name: string): boolean | null;
  /** The attach probes of features.ts: kprobe support, tp_btf and fentry targets. */
  mechanism(mechanism: Mechanism, name: string): Support;
  bpfLsm(): boolean | null;
  /** The kernel's BTF, or null when the kernel has none. */
  btf(): KernelBtf | null;
}

/** `Finding` is a need this kernel does not meet (`missing`) or cannot be asked about (`unknown`). */
export interface Finding {
  readonly need: Need;
  readonly verdict: 'missing' | 'unknown';
  /** Why, for people: `not in this kernel (Linux 5.8+)`. */
  readonly why: string;
}

const NOT_HERE = 'not in this kernel';

/**
 * Program types attached through kernel BTF. libbpf's load probe for them needs an attach target
 * and says no without one, so they are judged by their attach points (tp_btf, fentry, lsm) instead,
 * and their helpers are left to the verifier.
 */
const BTF_ATTACHED: ReadonlySet<string> = new Set(['tracing', 'lsm', 'ext', 'struct_ops']);

function missing(need: Need, why: string, release?: string): Finding {
  return { need, verdict: 'missing', why: release === undefined ? why : `${why} (Linux ${release}+)` };
}

/** One need against the kernel: a finding, or undefined when met. */
function check(need: Need, k: KernelFacts): Finding | undefined {
  const a = need.ask;
  const answer = (ok: boolean | null, why: string, release?: string): Finding | undefined =>
    ok === true ? undefined : ok === null ? { need, verdict: 'unknown', why: 'this kernel could not be asked' } : missing(need, why, release);
  switch (a.kind) {
    case 'program-type':
      if (BTF_ATTACHED.has(a.type)) return undefined;
      return answer(k.programType(a.type), NOT_HERE, since('program-type', a.type));
    case 'map-type':
      return answer(k.mapType(a.type), NOT_HERE, since('map-type', a.type));
    case 'helper': {
      if (BTF_ATTACHED.has(a.programType)) return undefined;
      const name = need.what.replace(/^helper bpf_/, '');
      const release = since('helper', name);
      return answer(k.helper(a.id, a.programType), `${NOT_HERE} for ${a.programType} programs`, release);
    }
    case 'tracepoint':
      return answer(k.tracepoint(a.category, a.name), 'no such tracepoint in tracefs');
    case 'raw-tracepoint':
      return answer(k.rawTracepoint(a.name), 'no such tracepoint in tracefs');
    case 'btf-tracepoint':
    case 'trampoline': {
      const s = k.mechanism(a.kind === 'trampoline' ? 'fentry' : 'tp_btf', a.kind === 'trampoline' ? a.function : a.name);
      return s.ok ? undefined : missing(need, s.why);
    }
    case 'kprobe': {
      const s = k.mechanism('kprobe', a.function);
      if (!s.ok) return missing(need, s.why);
      return answer(k.kernelFunction(a.function), 'not in /proc/kallsyms (absent or inlined in this kernel)');
    }
    case 'bpf-lsm':
      return answer(k.bpfLsm(), 'BPF LSM is not active (needs CONFIG_BPF_LSM and "bpf" in /sys/kernel/security/lsm)', '5.7');
    default: {
      const btf = k.btf();
      if (btf === null) return missing(need, 'the kernel has no BTF to check it against');
      switch (a.kind) {
        case 'kfunc':
          return answer(btf.has('func', a.name), 'not in the kernel BTF');
        case 'type':
          return answer(btf.has(a.btfKind, a.name), 'not in the kernel BTF');
        case 'field':
          return answer(btf.field(a.btfKind, a.type, a.steps), btf.has(a.btfKind, a.type) ? 'the kernel type has no such field' : 'not in the kernel BTF');
        case 'enum-value':
          return answer(btf.enumValue(a.type, a.value), 'not in the kernel BTF');
      }
    }
  }
}

/**
 * `preflight` lists the needs this kernel does not meet. A missing need the object guards
 * (`guarded`) is kept, since the program may still depend on it, but does not by itself keep
 * the package from loading: `blocking` tells the two apart.
 */
export function preflight(needs: readonly Need[], kernel: KernelFacts): Finding[] {
  return needs.flatMap((n) => check(n, kernel) ?? []);
}

/** `blocking` are the findings that stop a load: missing, and not checked for by the program. */
export function blocking(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.verdict === 'missing' && !f.need.guarded);
}

/** Refusals whose hint is about the failure in general (read the verifier log), not about a cause. */
const GENERIC_REFUSALS: ReadonlySet<string> = new Set(['VERIFIER_REJECTED', 'LOAD_FAILED', 'KERNEL_ERROR']);

/**
 * `missingError` is the refusal of a load the preflight explains: `KERNEL_MISSING` (exit code 4),
 * the blocking findings grouped by cause in its one-line message; `cause` is the kernel's own
 * refusal, whose advice is kept when there is one cause.
 */
export function missingError(release: string, findings: readonly Finding[], cause?: unknown): EbpmError {
  const byWhy = new Map<string, string[]>();
  for (const f of blocking(findings)) {
    const whats = byWhy.get(f.why) ?? [];
    if (!whats.includes(f.need.what)) whats.push(f.need.what);
    byWhy.set(f.why, whats);
  }
  const causes = [...byWhy].map(([why, whats]) => `${whats.join(', ')}: ${why}`);
  // The kernel's own advice fits when it named this one cause itself; a verifier's does not.
  const own = causes.length === 1 && isEbpmError(cause) && !GENERIC_REFUSALS.has(cause.code) ? cause.hint : undefined;
  return new EbpmError('KERNEL_MISSING', `cannot run on Linux ${release}: ${causes.join('; ')}`, {
    cause,
    hint:
      own ??
      'see `ebpm check` for the programs that need each; run it on a kernel that has them (a version is the first Linux release that does), or leave programs out with --skip-program',
    data: { release, missing: causes },
  });
}

/**
 * `explainLoad` runs `step` (a load or an attach); when the kernel refuses it, the preflight
 * (`findings`, computed only then) looks for what this kernel lacks, and if anything blocks,
 * that list is the refusal instead of the first verifier or CO-RE failure. A preflight that
 * cannot read the kernel leaves the kernel's own refusal standing.
 */
export function explainLoad<T>(step: () => T, findings: () => { release: string; findings: readonly Finding[] }): T {
  try {
    return step();
  } catch (e) {
    if (!isKernelRefusal(e) || isCode(e, 'PERMISSION_DENIED')) throw e;
    let found: { release: string; findings: readonly Finding[] };
    try {
      found = findings();
    } catch {
      throw e;
    }
    throw blocking(found.findings).length === 0 ? e : missingError(found.release, found.findings, e);
  }
}

/** The kernel's BTF as the preflight asks it: by kind and name, field paths, enumerators. */
export interface KernelBtf {
  has(kind: 'struct' | 'union' | 'enum' | 'func' | 'other', name: string): boolean;
  field(kind: 'struct' | 'union', type: string, steps: readonly FieldStep[]): boolean;
  enumValue(type: string, value: string): boolean;
}

/** `kernelBtf` indexes a parsed kernel BTF by name once. */
export function kernelBtf(btf: Btf): KernelBtf {
  const byName = new Map<string, BtfType[]>();
  for (const t of btf.types) {
    if (t.name === '') continue;
    const list = byName.get(t.name);
    if (list === undefined) byName.set(t.name, [t]);
    else list.push(t);
  }
  const named = (name: string) => byName.get(name) ?? [];
  const kindOf = (t: BtfType) =>
    t.kind === 'enum64' ? 'enum' : t.kind === 'struct' || t.kind === 'union' || t.kind === 'enum' || t.kind === 'func' ? t.kind : 'other';
  /** A member by name, through anonymous struct and union members as libbpf searches. */
  const member = (t: BtfType, name: string): BtfType | undefined => {
    if (t.kind !== 'struct' && t.kind !== 'union') return undefined;
    for (const m of t.members) {
      const mt = resolveType(btf, m.type);
      if (m.name === name) return mt;
      if (m.name === '') {
        const inner = member(mt, name);
        if (inner !== undefined) return inner;
      }
    }
    return undefined;
  };
  const walk = (t: BtfType, steps: readonly FieldStep[]): boolean => {
    let at: BtfType | undefined = t;
    for (const s of steps) {
      if (at === undefined) return false;
      if ('member' in s) at = member(at, s.member);
      else at = at.kind === 'array' ? resolveType(btf, at.type) : undefined;
    }
    return at !== undefined;
  };
  return {
    has: (kind, name) => named(name).some((t) => kindOf(t) === kind),
    field: (kind, type, steps) => named(type).some((t) => t.kind === kind && walk(t, steps)),
    enumValue: (type, value) => named(type).some((t) => (t.kind === 'enum' || t.kind === 'enum64') && t.values.some((v) => v.name === value)),
  };
}
