/**
 * `ebpm.json`: the small manifest at the root of a package source directory (registry-spec/
 * package-v1.md §"The source manifest"; schema: registry-spec/schemas/ebpm-json.schema.json).
 */
import type { PackageDescription } from './metadata.js';
import { isSemver } from './version.js';
import { EbpmError } from '../core/errors.js';
import { compact } from '../core/json.js';
import { Checks } from './fields.js';

export const SOURCE_MANIFEST = 'ebpm.json';

export interface SourceManifest extends PackageDescription {
  /** BPF sources to compile, relative to the directory; default: every `*.bpf.c`, sorted. */
  readonly objects?: readonly string[];
  /** Extra clang flags for the BPF sources (`-DMAX_ENTRIES=1024`). */
  readonly cflags: readonly string[];
  /** The Wasm user-space program: a C source compiled to wasm32-wasi, or a prebuilt `.wasm`. */
  readonly wasm?: string;
  /** Extra clang flags for the Wasm program. */
  readonly wasmCflags: readonly string[];
  /** The README to carry as a layer; default `README.md` when present. */
  readonly readme?: string;
  /** Whether to carry the sources as a tar+gzip layer (default true). */
  readonly source: boolean;
}

/**
 * Package names are one OCI repository path component (distribution-spec v1.1 §"Pulling
 * manifests": `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`), so a name is also a valid repository name.
 */
export const PACKAGE_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** A relative path inside the package directory: no `..`, no absolute path. */
const RELATIVE = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0]+$/;
const FLAG_LIKE = /^-/;

const KNOWN = [
  'name',
  'version',
  'description',
  'license',
  'keywords',
  'authors',
  'homepage',
  'repository',
  'objects',
  'cflags',
  'wasm',
  'wasmCflags',
  'readme',
  'source',
] as const;

/** `validateSourceManifest` narrows parsed `ebpm.json` content, listing every bad field. */
export function validateSourceManifest(v: unknown): SourceManifest {
  const f = new Checks();
  const o = f.object(v, '(root)') ?? {};
  f.known(o, KNOWN, '');
  const name = f.text(f.required(o, 'name', ''), 'name', {
    pattern: PACKAGE_NAME,
    max: 128,
    why: 'must be lower-case letters and digits with single . _ - separators',
  });
  const version = f.text(f.required(o, 'version', ''), 'version');
  if (version !== undefined && !isSemver(version)) f.add('version', `"${version}" is not a semantic version (like 1.2.0)`);
  const relative = { pattern: RELATIVE, why: 'must be a relative path inside the package directory' };
  const objects = f.array(o.objects, 'objects', (x, p) => f.text(x, p, { pattern: /\.bpf\.c$/, why: 'must name a *.bpf.c file' }) && f.text(x, p, relative));
  if (Array.isArray(o.objects) && o.objects.length === 0) f.add('objects', 'must list at least one *.bpf.c');
  const wasm =
    f.text(o.wasm, 'wasm', { pattern: /\.(c|wasm)$/, why: 'must name a C source (.c) or a prebuilt module (.wasm)' }) && f.text(o.wasm, 'wasm', relative);
  const flag = { pattern: FLAG_LIKE, why: 'must be a compiler flag starting with -' };
  const m: SourceManifest = compact({
    name: name ?? '',
    version: version ?? '',
    description: f.text(o.description, 'description', { max: 1024 }),
    license: f.text(o.license, 'license', { max: 256 }),
    keywords: f.strings(o.keywords, 'keywords', { max: 64 }) ?? [],
    authors: f.strings(o.authors, 'authors', { max: 256 }) ?? [],
    homepage: f.text(o.homepage, 'homepage', { pattern: /^https?:\/\//, why: 'must be an http(s) URL' }),
    repository: f.text(o.repository, 'repository', { pattern: /^(https?|git):\/\//, why: 'must be an http(s) or git URL' }),
    objects,
    cflags: f.strings(o.cflags, 'cflags', flag) ?? [],
    wasm,
    wasmCflags: f.strings(o.wasmCflags, 'wasmCflags', flag) ?? [],
    readme: f.text(o.readme, 'readme', relative),
    source: f.boolean(o.source, 'source') ?? true,
  });
  if (f.problems.length > 0) {
    throw new EbpmError('MANIFEST_INVALID', `${SOURCE_MANIFEST}: ${f.problems.join('; ')}`, {
      hint: `fix the fields listed in ${SOURCE_MANIFEST}`,
      data: { problems: f.problems },
    });
  }
  return m;
}

/** `parseSourceManifest` parses the text of an `ebpm.json`. */
export function parseSourceManifest(text: string): SourceManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new EbpmError('MANIFEST_INVALID', `${SOURCE_MANIFEST}: not JSON: ${(e as Error).message}`, {
      cause: e,
      hint: 'fix the JSON syntax of ebpm.json',
    });
  }
  return validateSourceManifest(v);
}
