/**
 * Names of Node's architectures (`process.arch`) in the two vocabularies ebpm writes: OCI
 * platforms (Go's GOARCH, image-spec config.md `architecture`) and the `__TARGET_ARCH_*`
 * macros libbpf's bpf_tracing.h selects pt_regs layouts by. Pure tables, so the run path can
 * import them without loading the build pipeline.
 */
import { EbpmError } from './errors.js';

const OCI: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  s390x: 's390x',
  ppc64: 'ppc64le',
  riscv64: 'riscv64',
  loong64: 'loong64',
};

const BPF_TARGET: Readonly<Record<string, string>> = {
  x64: 'x86',
  arm64: 'arm64',
  arm: 'arm',
  s390x: 's390',
  ppc64: 'powerpc',
  riscv64: 'riscv',
  loong64: 'loongarch',
};

// Debian's multiarch tuples (`gcc -print-multiarch`): where `<asm/types.h>` and the other
// architecture-dependent system headers live, under /usr/include/<tuple>.
const MULTIARCH: Readonly<Record<string, string>> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  arm: 'arm-linux-gnueabihf',
  ia32: 'i386-linux-gnu',
  s390x: 's390x-linux-gnu',
  ppc64: 'powerpc64le-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
  loong64: 'loongarch64-linux-gnu',
};

/** `multiarchTuple` is Debian's multiarch name of an architecture (`x64` → `x86_64-linux-gnu`). */
export function multiarchTuple(nodeArch: string = process.arch): string {
  const a = MULTIARCH[nodeArch];
  if (!a) throw new EbpmError('UNSUPPORTED_ARCH', `no multiarch name for ${nodeArch}`);
  return a;
}

/** `ociArch` names an architecture as OCI platforms do (`x64` → `amd64`); `UNSUPPORTED_ARCH` if it has no name. */
export function ociArch(nodeArch: string = process.arch): string {
  const a = OCI[nodeArch];
  if (!a) throw new EbpmError('UNSUPPORTED_ARCH', `no OCI architecture name for ${nodeArch}`);
  return a;
}

/** `bpfTargetArch` is the `__TARGET_ARCH_*` name bpf_tracing.h wants (`x64` → `x86`). */
export function bpfTargetArch(nodeArch: string = process.arch): string {
  const a = BPF_TARGET[nodeArch];
  if (!a) throw new EbpmError('UNSUPPORTED_ARCH', `no BPF target architecture for ${nodeArch}`);
  return a;
}
