/**
 * What this kernel offers the attach mechanisms that programs offer alternatives for, probed as
 * libbpf-tools probe before they choose (trace_helpers.c): the kprobe PMU or legacy
 * kprobe_events for kprobes, a `btf_trace_<tracepoint>` type in kernel BTF for tp_btf, and for
 * fentry the function in kernel BTF plus a real fentry program loaded and attached on it. The
 * reasons are the refusal texts of loader-errors.ts, so a choice and a failure read alike.
 */
import { existsSync } from 'node:fs';
import type { Mechanism, Support } from '../bpf/alternatives.js';
import { fentryUnsupported, NO_KPROBES, notInKernelBtf } from './loader-errors.js';
import { loadNative, type BpfNative } from './native.js';

/** Where libbpf looks for kprobe support: the PMU (4.17+), else legacy kprobe_events in tracefs. */
const KPROBE_PLACES = ['/sys/bus/event_source/devices/kprobe/type', '/sys/kernel/tracing/kprobe_events', '/sys/kernel/debug/tracing/kprobe_events'];

/** `hasKprobes` tells whether this kernel can create kprobes (as root: tracefs is root's). */
export function hasKprobes(): boolean {
  return KPROBE_PLACES.some((p) => existsSync(p));
}

const OK: Support = { ok: true };

/**
 * `kernelSupport` probes the kernel for `mechanism` on event `name`, remembering each answer.
 * raw_tp is taken as supported (Linux 4.17+): its attach names a missing tracepoint itself.
 */
export function kernelSupport(native: BpfNative = loadNative()): (mechanism: Mechanism, name: string) => Support {
  const seen = new Map<string, Support>();
  let kprobes: Support | undefined;
  let fentryWorks: Support | undefined;
  const btfId = (name: string, kind: 'fentry' | 'tp_btf'): number | undefined => {
    try {
      return native.vmlinuxBtfId(name, kind);
    } catch {
      return undefined;
    }
  };
  const probe = (mechanism: Mechanism, name: string): Support => {
    switch (mechanism) {
      case 'raw_tp':
        return OK;
      case 'kprobe':
        kprobes ??= hasKprobes() ? OK : { ok: false, why: NO_KPROBES };
        return kprobes;
      case 'tp_btf':
        return btfId(name, 'tp_btf') === undefined ? { ok: false, why: notInKernelBtf('tp_btf', name) } : OK;
      case 'fentry': {
        const id = btfId(name, 'fentry');
        if (id === undefined) return { ok: false, why: notInKernelBtf('fentry', name) };
        if (fentryWorks === undefined) {
          try {
            native.probeFentry(id);
            fentryWorks = OK;
          } catch (e) {
            const code = (e as { code?: unknown }).code;
            fentryWorks = { ok: false, why: code === 'EPERM' && process.geteuid?.() !== 0 ? 'probing fentry needs root' : fentryUnsupported('fentry') };
          }
        }
        return fentryWorks;
      }
    }
  };
  return (mechanism, name) => {
    const key = `${mechanism} ${name}`;
    const known = seen.get(key) ?? probe(mechanism, name);
    seen.set(key, known);
    return known;
  };
}
