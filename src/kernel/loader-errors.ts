/**
 * Turns the addon's errno errors into ebpm's error codes. Pure: everything it needs (the
 * verifier log, libbpf's warnings, the object's maps and programs) arrives as arguments.
 */
import { EbpmError, isEbpmError } from '../core/errors.js';
import { formOf, notAttachedYet, unattachable, type AttachTarget, type TargetProgram } from './loader-targets.js';
import type { NativeError, ObjectMapInfo, ProgramInfo } from './native.js';

const PERMISSION_HINT = 'run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN before 5.8)';

/**
 * Program types that run on BPF trampolines, by libbpf's type name, and what they need. A kernel
 * that does not allow trampolines refuses their load with EPERM even as root, so for them a
 * permission error as root is the kernel's refusal, not the user's missing privileges.
 */
const TRAMPOLINE_TYPES: Readonly<Record<string, string>> = {
  lsm: 'LSM programs need Linux 5.7+ built with CONFIG_BPF_LSM=y, with "bpf" among the active LSMs (/sys/kernel/security/lsm, set by the lsm= boot parameter) and BPF trampolines',
  tracing:
    'fentry, fexit and fmod_ret programs need Linux 5.5+ with BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS); a kprobe or kretprobe does the same on more kernels',
  ext: 'freplace programs need Linux 5.6+ with BPF trampolines',
};

/** Why a kprobe cannot be created here: libbpf found neither of its two ways. */
export const NO_KPROBES = 'this kernel has no kprobe support (neither the kprobe PMU nor legacy kprobe_events)';
const NO_KPROBES_HINT =
  'kprobes need a kernel built with CONFIG_KPROBES and CONFIG_KPROBE_EVENTS (/sys/bus/event_source/devices/kprobe, or kprobe_events in tracefs); use a tracepoint, or run on such a kernel';

/** What a tracing section attaches as (`fexit/f` → `fexit`), for messages. */
function tracingKind(section: string): string {
  return /^(fentry|fexit|fmod_ret|tp_btf|iter|lsm)\b/.exec(section)?.[1] ?? 'fentry';
}

/** `notInKernelBtf` says why `kind` (fentry, fexit, tp_btf…) cannot attach to `name`: kernel BTF lacks it. */
export function notInKernelBtf(kind: string, name: string): string {
  return kind === 'tp_btf'
    ? `tracepoint ${name} is not in the kernel's BTF, so tp_btf cannot attach`
    : `function ${name} is not in the kernel's BTF, so ${kind} cannot attach`;
}

/** `fentryUnsupported` says that this kernel runs no `kind` (fentry, fexit, fmod_ret) program at all. */
export function fentryUnsupported(kind: string): string {
  return `${kind} is not supported by this kernel`;
}

/** `isNativeError` tells an error the addon threw (it carries an errno `code` and number). */
export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as NativeError).code === 'string' && typeof (e as NativeError).errno === 'number';
}

/** The strerror part of an addon message (`attach x: tracepoint a/b: No such file…` → `No such file…`). */
function reason(e: NativeError): string {
  const i = e.message.lastIndexOf(': ');
  return (i < 0 ? e.message : e.message.slice(i + 2)).toLowerCase();
}

/**
 * `nativeError` maps an addon error outside load and attach: permissions, else `KERNEL_ERROR`
 * with the errno kept in `data`. Anything not from the addon is returned as an internal error.
 */
