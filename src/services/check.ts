/**
 * `ebpm check`, and `run` when a load fails: what a package needs from the kernel against what
 * this kernel offers (src/kernel/preflight.ts), for the programs that would load here.
 */
import { objectNeeds } from '../bpf/needs.js';
import { parseObject } from '../bpf/object.js';
import { sha256Digest } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import { blocking, preflight, type Finding, type KernelFacts } from '../kernel/preflight.js';
import type { PackageMetadata } from '../package/metadata.js';
import { embeddedObjects, parseWasm } from '../wasm/module.js';
import { ALL_PROGRAMS, selectPrograms, type ProgramSelection } from './alternatives.js';

export interface ObjectCheck {
  readonly object: string;
  /** How many distinct needs were held against the kernel. */
  readonly needs: number;
  readonly findings: readonly Finding[];
}

export interface CheckReport {
  readonly release: string;
  readonly objects: readonly ObjectCheck[];
  /** Whether nothing blocks a load: every need met, or missing only where the program checks for it. */
  readonly canRun: boolean;
}

/** A package as the check reads it: its metadata, the objects it carries, its Wasm module. */
export interface CheckedPackage {
  readonly metadata: PackageMetadata;
  readonly objects: ReadonlyMap<string, Uint8Array>;
  readonly wasm?: Uint8Array;
}

/** The bytes of every object of `pkg`: carried as files, or embedded in its Wasm module (matched by digest). */
function objectBytes(pkg: CheckedPackage): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const embedded = pkg.wasm === undefined ? [] : embeddedObjects(parseWasm(pkg.wasm)).map((e) => ({ digest: sha256Digest(e.bytes), bytes: e.bytes }));
  for (const o of pkg.metadata.objects) {
    const bytes = pkg.objects.get(o.name) ?? embedded.find((e) => e.digest === o.digest)?.bytes;
    if (bytes === undefined) throw new EbpmError('INTERNAL', `check: object ${o.name}: bytes not resolved`);
    out.set(o.name, bytes);
  }
  return out;
}

/** `checkPackage` holds every object of `pkg` (the programs `selection` keeps) against `kernel`. */
export function checkPackage(pkg: CheckedPackage, kernel: KernelFacts, selection: ProgramSelection = ALL_PROGRAMS): CheckReport {
  const bytes = objectBytes(pkg);
  const objects = pkg.metadata.objects.map((meta): ObjectCheck => {
    const chosen = selectPrograms(meta, selection, (m, name) => kernel.mechanism(m, name));
    const needs = objectNeeds(parseObject(bytes.get(meta.name)!), new Set(chosen.skip));
    return { object: meta.name, needs: needs.length, findings: preflight(needs, kernel) };
  });
  return { release: kernel.release, objects, canRun: objects.every((o) => blocking(o.findings).length === 0) };
}

/** `findingLine` is one finding for people: `missing: helper bpf_ringbuf_output: not in this kernel (Linux 5.8+), needed by handle_exec`. */
export function findingLine(f: Finding): string {
  const by = f.need.by.length > 3 ? `${f.need.by.slice(0, 3).join(', ')} and ${f.need.by.length - 3} more` : f.need.by.join(', ');
  const guard = f.need.guarded && f.verdict === 'missing' ? '; the program checks for it (bpf_core_*_exists) and may do without' : '';
  return `${f.verdict}: ${f.need.what}: ${f.why}, needed by ${by}${guard}`;
}
