/**
 * What this machine offers a package, and the refusals made before anything is loaded: the
 * architecture, the capabilities, kernel BTF. Shared by the BPF and the Wasm branches of `ebpm run`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ociArch, wrongPlatform } from '../core/arch.js';
import { EbpmError } from '../core/errors.js';
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
}

/** `machineFacts` reads this machine. */
export function machineFacts(): MachineFacts {
  let procStatus = '';
  try {
    procStatus = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // not Linux: the kernel will say what it thinks at load
  }
  return { architecture: ociArch(), procStatus, kernelBtf: existsSync('/sys/kernel/btf/vmlinux') };
}

/**
 * `checkMachine` refuses, before anything is loaded, a package this machine cannot run:
 * `PACKAGE_WRONG_ARCH`, `PERMISSION_DENIED` (naming the capabilities) or `KERNEL_NO_BTF`.
 */
export function checkMachine(meta: PackageMetadata, facts: MachineFacts): void {
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
  if (meta.requirements.kernelBtf && !facts.kernelBtf) {
    throw new EbpmError('KERNEL_NO_BTF', 'this kernel has no BTF (/sys/kernel/btf/vmlinux), which the package needs for CO-RE', {
      hint: 'run on a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.2+)',
    });
  }
}
