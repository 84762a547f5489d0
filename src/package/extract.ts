/**
 * Package metadata derived from what the reader finds in a BPF object (`parseObject`) plus the
 * source's doc comments (registry-spec/package-v1.md §3.1–3.5, §3.7).
 */
import { findType, skipModifiers, typeSize } from '../bpf/btf.js';
import { describeType } from '../bpf/layout.js';
import { inferRecordLayout, type TracepointField } from '../bpf/record-layout.js';
import type { GlobalSpec, ObjectSpec } from '../bpf/object.js';
import type { Digest } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import type { DocComment } from './doc-comments.js';
import { compact } from '../core/json.js';
import { conventionalEventType } from './event-type.js';
import type { BpfObjectMeta, DefaultTarget, ExportMeta, MapMeta, PackageMetadata, ParameterMeta, Requirements, WasmMeta } from './metadata.js';
import type { WasmModule } from '../wasm/module.js';
import { validateMetadata } from './validate.js';
import { cTypeName, decodeDefault, parameterKind } from './values.js';
import { isEventMapType } from '../bpf/event-maps.js';

/**
 * Globals that mark things for tools rather than configure the program: Inspektor Gadget's, and
 * every name starting with `_`, reserved in C and used for markers (`__ebpm_export__*`,
 * `__eunomia_dummy_*`, `__dummy`); as flags they would also spell `--` and collide.
 */
const MARKERS = ['_', 'gadget_'];
const EUNOMIA_DUMMY = /^__eunomia_dummy_(.+)_ptr$/;
const GADGET_TRACER = /^gadget_tracer_[A-Za-z0-9_]+?___([A-Za-z0-9_]+?)___([A-Za-z0-9_]+)$/;

export interface ObjectFacts {
  readonly name: string;
  readonly digest: Digest;
  readonly size: number;
  readonly layer: boolean;
  readonly embedded: boolean;
  /** Doc comments of the object's source, by declared name (empty for prebuilt objects). */
  readonly docs: ReadonlyMap<string, DocComment>;
  /** Names the tracepoint fields programs read from their context, for inferred record layouts (the machine's tracefs). */
  readonly tracepointField?: TracepointField;
}

/** `objectMetadata` describes one BPF object for the package config. */
export function objectMetadata(spec: ObjectSpec, facts: ObjectFacts): BpfObjectMeta {
  const maps = spec.maps.map((m): MapMeta => {
    const doc = facts.docs.get(m.name);
    const value = m.valueTypeId !== null && spec.btf ? describeType(spec.btf, m.valueTypeId) : undefined;
    if (doc?.sample?.type === 'log2_hist' && !(value?.kind === 'struct' && value.fields.some((f) => f.name === 'slots' && f.layout.kind === 'array'))) {
      throw new EbpmError('DOC_COMMENT_INVALID', `${facts.name}: map ${m.name}: @sample log2_hist needs a value struct with a slots array`, {
        hint: 'declare the map with __type(value, struct hist) where struct hist has `__u32 slots[N]`',
      });
    }
    return compact({
      name: m.name,
      type: m.type,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      description: doc?.description,
      key: m.keyTypeId !== null && spec.btf ? describeType(spec.btf, m.keyTypeId) : undefined,
      value,
      sample: doc?.sample,
    });
  });
  return compact({
    name: facts.name,
    digest: facts.digest,
    size: facts.size,
    layer: facts.layer,
    embedded: facts.embedded,
    license: spec.license ?? undefined,
    programs: spec.programs.map((p) =>
      compact({ name: p.name, section: p.section, type: p.type, attach: p.target ?? undefined, defaultTarget: defaultTarget(p.type, facts.docs.get(p.name)) }),
    ),
    maps,
    parameters: spec.globals.filter(isParameter).map((g) => parameter(g, facts.docs.get(g.name))),
    exports: exportsOf(spec, maps, facts),
  });
}

/** `@tchook` applies to tc programs, `@ifindex` to xdp programs (eunomia's reading); else none. */
function defaultTarget(type: string, doc: DocComment | undefined): DefaultTarget | undefined {
  const a = doc?.attach;
  if (a === undefined) return undefined;
  if (type === 'sched_cls' && a.direction !== undefined) return a;
  if (type === 'xdp' && a.direction === undefined) return { ifindex: a.ifindex };
  return undefined;
}

function isParameter(g: GlobalSpec): boolean {
  return g.linkage === 'global' && !MARKERS.some((m) => g.name.startsWith(m));
}

function parameter(g: GlobalSpec, doc: DocComment | undefined): ParameterMeta {
  const cmd = doc?.cmdarg;
  return compact({
    name: g.name,
    section: g.section,
    offset: g.offset,
    size: g.size,
    type: g.type || cTypeName(g.layout),
    kind: parameterKind(g.layout),
    default: decodeDefault(g.layout, g.defaultValue),
    // ecli's order: the flag's own help, then the variable's description.
    description: cmd?.help ?? doc?.description,
    flag: compact({ long: cmd?.long ?? g.name.replace(/_/g, '-').toLowerCase(), short: cmd?.short }),
  });
}

