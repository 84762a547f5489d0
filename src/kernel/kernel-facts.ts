/**
 * The running kernel as the preflight asks it: libbpf's feature probes through the addon,
 * tracefs, /proc/kallsyms, the active LSMs and kernel BTF (or a BTF file given instead). Each
 * source is read at most once, and only when a need asks for it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { parseBtf } from '../bpf/btf.js';
import { kernelSupport } from './features.js';
import { loadNative, type BpfNative } from './native.js';
import { kernelBtf, type KernelBtf, type KernelFacts } from './preflight.js';
import { TRACEFS } from './tracepoint-format.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** `kernelFacts` reads this machine's kernel; `btfPath` stands in for its BTF (as `--btf` does). */
export function kernelFacts(native: BpfNative = loadNative(), btfPath?: string): KernelFacts {
  const events = once(() => TRACEFS.map((t) => `${t}/events`).find((d) => existsSync(d)) ?? null);
  const tracepointNames = once(() => {
    const dir = events();
    if (dir === null) return null;
    const names = new Set<string>();
    for (const category of readdirSync(dir, { withFileTypes: true })) {
      if (!category.isDirectory()) continue;
      for (const e of readdirSync(`${dir}/${category.name}`, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
    }
    return names;
  });
  const kallsyms = once(() => {
    const text = readOrNull('/proc/kallsyms');
    if (text === null) return null;
    const names = new Set<string>();
    for (const line of text.split('\n')) {
      // `ffffffff81000000 T name [module]`: text symbols only.
      const [, type, name] = line.split(/\s+/, 3);
      if (name !== undefined && (type === 'T' || type === 't')) names.add(name);
    }
    return names;
  });
  const btf = once((): KernelBtf | null => {
    const path = btfPath ?? (existsSync(VMLINUX) ? VMLINUX : undefined);
    return path === undefined ? null : kernelBtf(parseBtf(readFileSync(path)));
  });
  const probes = once(() => kernelSupport(native));
  return {
    release: release(),
    programType: (type) => native.probeKernel('prog', type, 0),
    mapType: (type) => native.probeKernel('map', type, 0),
    helper: (id, programType) => native.probeKernel('helper', programType, id),
    tracepoint: (category, name) => {
      const dir = events();
      return dir === null ? null : existsSync(`${dir}/${category}/${name}`);
    },
    rawTracepoint: (name) => tracepointNames()?.has(name) ?? null,
    kernelFunction: (name) => kallsyms()?.has(name) ?? null,
    mechanism: (m, name) => probes()(m, name),
    bpfLsm: () => {
      const lsms = readOrNull('/sys/kernel/security/lsm');
      return lsms === null ? null : lsms.split(',').includes('bpf');
    },
    btf,
  };
}
