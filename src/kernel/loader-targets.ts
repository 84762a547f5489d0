/**
 * The one vocabulary of explicit attach targets, for the sections libbpf cannot attach alone
 * (`uprobe`, `xdp`, `tc`, `cgroup/…`) or to attach elsewhere than the section says: written by
 * `ebpm run --attach <program>=<target>` (`parseTarget`, one form per kind of program,
 * `ATTACH_FORMS`) and by a Wasm guest's `wasm_attach_bpf_program`, and resolved on this machine
 * in one place (`resolveTarget`, called by `BpfObject.attach`): an interface stays a name until
 * then.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { sectionInfo } from '../bpf/sections.js';
import { EbpmError } from '../core/errors.js';

/** Where to attach a program; xdp and tc name their interface. */
export type AttachTarget =
  | { readonly kind: 'uprobe'; readonly binary: string; readonly symbol?: string; readonly offset?: number; readonly pid?: number; readonly retprobe?: boolean }
  | { readonly kind: 'kprobe'; readonly function: string; readonly retprobe?: boolean }
  | { readonly kind: 'tracepoint'; readonly category: string; readonly name: string }
  | { readonly kind: 'xdp'; readonly interface: string }
  | { readonly kind: 'tc'; readonly interface: string; readonly direction: 'ingress' | 'egress'; readonly priority?: number }
  | { readonly kind: 'cgroup'; readonly path: string };

/** An `AttachTarget` as the addon takes it (`resolveTarget`): xdp and tc interfaces by index. */
export type NativeAttachTarget =
  | Exclude<AttachTarget, { kind: 'xdp' } | { kind: 'tc' }>
  | { readonly kind: 'xdp'; readonly ifindex: number }
  | { readonly kind: 'tc'; readonly ifindex: number; readonly direction: 'ingress' | 'egress'; readonly priority?: number };

/** The target forms, by kind of program, for `ebpm run --help`. */
export const ATTACH_FORMS: readonly string[] = [
  'uprobe, uretprobe    BINARY:SYMBOL[+OFFSET] or BINARY:OFFSET   /usr/bin/bash:readline',
  'kprobe, kretprobe    FUNCTION                                  do_sys_openat2',
  'tracepoint           CATEGORY/NAME                             syscalls/sys_enter_openat',
  'xdp                  INTERFACE                                 lo',
  'tc (sched_cls)       INTERFACE:ingress or INTERFACE:egress     eth0:ingress',
  'cgroup_*, sock_ops   CGROUP_DIRECTORY                          /sys/fs/cgroup/user.slice',
];

/** What `parseTarget` needs of the program: libbpf's section and type names. */
export interface TargetProgram {
  readonly name: string;
  readonly section: string;
  readonly type: string;
}

/**
 * `isInterfaceName` is Linux's rule for a network interface name (`dev_valid_name`): 1 to 15
 * bytes (IFNAMSIZ - 1), not `.` or `..`, no `/`, `:` or whitespace; so it cannot leave
 * /sys/class/net either. ebpm also refuses control and non-ASCII characters.
 */
export function isInterfaceName(name: string): boolean {
  return /^[\x21-\x7e]{1,15}$/.test(name) && !/[/:]/.test(name) && name !== '.' && name !== '..';
}

/**
 * `interfaceIndex` numbers a network interface of this network namespace (sysfs), for xdp and tc
 * targets. A bad name or a missing interface is `ATTACH_TARGET_NOT_FOUND` (errno ENODEV, what a
 * Wasm guest gets back).
 */
