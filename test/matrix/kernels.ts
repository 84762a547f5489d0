/**
 * The kernels of the matrix: Debian's kernel packages that scripts/kernels.sh (run by
 * scripts/bootstrap.sh) unpacked under .cache/kernels, as its manifest.json lists them, and the
 * modules a VM must load from each to reach the host's root over virtio-9p.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/objects.js';

export const KERNELS_DIR = join(REPO, '.cache', 'kernels');
const MANIFEST = join(KERNELS_DIR, 'manifest.json');

/** The Debian suites the matrix boots, oldest first: 5.10, 6.1 and 6.12. */
export const SUITES = ['bullseye', 'bookworm', 'trixie'] as const;
export type Suite = (typeof SUITES)[number];

/** One unpacked kernel package. */
export interface Kernel {
  readonly suite: Suite;
  /** `uname -r` in the VM, e.g. `5.10.0-46-amd64`. */
  readonly release: string;
  readonly package: string;
  readonly version: string;
  /** The uncompressed kernel (ELF), which qemu boots through its PVH entry. */
  readonly vmlinux: string;
  /** lib/modules/<release>, with the modules.dep depmod wrote. */
  readonly modules: string;
}

/**
 * The modules whose file systems and transport the VM's init needs: the virtio PCI bus, 9p over
 * it, and overlayfs for a writable root. Each kernel builds some of them in.
 */
export const VM_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'] as const;

/** `kernels` lists the matrix's kernels, or says what is missing (run scripts/bootstrap.sh). */
export function kernels(): { kernels: Kernel[] } | { missing: string } {
  if (!existsSync(MANIFEST)) return { missing: `${MANIFEST} (run scripts/kernels.sh)` };
  const listed = (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { kernels: Omit<Kernel, 'vmlinux' | 'modules'>[] }).kernels;
  const out: Kernel[] = [];
  for (const suite of SUITES) {
    const k = listed.find((x) => x.suite === suite);
    if (k === undefined) return { missing: `the ${suite} kernel in ${MANIFEST}` };
    const kernel = {
      ...k,
      vmlinux: join(KERNELS_DIR, k.release, 'vmlinux'),
      modules: join(KERNELS_DIR, k.release, 'lib', 'modules', k.release),
    };
    for (const f of [kernel.vmlinux, join(kernel.modules, 'modules.dep')]) if (!existsSync(f)) return { missing: f };
    out.push(kernel);
  }
  return { kernels: out };
}

/** A module's name from its path in modules.dep: `kernel/net/9p/9pnet_virtio.ko.xz` → `9pnet_virtio`. */
function moduleName(path: string): string {
  return path
    .slice(path.lastIndexOf('/') + 1)
    .replace(/\.ko(\.\w+)?$/, '')
    .replaceAll('-', '_');
}

/**
 * `loadOrder` gives the module files (paths relative to lib/modules/<release>) to insert, each
 * after the modules it depends on, so that `wanted` are all loaded; a module the kernel builds
 * in (listed in modules.builtin) needs no file. `dep` and `builtin` are the texts of
 * modules.dep and modules.builtin. A wanted module in neither is an error.
 */
export function loadOrder(dep: string, builtin: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, { path: string; needs: string[] }>();
  for (const line of dep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    deps.set(moduleName(path), {
      path,
      needs: line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    });
  }
  const builtIn = new Set(builtin.split('\n').filter(Boolean).map(moduleName));
  const order: string[] = [];
  const visit = (name: string) => {
    const m = deps.get(name);
    if (m === undefined) {
      if (builtIn.has(name)) return;
      throw new Error(`module ${name}: neither in modules.dep nor built in`);
    }
    if (order.includes(m.path)) return;
    // modules.dep lists every module a module needs, the ones loaded last first.
    for (const need of [...m.needs].reverse()) visit(moduleName(need));
    order.push(m.path);
  };
  for (const w of wanted) visit(w.replaceAll('-', '_'));
  return order;
}
