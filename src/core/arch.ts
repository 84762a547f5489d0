/**
 * Names of Node's architectures (`process.arch`) in the two vocabularies ebpm writes: OCI
 * platforms (Go's GOARCH, image-spec config.md `architecture`) and the `__TARGET_ARCH_*`
 * macros libbpf's bpf_tracing.h selects pt_regs layouts by. Pure tables, so the run path can
 * import them without loading the build pipeline.
 */
import { EbpmError } from './errors.js';
import type { Platform } from './oci.js';

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

/** `nodeArch` is Node's name of an OCI architecture (`amd64` → `x64`); `UNSUPPORTED_ARCH` if none. */
export function nodeArch(oci: string): string {
  const a = Object.keys(OCI).find((k) => OCI[k] === oci);
  if (!a) throw new EbpmError('UNSUPPORTED_ARCH', `unknown architecture ${oci}`, { hint: `architectures: ${Object.values(OCI).join(', ')}` });
  return a;
}

/** `hostPlatform` is this machine as an OCI platform (`linux/amd64`). */
export function hostPlatform(): Platform {
  return { os: 'linux', architecture: ociArch() };
}

/** `formatPlatform` writes a platform as docker and OCI tools do: `os/architecture[/variant]`. */
export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return [p.os, p.architecture, ...(p.variant === undefined ? [] : [p.variant])].join('/');
}

/**
 * `parsePlatforms` reads a `--platform` value: comma-separated `linux/<architecture>`, each
 * once, in the order given. A malformed list is `USAGE`.
 */
export function parsePlatforms(list: string): Platform[] {
  // The architectures BPF objects can be compiled for (`__TARGET_ARCH_*`).
  const known = Object.keys(BPF_TARGET).map((a) => OCI[a]!);
  const out: Platform[] = [];
  for (const item of list.split(',')) {
    const m = /^([a-z0-9]+)\/([a-z0-9_]+)$/.exec(item.trim());
    const bad = (why: string) =>
      new EbpmError('USAGE', `--platform ${JSON.stringify(item)}: ${why}`, {
        hint: `give os/architecture, comma-separated: linux/${known.join(', linux/')}`,
      });
    if (m === null) throw bad('not os/architecture');
    if (m[1] !== 'linux') throw bad('eBPF runs on linux only');
    if (!known.includes(m[2]!)) throw bad('unknown architecture');
    if (out.some((p) => p.architecture === m[2])) throw bad('given twice');
    out.push({ os: 'linux', architecture: m[2]! });
  }
  return out;
}

/** `wrongPlatform` refuses a package that has no build for `want`, naming those it has (`PACKAGE_WRONG_ARCH`). */
export function wrongPlatform(want: Platform, has: readonly Platform[]): EbpmError {
  const w = formatPlatform(want);
  const names = has.map(formatPlatform);
  return new EbpmError('PACKAGE_WRONG_ARCH', `no ${w} package: built for ${names.join(', ')}`, {
    hint: `run it on a ${names.join(' or ')} machine, or build it for ${w} (ebpm build --platform ${w}): BPF objects read pt_regs and kernel structs as their architecture lays them out`,
    data: { wanted: w, platforms: names },
  });
}
