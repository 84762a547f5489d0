/**
 * Which BPF objects a guest may load. A package declares the digest of every BPF object its
 * Wasm module embeds (the build finds them in the data segments); the host loads only those.
 *
 * Guests configure `const volatile` globals the wasm-bpf way, by patching the embedded ELF's
 * `.rodata` bytes before `wasm_load_bpf_object` (reference §1.4), so the bytes a guest loads
 * rarely hash to the declared digest. The host therefore finds the declared objects in the
 * module itself and admits a guest object that equals one of them outside `.rodata`: code,
 * relocations, maps and BTF are exactly what was declared; only configuration data differs.
 */
import { sha256Digest } from '../core/digest.js';
import { parseElf } from '../bpf/elf.js';
import { embeddedObjects, type WasmModule } from '../wasm/module.js';

/** `ObjectPolicy`: the digests a package declares, or `any` (`--allow-undeclared-bpf`). */
export type ObjectPolicy = { readonly declared: readonly string[] } | 'any';

export type Admission = { readonly ok: true; readonly digest: string } | { readonly ok: false; readonly digest: string; readonly reason: string };

/** A BPF object the module embeds and the package declares; plain data, so it can be posted to the guest's worker. */
export interface DeclaredObject {
  readonly digest: string;
  readonly bytes: Uint8Array;
  /** [start, end) file ranges of the `.rodata` sections the guest may change. */
  readonly mutable: readonly (readonly [number, number])[];
}

function rodataRanges(bytes: Uint8Array): [number, number][] {
  try {
    return parseElf(bytes)
      .sections.filter((s) => s.name === '.rodata')
      .map((s) => [s.offset, s.offset + s.data.length]);
  } catch {
    return [];
  }
}

function equalOutside(a: Uint8Array, b: Uint8Array, ranges: readonly (readonly [number, number])[]): boolean {
  if (a.length !== b.length) return false;
  let at = 0;
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  for (const [start, end] of [...sorted, [a.length, a.length] as const]) {
    // Compared natively: this is on the guest's way to its first load, before JIT warms a loop.
    if (at < start && Buffer.compare(a.subarray(at, start), b.subarray(at, start)) !== 0) return false;
    at = Math.max(at, end);
  }
  return true;
}

/**
 * `declaredObjects` finds the objects `module` embeds that `policy` declares, with the ranges
 * a guest may change; the run computes them once, beside its other checks of the module.
 */
export function declaredObjects(module: WasmModule, policy: ObjectPolicy): DeclaredObject[] {
  if (policy === 'any') return [];
  const digests = new Set(policy.declared);
  return embeddedObjects(module)
    .map((o) => ({ digest: sha256Digest(o.bytes), bytes: o.bytes }))
    .filter((o) => digests.has(o.digest))
    .map((o) => ({ ...o, mutable: rodataRanges(o.bytes) }));
}

/** `ObjectAdmission` decides, per `wasm_load_bpf_object`, whether the bytes may be loaded. */
export class ObjectAdmission {
  constructor(
    /** `declaredObjects(module, policy)`. */
    private readonly declared: readonly DeclaredObject[],
    private readonly policy: ObjectPolicy,
  ) {}

  check(bytes: Uint8Array): Admission {
    // What the module embeds, as declared or with its .rodata changed, needs no hash (nor node:crypto loaded in the guest's thread).
    const base = this.declared.find((d) => equalOutside(d.bytes, bytes, d.mutable));
    if (base) return { ok: true, digest: base.digest };
    const digest = sha256Digest(bytes);
    if (this.policy === 'any' || this.policy.declared.includes(digest)) return { ok: true, digest };
    return { ok: false, digest, reason: `BPF object ${digest} is not declared by the package` };
  }
}
