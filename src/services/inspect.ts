/**
 * `ebpm inspect`: what a package, a package directory, an object, a Wasm module, an OCI layout or
 * a foreign artifact holds, as package metadata plus digest and size. A package directory is
 * built in memory (nothing is written); a stored artifact is read over a `ReadOnlyTarget` and a
 * reference, the seam a registry repository plugs into.
 */
import { basename } from 'node:path';
import { fetchAll, type ReadOnlyTarget } from '../content/storage.js';
import { ociArch } from '../core/arch.js';
import { assertNever, EbpmError, withContext } from '../core/errors.js';
import { MAX_MANIFEST_BYTES, isIndexType, parseIndex, parseManifest, type Descriptor } from '../core/oci.js';
import type { Env } from '../core/paths.js';
import { isEbpmManifest, readPackage } from '../package/artifact.js';
import { readForeignManifest, type ForeignFormat } from '../package/foreign.js';
import type { PackageMetadata } from '../package/metadata.js';
import { buildToMemory, type BuildNotice } from './build.js';
import { describeLocalFile, LOCAL_KINDS, openLocal } from './local-source.js';

export interface InspectResult {
  /** What was inspected, as the user named it. */
  readonly source: string;
  readonly format: 'ebpm' | ForeignFormat;
  readonly metadata: PackageMetadata;
  /** The manifest digest for artifacts, the file digest for loose files. */
  readonly digest: string;
  /** Bytes of the whole artifact (manifest, config, layers) or of the file. */
  readonly size: number;
  /** For a directory, built in memory: what the build has to tell (`buildNotices`). */
  readonly notices?: readonly BuildNotice[];
}

/**
 * `inspectPath` inspects a local path (relative to `cwd`) as `openLocal` reads it: a package
 * directory, an OCI layout (`dir` or `dir:tag`), an object, a module or an eunomia package.json.
 * Errors read `inspect <path>: …`.
 */
export async function inspectPath(path: string, cwd: string, env: Env): Promise<InspectResult> {
  try {
    return await inspectLocal(path, cwd, env);
  } catch (e) {
    throw withContext(`inspect ${path}`, e);
  }
}

async function inspectLocal(path: string, cwd: string, env: Env): Promise<InspectResult> {
  const local = await openLocal(path, cwd);
  if (local === undefined) throw new EbpmError('NOT_FOUND', 'no such file or directory', { hint: `give ${LOCAL_KINDS}` });
  switch (local.kind) {
    case 'layout':
      return inspectTarget(local.layout, local.descriptor, { source: path, name: basename(local.path), tag: local.tag });
    case 'directory': {
      const { built, notices } = await buildToMemory(local.path, env);
      const d = built.packed.descriptor;
      const size = built.packed.blobs.reduce((n, b) => n + b.descriptor.size, 0);
      return { source: path, format: 'ebpm', metadata: built.metadata, digest: d.digest, size, notices };
    }
    case 'file': {
      const { format, metadata } = await describeLocalFile(local);
      return { source: path, format, metadata, digest: local.digest, size: local.bytes.length };
    }
    default:
      return assertNever(local, 'local package');
  }
}

/**
 * `inspectTarget` inspects the artifact `root` in `target` (a layout, a registry repository),
 * as resolved once by the caller: an ebpm package, or a foreign artifact; an index resolves to
 * the manifest for this machine's architecture. `opts.name` and `opts.tag` name a foreign
 * artifact without a title or version annotation.
 */
export async function inspectTarget(target: ReadOnlyTarget, root: Descriptor, opts: { source: string; name: string; tag?: string }): Promise<InspectResult> {
  let desc = root;
  const rootDigest = desc.digest;
  if (isIndexType(desc.mediaType)) {
    const index = parseIndex(await fetchAll(target, desc, MAX_MANIFEST_BYTES), desc.mediaType);
    const want = ociArch();
    const pick = index.manifests.find((m) => m.platform?.architecture === want) ?? index.manifests[0];
    if (!pick) throw new EbpmError('NOT_FOUND', `${root.digest}: the index lists no manifest`, { hint: 'the artifact is empty' });
    desc = pick;
  }
  const manifest = parseManifest(await fetchAll(target, desc, MAX_MANIFEST_BYTES), desc.mediaType);
  const size = desc.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  if (isEbpmManifest(manifest)) {
    const pkg = await readPackage(target, desc);
    return { source: opts.source, format: 'ebpm', metadata: pkg.metadata, digest: rootDigest, size };
  }
  const { format, metadata } = await readForeignManifest(target, manifest, { name: opts.name, ...(opts.tag === undefined ? {} : { tag: opts.tag }) });
  return { source: opts.source, format, metadata, digest: rootDigest, size };
}
