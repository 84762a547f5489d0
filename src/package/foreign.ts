/**
 * Reading the formats already out there as ebpm metadata, as far as they go
 * (registry-spec/package-v1.md §5): eunomia `package.json`, and OCI artifacts of wasm-bpf/ecli,
 * the CNCF Wasm artifact, Inspektor Gadget, bumblebee and bpfman (loose BPF objects and Wasm
 * modules: loose.ts). Programs, maps, parameters and exports always come from the objects
 * themselves.
 */
import { gunzipSync, inflateSync } from 'node:zlib';
import tar from 'tar-stream';
import { fetchAll, type Fetcher } from '../content/storage.js';
import { shortDigest } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import {
  ANNOTATION_AUTHORS,
  ANNOTATION_DESCRIPTION,
  ANNOTATION_SOURCE,
  ANNOTATION_TITLE,
  ANNOTATION_URL,
  ANNOTATION_VERSION,
  type Descriptor,
  type ImageManifest,
} from '../core/oci.js';
import type { DocComment, SampleKind, SampleSpec } from './doc-comments.js';
import { compact } from '../core/json.js';
import { Checks } from './fields.js';
import * as mt from './media-types.js';
import type { PackageMetadata, ParameterMeta } from './metadata.js';
import { parseValue, type EcliFlag, type ParamValue } from './params.js';
import { tagVersion } from './version.js';
import { describeFiles, packageName, type LooseObject } from './loose.js';

export type ForeignFormat = 'bpf-object' | 'wasm-module' | 'eunomia' | 'wasm-bpf' | 'cncf-wasm' | 'gadget' | 'bumblebee' | 'bpfman';

/** Largest BPF object or Wasm module read from an artifact. */
export const MAX_PROGRAM_BYTES = 64 * 1024 * 1024;

/** An eunomia package read: its metadata and the one object it carries, inflated. */
export interface EunomiaPackage {
  readonly metadata: PackageMetadata;
  /** The ELF of `metadata.objects[0]` (the digest and size the metadata gives are of these bytes). */
  readonly object: Uint8Array;
  /** How ecli offers each parameter the package lists, by variable name: its flag and its default. */
  readonly ecli: ReadonlyMap<string, EcliFlag>;
}

/** ecc's markers that keep export structs in BTF (`extract.ts` reads them as exports). */
const EUNOMIA_DUMMY = '__eunomia_dummy';

/**
 * `readEunomiaPackage` reads an ecc `package.json` (eunomia-bpf ≥ 0.3): `bpf_object` is
 * base64 of the zlib-deflated ELF, checked against `bpf_object_size`; `meta.bpf_skel` gives
 * variable descriptions, `cmdarg`s and defaults, and map `sample` settings. The inflated
 * object comes back with the metadata, so a caller that runs it does not inflate it again.
 * Parameters are described as ecli builds its arguments (eunomia `meta/arg_builder.rs`):
 * `cmdarg.help` before `description`, `cmdarg.long` or else the variable's name as the flag,
 * `cmdarg.default` or else `value` as the default, which the metadata shows and `ecli` keeps.
 */