function interfaceIndex(name: string, what: string): number {
  try {
    if (!isInterfaceName(name)) throw new Error('not an interface name');
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch (e) {
    throw new EbpmError('ATTACH_TARGET_NOT_FOUND', `${what}: interface ${name} does not exist`, {
      cause: e,
      hint: '`ip link` lists the interfaces of this network namespace',
      data: { interface: name, errno: 19 },
    });
  }
}

/**
 * `interfaceTarget` is the target of a tc or xdp program given by interface index, as eunomia's
 * `@tchook`/`@ifindex` give it, as the interface of that index in this network namespace
 * (sysfs); none is `ATTACH_TARGET_NOT_FOUND`.
 */
export function interfaceTarget(
  kind: 'tc' | 'xdp',
  t: { readonly ifindex: number; readonly direction?: 'ingress' | 'egress'; readonly priority?: number },
  what: string,
): AttachTarget {
  const name = readdirSync('/sys/class/net').find((n) => {
    try {
      return Number(readFileSync(`/sys/class/net/${n}/ifindex`, 'utf8').trim()) === t.ifindex;
    } catch {
      return false;
    }
  });
  if (name === undefined) {
    throw new EbpmError('ATTACH_TARGET_NOT_FOUND', `${what}: no interface has index ${t.ifindex} (the package's default target)`, {
      hint: `attach it elsewhere with --attach ${what.replace(/^program /, '')}=${kind === 'tc' ? 'INTERFACE:ingress' : 'INTERFACE'}; \`ip link\` lists the interfaces`,
      data: { ifindex: t.ifindex, errno: 19 },
    });
  }
  if (kind === 'xdp') return { kind, interface: name };
  return { kind, interface: name, direction: t.direction ?? 'ingress', ...(t.priority === undefined ? {} : { priority: t.priority }) };
}

/** `resolveTarget` turns a target into what the addon takes: an xdp or tc interface by its index. */
export function resolveTarget(t: AttachTarget, what: string): NativeAttachTarget {
  switch (t.kind) {
    case 'xdp':
      return { kind: 'xdp', ifindex: interfaceIndex(t.interface, what) };
    case 'tc': {
      const { interface: name, ...rest } = t;
      return { ...rest, ifindex: interfaceIndex(name, what) };
    }
    case 'uprobe':
    case 'kprobe':
    case 'tracepoint':
    case 'cgroup':
      return t;
  }
}

const NUMBER = /^(0x[0-9a-f]+|\d+)$/i;

/**
 * `parseTarget` reads `text` as the target of `program`, in the form its kind takes: uprobes by
 * section (`uprobe`, `uretprobe`), kprobes likewise, else by program type. A malformed target,
 * or one for a program that takes none, is `USAGE`.
 */
export function parseTarget(program: TargetProgram, text: string): AttachTarget {
  const bad = (why: string) =>
    new EbpmError('USAGE', `run: --attach ${program.name}=${text}: ${why}`, {
      hint: `a ${program.type} program (${program.section}) takes ${formOf(program)?.form ?? 'no target'}`,
    });
  const retprobe = /^(?:u|k)retprobe\b/.test(program.section);
  switch (kindOf(program)) {
    case 'uprobe': {
      const colon = text.lastIndexOf(':');
      const [binary, at] = colon < 0 ? [text, ''] : [text.slice(0, colon), text.slice(colon + 1)];
      const m = /^([A-Za-z_.$][\w.$@]*)?(?:\+(0x[0-9a-f]+|\d+))?$/i.exec(at);
      if (binary === '' || at === '') throw bad('not BINARY:SYMBOL');
      if (NUMBER.test(at)) return { kind: 'uprobe', binary, offset: Number(at), retprobe };
      if (!m?.[1]) throw bad(`${JSON.stringify(at)} is not a symbol, a symbol+offset or an offset`);
      return { kind: 'uprobe', binary, symbol: m[1], ...(m[2] === undefined ? {} : { offset: Number(m[2]) }), retprobe };
    }
    case 'kprobe':
      if (!/^[A-Za-z_][\w.]*$/.test(text)) throw bad('not a kernel function name');
      return { kind: 'kprobe', function: text, retprobe };
    case 'tracepoint': {
      const m = /^(\w+)\/(\w+)$/.exec(text);
      if (!m) throw bad('not CATEGORY/NAME');
      return { kind: 'tracepoint', category: m[1]!, name: m[2]! };
    }
    case 'xdp':
      if (!isInterfaceName(text)) throw bad('not an interface name');
      return { kind: 'xdp', interface: text };
    case 'tc': {
      const m = /^(.+):(ingress|egress)$/.exec(text);
      if (!m || !isInterfaceName(m[1]!)) throw bad('not INTERFACE:ingress or INTERFACE:egress');
      return { kind: 'tc', interface: m[1]!, direction: m[2] as 'ingress' | 'egress' };
    }
    case 'cgroup':
      if (text === '') throw bad('not a cgroup directory');
      return { kind: 'cgroup', path: text };
    case undefined:
      if (unattachable(program) !== undefined) throw notAttachedYet(program, `run: --attach ${program.name}=${text}`);
      throw bad('this kind of program is attached by its section only');
  }
}

/**
 * `unattachable` names the kind of `p` when ebpm can attach it neither by its section nor with
 * `--attach` (`perf_event`, `socket_filter`, `sock_ops`, a bare `usdt`), else undefined.
 */
export function unattachable(p: TargetProgram): string | undefined {
  if (kindOf(p) !== undefined || sectionInfo(p.section)?.autoAttach) return undefined;
  return /^usdt\b/.test(p.section) ? 'usdt' : p.type;
}

/** `notAttachedYet` is the refusal of a program `unattachable` names, the same with and without `--attach`. */
export function notAttachedYet(p: TargetProgram, what: string): EbpmError {
  return new EbpmError('ATTACH_UNSUPPORTED', `${what}: ebpm does not attach ${unattachable(p)} programs yet`, {
    hint: `${p.name} (${p.section}) is attached by the tool it came with; ebpm attaches programs by their section or with --attach (ebpm run --help lists the forms)`,
    data: { program: p.name, section: p.section, type: p.type },
  });
}

function kindOf(p: TargetProgram): 'uprobe' | 'kprobe' | 'tracepoint' | 'xdp' | 'tc' | 'cgroup' | undefined {
  if (/^usdt\b/.test(p.section)) return undefined;
  if (p.type === 'kprobe') return /^u(?:ret)?probe\b/.test(p.section) ? 'uprobe' : 'kprobe';
  if (p.type === 'tracepoint' || p.type === 'xdp') return p.type;
  if (p.type === 'sched_cls') return 'tc';
  // sock_ops programs attach to a cgroup (BPF_CGROUP_SOCK_OPS), as cgroup_* ones do.
  return p.type.startsWith('cgroup') || p.type === 'sock_ops' ? 'cgroup' : undefined;
}

/** `formOf` is the `--attach` target form of `p`, and an example, as `ebpm run --help` shows them (ATTACH_FORMS). */
export function formOf(p: TargetProgram): { readonly form: string; readonly example: string } | undefined {
  const kind = kindOf(p);
  if (kind === undefined) return undefined;
  const [, form, example] = ATTACH_FORMS.find((f) => f.startsWith(kind))!.split(/\s{2,}/) as [string, string, string];
  return { form, example };
}
