/**
 * Metadata of a bare BPF object or Wasm module, as `ebpm run` and `inspect` read one from a path
 * and the foreign formats (foreign.ts) read those an artifact carries. Apart from the formats
 * that need tar and zlib: a run of a `.wasm` or a `.bpf.o` loads this alone.
 */
import { parseObject, type ObjectSpec } from '../bpf/object.js';
import type { TracepointField } from '../bpf/record-layout.js';
import { sha256Digest } from '../core/digest.js';
import { EbpmError, withContext } from '../core/errors.js';
import { compact } from '../core/json.js';
import { embeddedObjects, parseWasm, type WasmModule } from '../wasm/module.js';
import type { DocComment } from './doc-comments.js';
import { assembleMetadata, embeddedName, requirementsOf, type ObjectFacts, type PackageInfo } from './extract.js';
import type { PackageMetadata } from './metadata.js';
import { PACKAGE_NAME } from './source-manifest.js';

export interface LooseObject {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly docs?: ReadonlyMap<string, DocComment>;
  /** Names tracepoint context fields, for records inferred from instructions. */
  readonly tracepointField?: TracepointField;
}

/** `packageName` turns a file or repository name into a valid package name (`Bootstrap_BPF.o` → `bootstrap-bpf`). */
export function packageName(s: string): string {
  const n = s
    .toLowerCase()
    .replace(/\.(bpf\.)?(o|wasm|json)$/, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return PACKAGE_NAME.test(n) ? n : 'unnamed';
}

/**
 * `looseModuleMetadata` describes a bare `.wasm` as `ebpm run` and `inspect` read it: a package declaring the BPF
 * objects the module embeds, or, for a plain WASI command that embeds none, one declaring no
 * object. That second kind is not a package (registry-spec/package-v1.md §3 wants an object) and
 * is never published; it lets the runtime run the module, which then loads no BPF object unless
 * `--allow-undeclared-bpf`.
 */
export function looseModuleMetadata(info: { readonly name: string; readonly architecture: string }, file: string, bytes: Uint8Array): PackageMetadata {
  const module = at(file, () => parseWasm(bytes));
  if (embeddedObjects(module).length > 0) return describeFiles(info, [], { name: file, bytes });
  return {
    schemaVersion: 1,
    ...info,
    version: '0.0.0',
    keywords: [],
    authors: [],
    objects: [],
    wasm: {
      name: file,
      digest: sha256Digest(bytes),
      size: bytes.length,
      imports: module.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind })),
      exports: module.exports.map((x) => x.name),
    },
    requirements: requirementsOf([]),
  };
}

/**
 * `describeFiles` builds metadata for loose objects and an optional Wasm module (whose embedded
 * objects are declared too). `info.version` defaults to `0.0.0`.
 */
export function describeFiles(
  info: Partial<PackageInfo> & { name: string },
  objects: readonly LooseObject[],
  wasm?: { name: string; bytes: Uint8Array },
): PackageMetadata {
  const module: WasmModule | undefined = wasm ? at(wasm.name, () => parseWasm(wasm.bytes)) : undefined;
  const embedded = module ? embeddedObjects(module) : [];
  const embeddedDigests = new Set(embedded.map((e) => sha256Digest(e.bytes)));
  const entries: { spec: ObjectSpec; facts: ObjectFacts }[] = [];
  const seen = new Set<string>();
  for (const o of objects) {
    const digest = sha256Digest(o.bytes);
    seen.add(digest);
    entries.push({
      spec: at(o.name, () => parseObject(o.bytes)),
      facts: compact({
        name: o.name,
        digest,
        size: o.bytes.length,
        layer: true,
        embedded: embeddedDigests.has(digest),
        docs: o.docs ?? new Map(),
        tracepointField: o.tracepointField,
      }),
    });
  }
  for (const e of embedded) {
    const digest = sha256Digest(e.bytes);
    if (seen.has(digest)) continue;
    seen.add(digest);
    const name = embeddedName(e.address);
    entries.push({
      spec: at(`${wasm!.name}: ${name}`, () => parseObject(e.bytes)),
      facts: { name, digest, size: e.bytes.length, layer: false, embedded: true, docs: new Map() },
    });
  }
  if (entries.length === 0) {
    throw new EbpmError('NO_BPF_OBJECTS', `${info.name}: no BPF object found`, {
      hint: 'the artifact carries no BPF ELF object, and its Wasm module embeds none ebpm can see',
    });
  }
  return assembleMetadata(
    compact({ keywords: [], authors: [], architecture: 'unknown', version: '0.0.0', ...info }),
    entries,
    wasm && module ? { name: wasm.name, digest: sha256Digest(wasm.bytes), size: wasm.bytes.length, module } : undefined,
  );
}

function at<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw withContext(what, e);
  }
}
