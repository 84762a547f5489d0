/**
 * Names the frames of a stack trace map as offcputime and wakeuptime do: kernel addresses from
 * `/proc/kallsyms` (read once per process), user addresses from the process's
 * `/proc/<pid>/maps` and the symbol tables of the file mapped there, while that process lives.
 * What cannot be named stays undefined; the caller prints `[unknown]` and the address.
 */
import { readFileSync } from 'node:fs';
import { parseImage, type ElfImage } from '../bpf/elf.js';
import { floorIndex, kernelSymbol, mappingOf, parseKallsyms, parseProcMaps, type KernelSymbols, type Mapping } from './symbols.js';

export interface Symbolizer {
  /** `symbol+0xoffset`, or undefined (hidden addresses, an address below every symbol). */
  kernel(address: bigint): string | undefined;
  /** `symbol+0xoffset` in the file process `pid` maps at `address`, or undefined (gone, anonymous, no symbol). */
  user(pid: number, address: bigint): string | undefined;
  /** `/proc/kallsyms` shows only zero addresses to this process: no kernel frame can be named. */
  readonly kernelHidden: boolean;
}

let kallsyms: KernelSymbols | undefined;
/** A parsed file and its functions' addresses, for the binary search. */
type Image = ElfImage & { readonly addresses: readonly bigint[] };
const images = new Map<string, Image | undefined>();

function kernelSymbols(): KernelSymbols {
  if (kallsyms === undefined) {
    try {
      kallsyms = parseKallsyms(readFileSync('/proc/kallsyms', 'utf8'));
    } catch {
      kallsyms = { addresses: [], names: [], modules: [], hidden: true };
    }
  }
  return kallsyms;
}

function image(path: string): Image | undefined {
  if (!images.has(path)) {
    let parsed: Image | undefined;
    try {
      const img = parseImage(readFileSync(path));
      parsed = { ...img, addresses: img.functions.map((f) => BigInt(f.value)) };
    } catch {
      parsed = undefined;
    }
    images.set(path, parsed);
  }
  return images.get(path);
}

/** The function that holds `address` of the file `m` maps in process `pid`, as `name+0xoffset`. */
function userSymbol(pid: number, m: Mapping, address: bigint): string | undefined {
  if (!m.path.startsWith('/') || m.path.endsWith(' (deleted)')) return undefined;
  // Through the process's root, so a process in another mount namespace names its own files.
  const img = image(`/proc/${pid}/root${m.path}`);
  if (img === undefined) return undefined;
  const fileOffset = Number(address - m.start + m.offset);
  const seg = img.segments.find((s) => fileOffset >= s.offset && fileOffset < s.offset + s.fileSize);
  if (seg === undefined) return undefined;
  const vaddr = BigInt(fileOffset - seg.offset + seg.vaddr);
  const f = img.functions[floorIndex(img.addresses, vaddr)];
  if (f === undefined || (f.size > 0 && vaddr >= BigInt(f.value + f.size))) return undefined;
  return `${f.name}+0x${(vaddr - BigInt(f.value)).toString(16)}`;
}

/**
 * `symbolizer` answers for one snapshot: each process's maps are read once, at its first
 * frame, so a fresh symbolizer per snapshot sees processes started since.
 */
export function symbolizer(): Symbolizer {
  const maps = new Map<number, Mapping[] | undefined>();
  const mapsOf = (pid: number) => {
    if (!maps.has(pid)) {
      try {
        maps.set(pid, parseProcMaps(readFileSync(`/proc/${pid}/maps`, 'utf8')));
      } catch {
        maps.set(pid, undefined);
      }
    }
    return maps.get(pid);
  };
  return {
    kernel: (address) => kernelSymbol(kernelSymbols(), address),
    user(pid, address) {
      const m = pid > 0 ? mappingOf(mapsOf(pid) ?? [], address) : undefined;
      return m === undefined ? undefined : userSymbol(pid, m, address);
    },
    get kernelHidden() {
      return kernelSymbols().hidden;
    },
  };
}
