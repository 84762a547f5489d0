/**
 * `ebpm inspect`: what a package, a package directory, an object, a Wasm module, an OCI layout or
 * a foreign artifact holds, as package metadata plus digest and size. A package directory is
 * built in memory (nothing is written); a stored artifact is read over a `ReadOnlyTarget` and a
 * reference, the seam a registry repository plugs into.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SOURCE_MANIFEST } from '../package/source-manifest.js';
import { fetchAll, type ReadOnlyTarget } from '../content/storage.js';
import { ociArch } from '../core/arch.js';
import { sha256Digest } from '../core/digest.js';
import { EbpmError, withContext } from '../core/errors.js';
import { MAX_MANIFEST_BYTES, isIndexType, parseIndex, parseManifest, type Descriptor } from '../core/oci.js';
import type { Env } from '../core/paths.js';
import { isEbpmManifest, readPackage } from '../package/artifact.js';
import { describeFiles, packageName, readEunomiaPackage, readForeignManifest, type ForeignFormat } from '../package/foreign.js';
import type { PackageMetadata } from '../package/metadata.js';
import { LAYOUT_FILE, OciLayout } from '../store/layout.js';
import { buildToMemory } from './build.js';

export interface InspectResult {
  /** What was inspected, as the user named it. */
  readonly source: string;
  readonly format: 'ebpm' | ForeignFormat;
  readonly metadata: PackageMetadata;
  /** The manifest digest for artifacts, the file digest for loose files. */
  readonly digest: string;
  /** Bytes of the whole artifact (manifest, config, layers) or of the file. */
  readonly size: number;
}

/** `inspectPath` inspects a local path: a package directory, an OCI layout (`dir` or `dir:tag`), an object, a module or an eunomia package.json. */
export async function inspectPath(path: string, env: Env): Promise<InspectResult> {
  try {
    return await inspectLocal(path, env);
  } catch (e) {
    throw withContext(`inspect ${path}`, e);
  }
}

async function inspectLocal(path: string, env: Env): Promise<InspectResult> {
  const colon = path.lastIndexOf(':');
  const [dir, tag] = colon > 0 && !(await exists(path)) ? [path.slice(0, colon), path.slice(colon + 1)] : [path, undefined];
  const st = await stat(dir).catch(() => {
    throw new EbpmError('NOT_FOUND', `${dir}: no such file or directory`, {
      hint: 'inspect takes a package directory, an OCI layout, a .bpf.o, a .wasm or an eunomia package.json',
    });
  });
  if (st.isDirectory()) {
    if (await exists(join(dir, LAYOUT_FILE))) {
      const layout = await OciLayout.open(dir, { create: false });
      const tags = await layout.tags();
      const ref = tag ?? (tags.includes('latest') ? 'latest' : tags[0]);
      if (ref === undefined)
        throw new EbpmError('NOT_FOUND', `${dir}: the layout has no tags`, { hint: 'tag a manifest in the layout, or build the package again' });
      return inspectTarget(layout, ref, { source: path, name: basename(dir) });
    }
    if (await exists(join(dir, SOURCE_MANIFEST))) {
      const { built } = await buildToMemory(dir, env);
      const d = built.packed.descriptor;
      return { source: path, format: 'ebpm', metadata: built.metadata, digest: d.digest, size: built.packed.blobs.reduce((n, b) => n + b.descriptor.size, 0) };
    }
    throw new EbpmError('NOT_FOUND', `${dir}: neither a package directory (ebpm.json) nor an OCI layout (oci-layout)`, {
      hint: 'run ebpm build in the package directory first, or pass its path',
    });
  }
  const bytes = new Uint8Array(await readFile(dir));
  const file = { source: path, digest: sha256Digest(bytes), size: bytes.length };
  const name = packageName(basename(dir));
  const info = { name, architecture: ociArch() };
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    return { ...file, format: 'bpf-object', metadata: describeFiles(info, [{ name: `${name}.bpf.o`, bytes }]) };
  }
  if (bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d) {
    // As `ebpm run` reads it: with the objects it embeds, or as a plain WASI command with none.
    const { looseModuleMetadata } = await import('./run-wasm.js');
    return { ...file, format: 'wasm-module', metadata: looseModuleMetadata(info, `${name}.wasm`, bytes) };
  }
  if (dir.endsWith('.json')) return { ...file, format: 'eunomia', metadata: readEunomiaPackage(new TextDecoder().decode(bytes), basename(dir)).metadata };
  throw new EbpmError('FORMAT_UNKNOWN', `${dir}: not a BPF object, a Wasm module or a package.json`, {
    hint: 'inspect takes a package directory, an OCI layout, a .bpf.o, a .wasm or an eunomia package.json',
  });
}

/**
 * `inspectTarget` inspects the artifact `ref` names in `target` (a layout, a registry repository):
 * an ebpm package, or a foreign artifact; an index resolves to the manifest for this machine's
 * architecture. `fallback.name` names a foreign artifact without a title annotation.
 */
export async function inspectTarget(target: ReadOnlyTarget, ref: string, opts: { source: string; name: string }): Promise<InspectResult> {
  let desc: Descriptor = await target.resolve(ref);
  const rootDigest = desc.digest;
  if (isIndexType(desc.mediaType)) {
    const index = parseIndex(await fetchAll(target, desc, MAX_MANIFEST_BYTES), desc.mediaType);
    const want = ociArch();
    const pick = index.manifests.find((m) => m.platform?.architecture === want) ?? index.manifests[0];
    if (!pick) throw new EbpmError('NOT_FOUND', `${ref}: the index lists no manifest`, { hint: 'the artifact is empty' });
    desc = pick;
  }
  const manifest = parseManifest(await fetchAll(target, desc, MAX_MANIFEST_BYTES), desc.mediaType);
  const size = desc.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  if (isEbpmManifest(manifest)) {
    const pkg = await readPackage(target, desc);
    return { source: opts.source, format: 'ebpm', metadata: pkg.metadata, digest: rootDigest, size };
  }
  const { format, metadata } = await readForeignManifest(target, manifest, { name: opts.name, tag: ref });
  return { source: opts.source, format, metadata, digest: rootDigest, size };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
