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