export function readEunomiaPackage(text: string, fileName: string): EunomiaPackage {
  const bad = (problem: string) =>
    new EbpmError('FOREIGN_INVALID', `${fileName}: eunomia package: ${problem}`, {
      hint: 'the file is not a package.json written by eunomia-bpf ecc 0.3 or later',
    });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const f = new Checks();
  const o = f.object(v, '(root)') ?? {};
  const b64 = f.text(f.required(o, 'bpf_object', ''), 'bpf_object');
  const size = f.integer(f.required(o, 'bpf_object_size', ''), 'bpf_object_size', 1, MAX_PROGRAM_BYTES);
  const skel = f.object(f.object(f.required(o, 'meta', ''), 'meta')?.bpf_skel, 'meta.bpf_skel') ?? {};
  if (f.problems.length || b64 === undefined || size === undefined) throw bad(f.problems.join('; '));
  let elf: Uint8Array;
  try {
    elf = new Uint8Array(inflateSync(Buffer.from(b64, 'base64'), { maxOutputLength: size + 1 }));
  } catch {
    throw bad('bpf_object does not inflate');
  }
  if (elf.length !== size) throw bad(`bpf_object inflates to ${elf.length} bytes, not bpf_object_size ${size}`);
  const docs = new Map<string, DocComment>();
  const declared = new Map<string, { long: string; default: unknown }>();
  for (const sec of Array.isArray(skel.data_sections) ? skel.data_sections : []) {
    for (const x of Array.isArray(sec?.variables) ? sec.variables : []) {
      if (typeof x?.name !== 'string' || x.name.startsWith(EUNOMIA_DUMMY)) continue;
      const c = x.cmdarg ?? {};
      const long = typeof c.long === 'string' && c.long !== '' ? c.long : x.name;
      const help: string | undefined = typeof c.help === 'string' ? c.help : typeof x.description === 'string' ? x.description : undefined;
      const short: string | undefined = typeof c.short === 'string' && c.short.length === 1 ? c.short : undefined;
      // ebpm's own spelling of the flag, which its metadata holds: lower case, `-` between words.
      const own = long
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-+|-+$/g, '');
      const name: string = x.name;
      docs.set(name, compact({ name, line: 0, description: help, cmdarg: compact({ long: own || undefined, short }) }));
      declared.set(x.name, { long, default: c.default ?? x.value });
    }
  }
  for (const m of Array.isArray(skel.maps) ? skel.maps : []) {
    if (typeof m?.name !== 'string' || typeof m.sample !== 'object' || m.sample === null) continue;
    const s = m.sample;
    const type: SampleKind = ['log2_hist', 'linear_hist', 'default_kv'].includes(s.type) ? s.type : 'default_kv';
    const interval: number = Number.isInteger(s.interval) && s.interval > 0 ? s.interval : 1000;
    const unit: string | undefined = typeof s.unit === 'string' ? s.unit : undefined;
    const sample: SampleSpec = compact({ interval, type, unit, clearMap: s.clear_map === true });
    docs.set(m.name, { name: m.name, line: 0, sample });
  }
  // ecc copies a program's `@tchook`/`@tcopts`/`@ifindex` into its `progs` entry; read as leniently
  // as ecli (bpf-loader-rs `TCHook`, `XDPProgExtraMeta`: a bad value takes the default).
  const index = (x: unknown) => (Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 0x7fffffff ? (x as number) : 1);
  for (const p of Array.isArray(skel.progs) ? skel.progs : []) {
    if (typeof p?.name !== 'string') continue;
    const hook = typeof p.tchook === 'object' && p.tchook !== null ? p.tchook : undefined;
    const priority = p.tcopts?.priority;
    const attach = hook
      ? compact({
          ifindex: index(hook.ifindex),
          direction: hook.attach_point === 'BPF_TC_EGRESS' ? ('egress' as const) : ('ingress' as const),
          priority: Number.isInteger(priority) && priority >= 0 && priority <= 0xffff ? (priority as number) : undefined,
        })
      : p.ifindex !== undefined
        ? { ifindex: index(p.ifindex) }
        : undefined;
    if (attach) docs.set(p.name, { name: p.name, line: 0, attach });
  }
  const objName = typeof skel.obj_name === 'string' ? skel.obj_name.replace(/_bpf$/, '') : fileName;
  const doc = (skel.doc ?? {}) as Record<string, unknown>;
  const version = typeof doc.version === 'string' && tagVersion(doc.version) ? doc.version : '0.1.0';
  const description = typeof doc.brief === 'string' ? doc.brief : typeof doc.description === 'string' ? doc.description : undefined;
  const described = describeFiles(compact({ name: packageName(objName), version, description }), [{ name: `${packageName(objName)}.bpf.o`, bytes: elf, docs }]);
  const ecli = new Map<string, EcliFlag>();
  const object = described.objects[0]!;
  const parameters = object.parameters.map((p) => {
    const d = declared.get(p.name);
    if (d === undefined) return p;
    ecli.set(p.name, compact({ long: d.long, fill: d.default === undefined ? undefined : ecliDefault(p, d.default, bad) }));
    return d.default === undefined ? p : { ...p, default: d.default as ParameterMeta['default'] };
  });
  return { metadata: { ...described, objects: [{ ...object, parameters }] }, object: elf, ecli };
}

