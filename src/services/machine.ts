/**
 * What this machine offers a package, and the refusals made before anything is loaded: the
 * architecture, the capabilities, kernel BTF (the kernel's own, a file given with `--btf`, or
 * the one the package carries for this kernel release). Shared by the BPF and the Wasm branches
 * of `ebpm run`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ociArch, wrongPlatform } from '../core/arch.js';
import { assertNever, EbpmError } from '../core/errors.js';
import type { PackageMetadata } from '../package/metadata.js';

/** Linux capability numbers (include/uapi/linux/capability.h). */
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/**
 * `missingCapabilities` reads the `CapEff:` line of /proc/self/status and names what loading
 * and attaching tracing programs needs and is missing: CAP_BPF and CAP_PERFMON (5.8+), or
 * CAP_SYS_ADMIN, which covers both on every kernel.
 */
export function missingCapabilities(procStatus: string): string[] {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(procStatus)?.[1];
  if (hex === undefined) return [];
  const eff = BigInt(`0x${hex}`);
  const has = (c: bigint) => (eff >> c) & 1n;
  if (has(CAP_SYS_ADMIN)) return [];
  return [has(CAP_BPF) ? '' : 'CAP_BPF', has(CAP_PERFMON) ? '' : 'CAP_PERFMON'].filter(Boolean);
}

/** What the machine offers, injected so the checks can be tested without changing it. */
export interface MachineFacts {
  /** OCI architecture name (`amd64`). */
  readonly architecture: string;
  /** Contents of /proc/self/status. */
  readonly procStatus: string;
  /** Whether /sys/kernel/btf/vmlinux exists. */
  readonly kernelBtf: boolean;
  /** The kernel release, as `uname -r` prints it. */
  readonly release: string;
}

/** `machineFacts` reads this machine. */
export function machineFacts(): MachineFacts {
  let procStatus = '';
  try {
    procStatus = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // not Linux: the kernel will say what it thinks at load
  }
  return { architecture: ociArch(), procStatus, kernelBtf: existsSync('/sys/kernel/btf/vmlinux'), release: release() };
}

/**
 * Where CO-RE relocations find the kernel's types: the kernel's own (or none needed), a file
 * the user gave (`--btf`), or the BTF the package carries for this kernel release.
 */
export type KernelBtfSource =
  | { readonly kind: 'kernel' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'package'; readonly release: string };

/**
 * `checkMachine` refuses, before anything is loaded, a package this machine cannot run:
 * `PACKAGE_WRONG_ARCH`, `PERMISSION_DENIED` (naming the capabilities) or `KERNEL_NO_BTF` (a
 * package needing BTF on a kernel without it, carrying none for its release, and no `btfFile`).
 * It returns where the package's CO-RE relocations will find the kernel's types.
 */
export function checkMachine(meta: PackageMetadata, facts: MachineFacts, btfFile?: string): KernelBtfSource {
  if (meta.architecture !== 'unknown' && meta.architecture !== facts.architecture) {
    throw wrongPlatform({ os: 'linux', architecture: facts.architecture }, [{ os: 'linux', architecture: meta.architecture }]);
  }
  const caps = missingCapabilities(facts.procStatus);
  if (caps.length > 0) {
    throw new EbpmError('PERMISSION_DENIED', `missing ${caps.join(' and ')}`, {
      hint: 'run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8)',
      data: { missing: caps },
    });
  }
  if (btfFile !== undefined) return { kind: 'file', path: btfFile };
  if (!meta.requirements.kernelBtf || facts.kernelBtf) return { kind: 'kernel' };
  const carried = (meta.btf ?? []).map((b) => b.release);
  if (carried.includes(facts.release)) return { kind: 'package', release: facts.release };
  throw new EbpmError(
    'KERNEL_NO_BTF',
    `kernel ${facts.release} has no BTF (/sys/kernel/btf/vmlinux), which the package needs for CO-RE, and the package carries ${carried.length === 0 ? 'none' : `BTF only for ${carried.join(', ')}`}`,
    {
      hint: `rebuild the package with \`ebpm build --btf-for <vmlinux, BTF file or linux-image .deb of ${facts.release}>\`, or pass this kernel's BTF with \`ebpm run --btf <file>\``,
      data: { release: facts.release, carried },
    },
  );
}

/** The BTF file libbpf opens for CO-RE (`btf_custom_path`), and how to remove it once the objects are closed. */
export interface KernelBtfFile {
  /** Undefined: the kernel's own. */
  readonly path: string | undefined;
  remove(): Promise<void>;
}

/**
 * `kernelBtfFile` makes `source` a path: a carried BTF (`btf`, by release) is written to a file
 * in a fresh directory of mode 0700 (mkdtemp), which `remove` deletes.
 */
export async function kernelBtfFile(source: KernelBtfSource, btf: ReadonlyMap<string, Uint8Array>): Promise<KernelBtfFile> {
  switch (source.kind) {
    case 'kernel':
      return { path: undefined, remove: async () => undefined };
    case 'file':
      return { path: source.path, remove: async () => undefined };
    case 'package': {
      const bytes = btf.get(source.release);
      if (bytes === undefined) throw new EbpmError('INTERNAL', `BTF for kernel ${source.release}: bytes not resolved`);
      const dir = await mkdtemp(join(tmpdir(), 'ebpm-btf-'));
      const path = join(dir, `${source.release}.btf`);
      const remove = () => rm(dir, { recursive: true, force: true });
      await writeFile(path, bytes, { mode: 0o600 }).catch(async (e: unknown) => {
        await remove();
        throw e;
      });
      return { path, remove };
    }
    default:
      return assertNever(source, 'BTF source');
  }
}
