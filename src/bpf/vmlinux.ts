/**
 * What `ebpm build --btf-for` reads from a kernel, pure: whether bytes are raw BTF, the `.BTF`
 * section and the release of a vmlinux, and where a compressed vmlinux may start inside a
 * bzImage. Decompressing and unpacking packages is I/O and lives in build/kernel-btf.ts.
 */
import { bpfError } from './cursor.js';
import { elfSection } from './elf.js';

/** `BTF_MAGIC` opens every raw BTF blob (include/uapi/linux/btf.h), little-endian here. */
export const BTF_MAGIC = 0xeb9f;

/** `isRawBtf` tells a raw BTF file (/sys/kernel/btf/vmlinux, `bpftool btf dump … format raw`). */
export function isRawBtf(bytes: Uint8Array): boolean {
  return bytes.length >= 24 && bytes[0] === (BTF_MAGIC & 0xff) && bytes[1] === BTF_MAGIC >> 8;
}

/** A vmlinux's BTF and the release its `linux_banner` names. */
export interface VmlinuxBtf {
  readonly btf: Uint8Array;
  readonly release: string | undefined;
}

/**
 * `vmlinuxBtf` reads the `.BTF` section of a vmlinux ELF (a kernel built with
 * CONFIG_DEBUG_INFO_BTF, Linux 5.2+) and its release from the banner. `BTF_MALFORMED` when the
 * section is missing or is not BTF.
 */
export function vmlinuxBtf(bytes: Uint8Array): VmlinuxBtf {
  const btf = elfSection(bytes, '.BTF');
  if (btf === undefined) throw bpfError('BTF_MALFORMED', 'vmlinux has no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF)');
  if (!isRawBtf(btf)) throw bpfError('BTF_MALFORMED', 'vmlinux .BTF section does not start with the BTF magic 0xeb9f');
  return { btf, release: bannerRelease(bytes) };
}

const BANNER = 'Linux version ';
const RELEASE_START = /^[0-9]/;

/**
 * `bannerRelease` finds `Linux version <release> (…` (init/version.c's `linux_banner`, also what
 * /proc/version prints) and returns the release, as `uname -r` gives it; undefined without one.
 */
export function bannerRelease(bytes: Uint8Array): string | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = b.indexOf(BANNER, 0, 'latin1'); at >= 0; at = b.indexOf(BANNER, at + 1, 'latin1')) {
    let end = at + BANNER.length;
    while (end < b.length && end - at < 256 && b[end]! > 0x20 && b[end]! < 0x7f) end++;
    const release = b.toString('latin1', at + BANNER.length, end);
    // Format strings such as "Linux version %s" are skipped: a release starts with a digit.
    if (RELEASE_START.test(release) && b[end] === 0x20) return release;
  }
  return undefined;
}

/** Compressions a kernel image may use (`CONFIG_KERNEL_*`) and the tool that undoes each. */
export type KernelCompression = 'gzip' | 'xz' | 'bzip2' | 'lzma' | 'lzop' | 'lz4' | 'zstd';

/** Magic numbers, in the order the kernel's scripts/extract-vmlinux tries them. */
const MAGICS: readonly (readonly [KernelCompression, readonly number[]])[] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00, 0x00]],
  ['lzop', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** Candidates tried per compression: the real payload comes early, chance matches of short magics later. */
const TRIES_PER_MAGIC = 4;

export interface PayloadCandidate {
  readonly offset: number;
  readonly compression: KernelCompression;
}

/**
 * `compressedPayloads` lists where a compressed vmlinux may start in a kernel image (a bzImage,
 * or any image wrapping one stream), as extract-vmlinux finds it: every offset of each
 * compression's magic, compressions in its order, the first few offsets of each. The caller
 * decompresses each in turn and keeps the first that gives an ELF.
 */
export function compressedPayloads(image: Uint8Array): PayloadCandidate[] {
  const b = Buffer.from(image.buffer, image.byteOffset, image.length);
  const out: PayloadCandidate[] = [];
  for (const [compression, magic] of MAGICS) {
    const needle = Buffer.from(magic);
    for (let at = b.indexOf(needle), n = 0; at >= 0 && n < TRIES_PER_MAGIC; at = b.indexOf(needle, at + 1), n++) out.push({ offset: at, compression });
  }
  return out;
}