export function nativeError(e: unknown, context: string): EbpmError {
  if (isEbpmError(e)) return e;
  if (!isNativeError(e)) return new EbpmError('INTERNAL', `${context}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  const data = { errno: e.errno, errnoCode: e.code };
  if (e.code === 'EPERM' || e.code === 'EACCES') {
    return new EbpmError('PERMISSION_DENIED', `${context}: permission denied`, { cause: e, hint: PERMISSION_HINT, data });
  }
  return new EbpmError('KERNEL_ERROR', `${context}: ${reason(e)}`, { cause: e, data });
}

/** Lines of a verifier log that are bookkeeping, not the reason. */
const NOISE = /^(processed \d+ insns|verification time|stack depth|arg#\d+ reference type|\s*$)/;
/** An instruction line of the log (`8: (79) r6 = *(u64 *)(r0 +8)`) or its source annotation. */
const INSN = /^(\d+: |; )/;

/**
 * `verifierSummary` keeps the verifier's verdict: the lines after the last instruction it
 * printed, without the statistics (as cilium's VerifierError prints one summary line).
 */
export function verifierSummary(log: string): string {
  const lines = log.split('\n').filter((l) => !NOISE.test(l));
  let start = lines.length;
  while (start > 0 && !INSN.test(lines[start - 1] ?? '')) start--;
  const verdict = lines.slice(start);
  return (verdict.length > 0 ? verdict : lines.slice(-1)).join('; ');
}

/** What `loadError` knows about the object that failed to load. */
export interface LoadContext {
  readonly object: string;
  readonly programs: readonly ProgramInfo[];
  readonly maps: readonly ObjectMapInfo[];
  readonly btfPath?: string | undefined;
  /** The process runs as root: a permission error is then the kernel refusing, not missing privileges. */
  readonly root?: boolean;
}

/**
 * `loadError` classifies a failed `bpf_object__load`: `PERMISSION_DENIED`, `VERIFIER_REJECTED`
 * (message: the verdict; `data.log`: the whole log), `KERNEL_UNSUPPORTED` (a helper, program
 * type or map type this kernel lacks, named; a trampoline program type refused as root
 * included), `KERNEL_NO_BTF`, else `LOAD_FAILED`.
 */
export function loadError(e: unknown, ctx: LoadContext): EbpmError {
  const where = `load ${ctx.object}`;
  if (!isNativeError(e)) return nativeError(e, where);
  const log = e.log ?? '';
  const messages = e.messages ?? [];
  const text = messages.join('\n');
  const program = /prog '([^']+)': BPF program load failed/.exec(text)?.[1];
  const failedMap = /map '([^']+)': failed to create/.exec(text)?.[1];
  const data = { errno: e.errno, errnoCode: e.code, log, messages, ...(program ? { program } : {}) };
  const prog = program ? `program ${program}: ` : '';

  const helper = /(?:invalid|unknown) func (\w+)#(\d+)/.exec(log);
  if (helper) {
    const name = helper[1] === 'unknown' ? `#${helper[2]}` : `${helper[1]} (#${helper[2]})`;
    return new EbpmError('KERNEL_UNSUPPORTED', `${where}: ${prog}helper ${name} is not supported by this kernel`, {
      cause: e,
      data: { ...data, feature: `helper ${name}` },
      hint: 'this kernel lacks the helper, or does not allow it for this program type; run on a newer kernel',
    });
  }
  // The verifier reached an instruction libbpf poisoned: a field or type of the object's BTF that
  // this kernel's BTF does not have (libbpf: "substituting insn #8 w/ invalid insn").
  const core = /failed to resolve CO-RE relocation <(\w+)> \[\d+\] (struct|union|enum|typedef) ([\w]+)(?:\.([\w.]+))?/.exec(log);
  if (core) {
    const [, kind, tag, type, field] = core as unknown as [string, string, string, string, string | undefined];
    const what = field === undefined ? `has no ${tag} ${type}` : `has no field ${field} in ${tag} ${type}`;
    return new EbpmError('KERNEL_UNSUPPORTED', `${where}: ${prog}this kernel ${what}, which the program reads (CO-RE relocation ${kind})`, {
      cause: e,
      data: { ...data, feature: field === undefined ? `${tag} ${type}` : `${tag} ${type}.${field}` },
      hint: 'the program was written for kernels whose types have it; a newer build of the tool may read it another way',
    });
  }
  if (log.trim() !== '') {
    return new EbpmError('VERIFIER_REJECTED', `${where}: ${prog}verifier rejected: ${verifierSummary(log)}`, {
      cause: e,
      data,
      hint: 'run with --verbose to see the full verifier log',
    });
  }
  const info = program === undefined ? undefined : ctx.programs.find((p) => p.name === program);
  const type = program === undefined ? undefined : (info?.type ?? 'unknown');
  const unsupportedType = () => {
    // A tracing program is named by what it attaches as: "fentry is not supported by this kernel".
    const feature = type === 'tracing' ? tracingKind(info?.section ?? '') : `program type ${type}`;
    return new EbpmError('KERNEL_UNSUPPORTED', `${where}: program ${program}: ${fentryUnsupported(feature)}`, {
      cause: e,
      data: { ...data, feature },
      hint: TRAMPOLINE_TYPES[type!] ?? 'run on a kernel that has this program type',
    });
  };
  if (e.code === 'EPERM' || e.code === 'EACCES') {
    if (ctx.root && type !== undefined && TRAMPOLINE_TYPES[type] !== undefined) return unsupportedType();
    return new EbpmError('PERMISSION_DENIED', `${where}: permission denied`, { cause: e, hint: PERMISSION_HINT, data });
  }
  // libbpf: "prog 'p': failed to find kernel BTF type ID of 'f': -3"
  const missing = /prog '([^']+)': failed to find kernel BTF type ID of '([^']+)'/.exec(text);
  if (missing) {
    const [, name, fn] = missing as unknown as [string, string, string];
    const kind = tracingKind(ctx.programs.find((p) => p.name === name)?.section ?? '');
    return new EbpmError('ATTACH_TARGET_NOT_FOUND', `${where}: program ${name}: ${notInKernelBtf(kind, fn)}`, {
      cause: e,
      data: { ...data, program: name, function: fn },
      hint:
        kind === 'tp_btf'
          ? 'this kernel does not have this tracepoint; look in /sys/kernel/tracing/events'
          : `this kernel does not have ${fn} (a module not loaded, or inlined or renamed here); \`bpftool btf dump file /sys/kernel/btf/vmlinux | grep "'${fn}'"\` looks for it`,
    });
  }
  if (e.code === 'ESRCH' || /kernel BTF|vmlinux BTF|target BTF|btf_custom_path/i.test(text) || (ctx.btfPath && e.code === 'ENOENT')) {
    return new EbpmError('KERNEL_NO_BTF', `${where}: no usable kernel BTF${ctx.btfPath ? ` at ${ctx.btfPath}` : ''}`, {
      cause: e,
      data,
      hint: 'run on a kernel built with CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux), or pass the BTF of this kernel',
    });
  }
  const unsupported = e.code === 'EINVAL' || e.code === 'ENOTSUPP' || e.code === 'ENOTSUP';
  if (unsupported && failedMap) {
    const type = ctx.maps.find((m) => m.name === failedMap)?.type ?? 'unknown';
    return new EbpmError('KERNEL_UNSUPPORTED', `${where}: map ${failedMap}: map type ${type} is not supported by this kernel`, {
      cause: e,
      data: { ...data, feature: `map type ${type}` },
      hint: 'run on a kernel that has this map type',
    });
  }
  if (unsupported && program) return unsupportedType();
  return new EbpmError('LOAD_FAILED', `${where}: ${reason(e)}`, { cause: e, data });
}

/** What `attachError` knows of the machine besides the error. */
export interface AttachFacts {
  /** Whether this kernel can create kprobes (`hasKprobes`). */
  readonly kprobes: boolean;
}

/**
 * `attachError` classifies a failed attach from the errno and libbpf's warnings (`messages`).
 * A kprobe on a kernel without kprobes is `KERNEL_UNSUPPORTED` (whatever libbpf tried last); a
 * missing tracepoint (`tracepoint/<category>/<name>` section or explicit target)
 * `KERNEL_NO_TRACEPOINT`; a section that names no target `ATTACH_NEEDS_TARGET` with the
 * `--attach` form `ebpm run --help` documents, or `ATTACH_UNSUPPORTED` for a kind of program
 * ebpm has no form for; other missing targets are `ATTACH_TARGET_NOT_FOUND`, a kprobe's function
 * named, with where to look for it.
 */
export function attachError(e: unknown, program: TargetProgram, target?: AttachTarget, facts: AttachFacts = { kprobes: true }): EbpmError {
  const { name, section } = program;
  const where = `attach ${name}`;
  if (!isNativeError(e)) return nativeError(e, where);
  const messages = e.messages ?? [];
  const data = { errno: e.errno, errnoCode: e.code, section, messages };
  const kprobe = target ? target.kind === 'kprobe' : program.type === 'kprobe' && /^k(?:ret)?probe\b/.test(section);
  if (kprobe && !facts.kprobes) {
    return new EbpmError('KERNEL_UNSUPPORTED', `${where}: ${NO_KPROBES}`, { cause: e, data: { ...data, feature: 'kprobes' }, hint: NO_KPROBES_HINT });
  }
  const tp = target
    ? target.kind === 'tracepoint'
      ? `${target.category}/${target.name}`
      : undefined
    : /^(?:tracepoint|tp)\/([^/]+\/[^/]+)$/.exec(section)?.[1];
  if (tp && e.code === 'ENOENT') {
    return new EbpmError('KERNEL_NO_TRACEPOINT', `${where}: tracepoint ${tp} does not exist`, {
      cause: e,
      data: { ...data, tracepoint: tp },
      hint: 'look in /sys/kernel/tracing/events for the tracepoints this kernel has (tracefs must be mounted there)',
    });
  }
  // libbpf 1.1 refuses `uprobe/x` with EINVAL ("missing ':function[+offset]' specification") and
  // a bare section with EOPNOTSUPP (which libuv names ENOTSUP).
  const noTarget = e.code === 'ENOTSUP' || messages.some((m) => /missing ':function\[\+offset\]' specification|is not supported for auto-attach/.test(m));
  if (noTarget && target === undefined) {
    if (unattachable(program) !== undefined) return notAttachedYet(program, where);
    const form = formOf(program);
    if (form !== undefined) {
      return new EbpmError('ATTACH_NEEDS_TARGET', `${where}: section ${section} needs a target: --attach ${name}=${form.form}`, {
        cause: e,
        data,
        hint: `for example --attach ${name}=${form.example} (ebpm run --help lists the forms)`,
      });
    }
  }
  // libbpf's form: kprobe/<function>[+<offset>]
  const fn = target ? (target.kind === 'kprobe' ? target.function : undefined) : /^k(?:ret)?probe\/([^+]+)/.exec(section)?.[1];
  if (fn && e.code === 'ENOENT') {
    return new EbpmError('ATTACH_TARGET_NOT_FOUND', `${where}: kernel function ${fn} does not exist`, {
      cause: e,
      data: { ...data, function: fn },
      hint: `look for ${fn} in /proc/kallsyms and in /sys/kernel/tracing/available_filter_functions (what kprobes can attach to): on this kernel it may be inlined, renamed or carry a suffix such as .isra.0`,
    });
  }
  // libbpf: "elf: failed to find symbol 'readline' in '/usr/bin/bash'"
  if (target?.kind === 'uprobe' && target.symbol !== undefined && messages.some((m) => m.includes(`failed to find symbol '${target.symbol}'`))) {
    return new EbpmError('ATTACH_TARGET_NOT_FOUND', `${where}: symbol ${target.symbol} is not in ${target.binary}`, {
      cause: e,
      data: { ...data, symbol: target.symbol },
      hint: `\`nm -D ${target.binary}\` lists the symbols it exports; a symbol of a shared library is attached in the library (its path), not in the program`,
    });
  }
  if (e.code === 'ENOENT' || e.code === 'ENODEV' || e.code === 'ENXIO') {
    return new EbpmError('ATTACH_TARGET_NOT_FOUND', `${where}: ${e.message.slice(e.message.indexOf(': ') + 2)}`, { cause: e, data });
  }
  return nativeError(e, where);
}
