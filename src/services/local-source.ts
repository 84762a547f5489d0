/**
 * The one way a path on the command line becomes a package, for `inspect`, `run` and `push`
 * alike: an OCI layout (`dir` or `dir:tag`), a package directory (`ebpm.json`), or a file (a
 * BPF object, a Wasm module, an eunomia `package.json`). A layout's tag is resolved here, once,
 * to the descriptor every later step uses: what the trust policy admits is what is loaded, even
 * when the layout's `index.json` changes in between.
 */
import { statSync, type Stats } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ociArch } from '../core/arch.js';
import { sha256Digest, type Digest } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import type { Descriptor } from '../core/oci.js';
import type { PackageMetadata } from '../package/metadata.js';
import type { EcliFlag } from '../package/params.js';
import { SOURCE_MANIFEST } from '../package/source-manifest.js';
import { isSideTag } from '../sign/payload.js';
import { LAYOUT_FILE, OciLayout } from '../store/layout.js';
import { isWasmModule } from '../wasm/module.js';

/** What a local path holds. Paths are absolute. */
export type LocalPackage =
  /** An OCI layout, its tag resolved once to `descriptor`. */
  | { readonly kind: 'layout'; readonly path: string; readonly layout: OciLayout; readonly tag: string; readonly descriptor: Descriptor }
  /** A package directory: sources to build. */
  | { readonly kind: 'directory'; readonly path: string }
  /** A file, read once: `digest` is what a signature would sign, `bytes` what is described and run. */
  | { readonly kind: 'file'; readonly path: string; readonly bytes: Uint8Array; readonly digest: Digest };

/** `LOCAL_KINDS` is what a path may be, for hints. */
export const LOCAL_KINDS = 'a package directory, an OCI layout, a .bpf.o, a .wasm or an eunomia package.json';

/** `explicitPath` tells arguments that can only be paths (`/x`, `./x`, `../x`, `.`), never references. */
export function explicitPath(arg: string): boolean {
  return arg === '.' || arg === '..' || /^\.{0,2}\//.test(arg);
}

/**
 * `statOf` is synchronous: telling what a path is comes first in a run, with nothing to overlap a
 * thread-pool round trip with, and a stat is one syscall.
 */
