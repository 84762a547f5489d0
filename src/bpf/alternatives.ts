// Programs that are alternatives: libbpf-tools ship one event attached two ways (runqlat's
// tp_btf/sched_switch and raw_tp/sched_switch; tcpconnlat's fentry/tcp_v4_connect and
// kprobe/tcp_v4_connect) and let user space load the one the kernel supports. Pure: program
// names and sections in, groups and the choice out; what the kernel supports is an argument.
import { sectionInfo } from './sections.js';

/** A way to attach to an event, best first: tp_btf before raw_tp, fentry/fexit before kprobe/kretprobe (as libbpf-tools prefer them). */
export type Mechanism = 'tp_btf' | 'raw_tp' | 'fentry' | 'kprobe';
const PREFERENCE: readonly Mechanism[] = ['tp_btf', 'raw_tp', 'fentry', 'kprobe'];

/** One way to attach to a group's event: the programs that work together that way (fentry and fexit; kprobe and kretprobe). */
export interface AlternativeOption {
  readonly mechanism: Mechanism;
  readonly programs: readonly string[];
}

/** An event the object attaches to in more than one way; `options` best first. */
export interface AlternativeGroup {
  readonly kind: 'tracepoint' | 'function';
  /** The tracepoint (`sched_switch`) or kernel function (`tcp_v4_connect`). */
  readonly name: string;
  readonly options: readonly AlternativeOption[];
}

/** Whether the kernel supports a mechanism for an event; `why` says why not. */
export type Support = { readonly ok: true } | { readonly ok: false; readonly why: string };

/** A group's option chosen for this kernel, why each better one was passed over, and whether the kernel supports the one chosen. */
export interface AlternativeChoice {
  readonly group: AlternativeGroup;
  readonly chosen: AlternativeOption;
  readonly passedOver: readonly { readonly mechanism: Mechanism; readonly why: string }[];
  readonly support: Support;
}

/** The mechanism and event of a section that has alternatives (`kprobe/f+0x10` has none: an offset is one place). */
function eventOf(section: string): { mechanism: Mechanism; kind: 'tracepoint' | 'function'; name: string } | undefined {
  const info = sectionInfo(section);
  if (info?.target == null || !/^[A-Za-z_][\w.]*$/.test(info.target)) return undefined;
  switch (info.def) {
    case 'tp_btf+':
      return { mechanism: 'tp_btf', kind: 'tracepoint', name: info.target };
    case 'raw_tp+':
    case 'raw_tracepoint+':
      return { mechanism: 'raw_tp', kind: 'tracepoint', name: info.target };
    case 'fentry+':
    case 'fexit+':
      return { mechanism: 'fentry', kind: 'function', name: info.target };
    case 'kprobe+':
    case 'kretprobe+':
      return { mechanism: 'kprobe', kind: 'function', name: info.target };
    default:
      return undefined;
  }
}

/**
 * `alternativeGroups` groups `programs` by the event they attach to and the mechanism they use,
 * and keeps the events reached by more than one mechanism, in the order the programs come:
 * `[tp_btf/sched_switch, raw_tp/sched_switch]` → one group, tracepoint sched_switch, options
 * tp_btf then raw_tp. fentry/F and fexit/F are one option, kprobe/F and kretprobe/F another.
 */
export function alternativeGroups(programs: readonly { readonly name: string; readonly section: string }[]): AlternativeGroup[] {
  const byEvent = new Map<string, { kind: 'tracepoint' | 'function'; name: string; options: Map<Mechanism, string[]> }>();
  for (const p of programs) {
    const ev = eventOf(p.section);
    if (ev === undefined) continue;
    const key = `${ev.kind} ${ev.name}`;
    const group = byEvent.get(key) ?? { kind: ev.kind, name: ev.name, options: new Map() };
    byEvent.set(key, group);
    group.options.set(ev.mechanism, [...(group.options.get(ev.mechanism) ?? []), p.name]);
  }
  return [...byEvent.values()]
    .filter((g) => g.options.size > 1)
    .map((g) => ({
      kind: g.kind,
      name: g.name,
      options: PREFERENCE.filter((m) => g.options.has(m)).map((m) => ({ mechanism: m, programs: g.options.get(m)! })),
    }));
}

/**
 * `chooseAlternatives` takes each group's best option the kernel supports (`support`), else its
 * last, the most widely available, whose load or attach then says why it cannot run here.
 */
export function chooseAlternatives(groups: readonly AlternativeGroup[], support: (mechanism: Mechanism, name: string) => Support): AlternativeChoice[] {
  return groups.map((group) => {
    const passedOver: { mechanism: Mechanism; why: string }[] = [];
    for (const option of group.options) {
      const s = support(option.mechanism, group.name);
      if (s.ok) return { group, chosen: option, passedOver, support: s };
      passedOver.push({ mechanism: option.mechanism, why: s.why });
    }
    const last = passedOver.pop()!;
    return { group, chosen: group.options.at(-1)!, passedOver, support: { ok: false, why: last.why } };
  });
}

/** `unchosen` names the programs of the options not chosen: those not to load. */
export function unchosen(choices: readonly AlternativeChoice[]): string[] {
  return choices.flatMap((c) => c.group.options.filter((o) => o !== c.chosen).flatMap((o) => o.programs));
}