/**
 * `ecliDefault` reads an eunomia default as ecli does: a JSON boolean for a `bool`, a number or
 * a string otherwise, then checked as the flag's text would be.
 */
function ecliDefault(p: ParameterMeta, d: unknown, bad: (problem: string) => EbpmError): ParamValue {
  const ok = p.kind === 'bool' ? typeof d === 'boolean' : typeof d === 'number' || typeof d === 'string';
  if (!ok) throw bad(`variable ${p.name}: default ${JSON.stringify(d)} is not ${p.kind === 'bool' ? 'a boolean' : 'a number or a string'}`);
  try {
    return parseValue(p, String(d), p.name);
  } catch (e) {
    throw bad(`default of ${(e as Error).message}`);
  }
}

/** `foreignFormat` recognises a foreign OCI manifest, or returns undefined. */
export function foreignFormat(m: ImageManifest, config?: Uint8Array): ForeignFormat | undefined {
  const layers = new Set(m.layers.map((l) => l.mediaType));
  if (m.artifactType === mt.GADGET_ARTIFACT_TYPE || layers.has(mt.GADGET_EBPF)) return 'gadget';
  if (m.config.mediaType === mt.BUMBLEBEE_CONFIG || layers.has(mt.BUMBLEBEE_PROGRAM)) return 'bumblebee';
  if (m.config.mediaType === mt.WASM_BPF_CONFIG || layers.has(mt.WASM_BPF_LAYER)) return 'wasm-bpf';
  if (m.config.mediaType === mt.CNCF_WASM_CONFIG || layers.has(mt.CNCF_WASM_LAYER)) return 'cncf-wasm';
  if (config && bpfmanLabels(config)) return 'bpfman';
  return undefined;
}