function statOf(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/**
 * `splitLocal` finds the path in `arg` (relative to `cwd`): the whole of it when it exists, else
 * `dir:tag` when `dir` is a directory. Undefined when neither exists.
 */
function splitLocal(arg: string, cwd: string): { path: string; tag?: string; dir: boolean } | undefined {
  const whole = resolve(cwd, arg);
  const st = statOf(whole);
  if (st !== undefined) return { path: whole, dir: st.isDirectory() };
  const colon = arg.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const path = resolve(cwd, arg.slice(0, colon));
  return statOf(path)?.isDirectory() ? { path, tag: arg.slice(colon + 1), dir: true } : undefined;
}

/** `isLocalPath` tells a local path (an existing `dir`, `file` or `layout:tag`, or one written as a path: `./x`, `/x`) from a registry reference. */
export async function isLocalPath(cwd: string, arg: string): Promise<boolean> {
  return explicitPath(arg) || splitLocal(arg, cwd) !== undefined;
}

/**
 * `openLocal` opens what `arg` names (relative to `cwd`); undefined when it is not an existing
 * path (then it may be a reference, unless `explicitPath`).
 */
export async function openLocal(arg: string, cwd: string): Promise<LocalPackage | undefined> {
  const found = splitLocal(arg, cwd);
  if (found === undefined) return undefined;
  const { path, tag, dir } = found;
  if (!dir) return { kind: 'file', path, ...(await readLocalFile(path)) };
  if (statOf(join(path, LAYOUT_FILE))) return openLayout(path, tag);
  // An ecc tool or wasm-bpf example directory (`*.bpf.c` without ebpm.json) builds too (build/sources.ts `inferredManifest`).
  const sources = async () => (await readdir(path)).some((f) => f.endsWith('.bpf.c'));
  if (tag === undefined && (statOf(join(path, SOURCE_MANIFEST)) || (await sources()))) return { kind: 'directory', path };
  throw new EbpmError('NOT_FOUND', `neither a package directory (${SOURCE_MANIFEST} or *.bpf.c) nor an OCI layout (${LAYOUT_FILE})`, {
    hint: `give ${LOCAL_KINDS}; a package directory is built with ebpm build`,
  });
}

async function readLocalFile(path: string): Promise<{ bytes: Uint8Array; digest: Digest }> {
  const bytes = new Uint8Array(await readFile(path));
  return { bytes, digest: sha256Digest(bytes) };
}

/**
 * `openLayout` opens the layout at `path` and resolves, once, the tag to use: `tag` when given,
 * else `latest`, else its only package tag (signature and referrer tags kept beside packages
 * do not count, `isSideTag`). No package tag is `NOT_FOUND`; several and no `latest` is
 * `USAGE`, listing them.
 */
export async function openLayout(path: string, tag?: string): Promise<LocalPackage & { kind: 'layout' }> {
  const layout = await OciLayout.open(path, { create: false });
  if (tag !== undefined) return { kind: 'layout', path, layout, tag, descriptor: await layout.resolve(tag) };
  // The tag and what it names, from one read of index.json.
  const tagged = await layout.tagged();
  const use = pickLayoutTag(path, tagged.map((t) => t.tag).sort());
  return { kind: 'layout', path, layout, tag: use, descriptor: tagged.find((t) => t.tag === use)!.descriptor };
}

/** `pickLayoutTag` is the tag rule of `openLayout`, over a layout's tags. */
export function pickLayoutTag(path: string, tags: readonly string[]): string {
  const own = tags.filter((t) => !isSideTag(t));
  if (own.includes('latest')) return 'latest';
  if (own.length === 1) return own[0]!;
  if (own.length === 0) {
    throw new EbpmError('NOT_FOUND', 'the layout has no package tag', { hint: 'tag a manifest in the layout, or build the package again' });
  }
  throw new EbpmError('USAGE', `the layout has several tags (${own.join(', ')}) and no latest`, {
    hint: `name one: ${path}:${own[0]}`,
    data: { tags: own },
  });
}

/** `LocalFile` is a file described as a package. */
export interface LocalFile {
  readonly format: 'bpf-object' | 'wasm-module' | 'eunomia';
  readonly metadata: PackageMetadata;
  /** The BPF objects it carries, by name: the file itself, or the object inside a package.json. */
  readonly objects: ReadonlyMap<string, Uint8Array>;
  readonly wasm?: Uint8Array;
  /** For an eunomia `package.json`: how ecli offers each parameter, by variable name. */
  readonly ecli?: ReadonlyMap<string, EcliFlag>;
}

/**
 * `describeLocalFile` tells a file by its first bytes (ELF, Wasm) or its name (`.json`) and
 * describes it, named after the file. Anything else is `FORMAT_UNKNOWN`. Errors name no path:
 * callers add it as context.
 */
export async function describeLocalFile(file: LocalPackage & { kind: 'file' }): Promise<LocalFile> {
  // What reads them loads only for the files that need it; eunomia's format (zlib) only for a package.json.
  const { describeFiles, looseModuleMetadata, packageName } = await import('../package/loose.js');
  const { bytes, path } = file;
  const name = packageName(basename(path));
  const info = { name, architecture: ociArch() };
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    // Records whose struct the object does not carry are named from this machine's tracepoint formats.
    const { tracepointFields } = await import('../kernel/tracepoint-format.js');
    const object = { name: `${name}.bpf.o`, bytes, tracepointField: tracepointFields() };
    return { format: 'bpf-object', metadata: describeFiles(info, [object]), objects: new Map([[object.name, bytes]]) };
  }
  if (isWasmModule(bytes)) {
    // With the objects it embeds, or as a plain WASI command with none.
    return { format: 'wasm-module', metadata: looseModuleMetadata(info, `${name}.wasm`, bytes), objects: new Map(), wasm: bytes };
  }
  if (path.endsWith('.json')) {
    const { readEunomiaPackage } = await import('../package/foreign.js');
    const { metadata, object, ecli } = readEunomiaPackage(new TextDecoder().decode(bytes), basename(path));
    return { format: 'eunomia', metadata, objects: new Map([[metadata.objects[0]!.name, object]]), ecli };
  }
  throw new EbpmError('FORMAT_UNKNOWN', 'not a BPF object, a Wasm module or a package.json', { hint: `give ${LOCAL_KINDS}` });
}
