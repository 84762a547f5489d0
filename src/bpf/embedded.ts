// BPF objects carried inside other files: a libbpf skeleton (`bpftool gen skeleton`) compiles
// the object into its program as a byte array, so a libbpf-tools binary holds one whole ELF
// object with e_machine EM_BPF somewhere in its data.
import { EM_BPF } from './elf.js';

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_REL = 1;
const EHDR_SIZE = 64;

/**
 * `embeddedBpfObjects` finds the relocatable 64-bit little-endian BPF ELF objects inside
 * `bytes`, in order. An object ends where its section header table ends (e_shoff +
 * e_shentsize·e_shnum), which clang places last; candidates that do not fit are skipped.
 */
export function embeddedBpfObjects(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found: Uint8Array[] = [];
  for (let at = indexOfMagic(bytes, 0); at >= 0; ) {
    const end = objectEnd(bytes, view, at);
    if (end !== undefined) found.push(bytes.subarray(at, end));
    at = indexOfMagic(bytes, end ?? at + 1);
  }
  return found;
}

function indexOfMagic(bytes: Uint8Array, from: number): number {
  for (let i = bytes.indexOf(ELF_MAGIC[0]!, from); i >= 0 && i + EHDR_SIZE <= bytes.length; i = bytes.indexOf(ELF_MAGIC[0]!, i + 1)) {
    if (bytes[i + 1] === ELF_MAGIC[1] && bytes[i + 2] === ELF_MAGIC[2] && bytes[i + 3] === ELF_MAGIC[3]) return i;
  }
  return -1;
}

function objectEnd(bytes: Uint8Array, view: DataView, at: number): number | undefined {
  if (bytes[at + 4] !== ELFCLASS64 || bytes[at + 5] !== ELFDATA2LSB) return undefined;
  if (view.getUint16(at + 16, true) !== ET_REL || view.getUint16(at + 18, true) !== EM_BPF) return undefined;
  const shoff = Number(view.getBigUint64(at + 40, true));
  const shentsize = view.getUint16(at + 58, true);
  const shnum = view.getUint16(at + 60, true);
  const end = at + shoff + shentsize * shnum;
  return shnum > 0 && shoff >= EHDR_SIZE && end <= bytes.length ? end : undefined;
}