/**
 * Exports come from `EBPM_EXPORT` (read by `parseObject`), Inspektor Gadget's
 * `gadget_tracer_<name>___<map>___<struct>`, and ecc's header convention: the structs of the
 * tool's header, kept by `__eunomia_dummy_<struct>_ptr` globals (ecc's, or ebpm build's for an
 * ecc tool directory). Each ring buffer or perf event array without an export takes, of those
 * structs, the first (in header order) whose size is a record size the code writes to it
 * (`ObjectSpec.recordFacts`); failing that, an object with one such map and one header struct
 * binds the two, as ecli does. With none of those, the object's one event map gets the struct
 * named as libbpf-tools name theirs (`conventionalEventType`). Failing all of those, each event
 * map whose records the code writes with one size gets the layout those writes give
 * (`inferRecordLayout`).
 */
function exportsOf(spec: ObjectSpec, maps: readonly MapMeta[], facts: ObjectFacts): ExportMeta[] {
  const out: ExportMeta[] = spec.exports.map((e) => ({ map: e.map, type: e.layout }));
  const taken = () => new Set(out.map((e) => e.map));
  if (spec.btf !== null) out.push(...btfExports(spec, maps, facts.name, taken()));
  for (const m of maps.filter((x) => isEventMapType(x.type) && !taken().has(x.name))) {
    const written = spec.recordFacts.filter((r) => r.map === m.name);
    const inferred = written.length === 1 ? inferRecordLayout(written[0]!, facts.tracepointField ?? (() => undefined)) : undefined;
    if (inferred) out.push({ map: m.name, type: inferred.layout, inferredBy: 'instructions', programs: inferred.programs, origins: inferred.origins });
  }
  return out;
}

/** The exports `exportsOf` finds in BTF for the event maps not in `declared`. */
function btfExports(spec: ObjectSpec, maps: readonly MapMeta[], objectName: string, declared: ReadonlySet<string>): ExportMeta[] {
  const btf = spec.btf!;
  const out: ExportMeta[] = [];
  const taken = () => new Set([...declared, ...out.map((e) => e.map)]);
  const header: number[] = [];
  for (const t of btf.types) {
    if (t.kind !== 'var') continue;
    const ig = GADGET_TRACER.exec(t.name);
    if (ig) {
      const struct = findType(btf, 'struct', ig[2]!);
      if (struct && !taken().has(ig[1]!)) out.push({ map: ig[1]!, type: describeType(btf, struct.id) });
      continue;
    }
    const ptr = EUNOMIA_DUMMY.test(t.name) ? skipModifiers(btf, t.type) : undefined;
    if (ptr?.kind === 'ptr') header.push(skipModifiers(btf, ptr.type).id);
  }
  const events = maps.filter((m) => isEventMapType(m.type));
  for (const m of events) {
    if (taken().has(m.name)) continue;
    const sizes = new Set(spec.recordFacts.filter((w) => w.map === m.name).map((w) => w.size));
    const bySize = header.find((id) => sizes.has(typeSize(btf, id)));
    const only = events.length === 1 && header.length === 1 ? header[0] : undefined;
    const id = bySize ?? only;
    if (id !== undefined) out.push({ map: m.name, type: describeType(btf, id) });
  }
  // Nothing declared: the object's one event map carries its conventionally named struct.
  const untyped = maps.filter((m) => isEventMapType(m.type) && !taken().has(m.name));
  const found = untyped.length === 1 ? conventionalEventType(spec, objectName) : undefined;
  if (found) out.push({ map: untyped[0]!.name, type: found.layout, inferredBy: 'name' });
  return out;
}

/** `requirementsOf` is the union of what the objects need from the kernel, lists sorted. */
export function requirementsOf(specs: readonly ObjectSpec[]): Requirements {
  const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
  return {
    programTypes: sorted(specs.flatMap((s) => s.programs.map((p) => p.type))),
    // A map-in-map's inner maps are created by the kernel too: their type is needed as well.
    mapTypes: sorted(specs.flatMap((s) => s.maps.flatMap((m) => (m.inner ? [m.type, m.inner.type] : [m.type])))),
    helpers: sorted(specs.flatMap((s) => s.programs.flatMap((p) => p.helpers.map((h) => h.name ?? `helper#${h.id}`)))),
    kernelTypes: sorted(specs.flatMap((s) => s.kernelTypes)),
    kernelBtf: specs.some((s) => s.needsKernelBtf),
  };
}

/** What a package says about itself, outside its objects. */
export type PackageInfo = Pick<
  PackageMetadata,
  'name' | 'version' | 'description' | 'license' | 'keywords' | 'authors' | 'homepage' | 'repository' | 'architecture'
>;

/**
 * `assembleMetadata` puts the package metadata together from its description, its objects
 * (each parsed, with its facts) and its Wasm module, and validates the result.
 */
export function assembleMetadata(
  info: PackageInfo,
  objects: readonly { readonly spec: ObjectSpec; readonly facts: ObjectFacts }[],
  wasm?: { readonly name: string; readonly digest: Digest; readonly size: number; readonly module: WasmModule },
): PackageMetadata {
  const wasmMeta: WasmMeta | undefined = wasm && {
    name: wasm.name,
    digest: wasm.digest,
    size: wasm.size,
    imports: wasm.module.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind })),
    exports: wasm.module.exports.map((x) => x.name),
  };
  return validateMetadata(
    compact({
      schemaVersion: 1,
      ...info,
      objects: objects.map((o) => objectMetadata(o.spec, o.facts)),
      wasm: wasmMeta,
      requirements: requirementsOf(objects.map((o) => o.spec)),
    }),
  );
}

/** `embeddedName` names an object found only inside a Wasm module, by its address there. */
export function embeddedName(address: number): string {
  return `embedded-${address.toString(16).padStart(8, '0')}.bpf.o`;
}