function bpfmanLabels(config: Uint8Array): Record<string, string> | undefined {
  try {
    const c = JSON.parse(new TextDecoder().decode(config)) as { config?: { Labels?: Record<string, string> } };
    const labels = c.config?.Labels;
    return labels && Object.keys(labels).some((k) => k.startsWith('io.ebpf.')) ? labels : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `readForeignManifest` maps a foreign OCI manifest onto ebpm metadata, fetching its object and
 * Wasm layers. `fallback` names the package when the artifact's annotations do not (the
 * repository name and tag of the reference).
 */
export async function readForeignManifest(
  store: Fetcher,
  m: ImageManifest,
  fallback: { name: string; tag?: string },
): Promise<{ format: ForeignFormat; metadata: PackageMetadata }> {
  const config = m.config.size <= 1024 * 1024 ? await fetchAll(store, m.config, 1024 * 1024) : undefined;
  const format = foreignFormat(m, config);
  if (format === undefined) {
    throw new EbpmError('FORMAT_UNKNOWN', `manifest with config ${m.config.mediaType}: not a package format ebpm reads`, {
      hint: 'ebpm reads ebpm, eunomia/wasm-bpf, CNCF Wasm, Inspektor Gadget, bumblebee and bpfman artifacts',
    });
  }
  const a = m.annotations ?? {};
  const layer = (types: readonly string[]) => m.layers.find((l) => types.includes(l.mediaType));
  const fetch = (d: Descriptor) => fetchAll(store, d, MAX_PROGRAM_BYTES);
  const title = (d: Descriptor, dflt: string) => packageName(d.annotations?.[ANNOTATION_TITLE] ?? dflt) + (dflt.endsWith('.wasm') ? '.wasm' : '.bpf.o');
  const info = compact({
    name: packageName(a[ANNOTATION_TITLE] ?? fallback.name),
    version: a[ANNOTATION_VERSION] && tagVersion(a[ANNOTATION_VERSION]) ? a[ANNOTATION_VERSION] : ((fallback.tag && tagVersion(fallback.tag)) ?? '0.0.0'),
    description: a[ANNOTATION_DESCRIPTION],
    homepage: a[ANNOTATION_URL],
    repository: a[ANNOTATION_SOURCE],
    authors: a[ANNOTATION_AUTHORS] ? a[ANNOTATION_AUTHORS].split(/,\s*/) : [],
  });
  const objects: LooseObject[] = [];
  let wasm: { name: string; bytes: Uint8Array } | undefined;
  switch (format) {
    case 'wasm-bpf':
    case 'cncf-wasm': {
      const l = layer([mt.WASM_BPF_LAYER, mt.CNCF_WASM_LAYER]);
      if (l) wasm = { name: title(l, 'app.wasm'), bytes: await fetch(l) };
      break;
    }
    case 'gadget': {
      const o = layer([mt.GADGET_EBPF]);
      if (o) objects.push({ name: title(o, 'program.bpf.o'), bytes: await fetch(o) });
      const w = layer([mt.GADGET_WASM]);
      if (w) wasm = { name: title(w, 'program.wasm'), bytes: await fetch(w) };
      break;
    }
    case 'bumblebee': {
      const o = layer([mt.BUMBLEBEE_PROGRAM]);
      if (o) objects.push({ name: 'program.bpf.o', bytes: await fetch(o) });
      break;
    }
    case 'bpfman': {
      const labels = bpfmanLabels(config!)!;
      const l = layer(['application/vnd.oci.image.layer.v1.tar+gzip', mt.DOCKER_LAYER_GZIP]);
      if (l) objects.push(...(await objectsInTarball(l, await fetch(l), labels['io.ebpf.filename'])));
      break;
    }
    default:
      break;
  }
  return { format, metadata: describeFiles(info, objects, wasm) };
}

/**
 * The `.o` files of a bpfman image layer (or the one `io.ebpf.filename` names). A layer that is
 * not the gzipped tar it claims to be (not gzip, truncated, over `MAX_PROGRAM_BYTES` unpacked:
 * a gzip bomb, not a tar) is `FOREIGN_INVALID`.
 */
async function objectsInTarball(layer: Descriptor, gz: Uint8Array, only: string | undefined): Promise<LooseObject[]> {
  const bad = (problem: string, cause: unknown) =>
    new EbpmError('FOREIGN_INVALID', `bpfman image layer ${shortDigest(layer.digest)}: ${problem}`, {
      hint: 'the image is not the bpfman bytecode image it claims to be, or it is damaged; ask its publisher',
      data: { digest: layer.digest },
      cause,
    });
  let unpacked: Buffer;
  try {
    unpacked = gunzipSync(gz, { maxOutputLength: MAX_PROGRAM_BYTES });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw bad(`unpacks to more than ${MAX_PROGRAM_BYTES} bytes`, e);
    throw bad(code === 'Z_BUF_ERROR' ? 'truncated gzip data' : `not gzip data (${(e as Error).message})`, e);
  }
  const ex = tar.extract();
  const out: LooseObject[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const name = entry.header.name.replace(/^\.?\//, '');
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === 'file' && name.endsWith('.o') && !name.includes('/') && (only === undefined || name === only)) {
        out.push({ name: name.replace(/\.o$/, '').replace(/\.bpf$/, '') + '.bpf.o', bytes: new Uint8Array(Buffer.concat(chunks)) });
      }
    }
  })();
  ex.end(unpacked);
  await done.catch((e: unknown) => {
    throw bad('not a tar archive, or a truncated one', e);
  });
  return out;
}
