/**
 * `ebpm inspect`: what a package, a package directory, an object, a Wasm module, an OCI layout or
 * a foreign artifact holds, as package metadata plus digest and size. A package directory is
 * built in memory (nothing is written); a stored artifact is read over a `ReadOnlyTarget` and a
 * reference, the seam a registry repository plugs into.
 */
import { basename } from 'node:path';
import { fetchAll, type ReadOnlyTarget } from '../content/storage.js';
import { formatPlatform, hostPlatform } from '../core/arch.js';
import { assertNever, EbpmError, withContext } from '../core/errors.js';
import { nearPath } from './guess.js';
import { MAX_MANIFEST_BYTES, parseManifest, type Descriptor, type Platform } from '../core/oci.js';
import type { Env } from '../core/paths.js';
import { isEbpmManifest, readPackage } from '../package/artifact.js';
import { readForeignManifest, type ForeignFormat } from '../package/foreign.js';
import type { PackageMetadata } from '../package/metadata.js';
import { buildToMemory, type BuildNotice } from './build.js';
import { describeLocalFile, LOCAL_KINDS, openLocal } from './local-source.js';
import { selectPlatform } from './resolve.js';

export interface InspectResult {
  /** What was inspected, as the user named it. */
  readonly source: string;
  readonly format: 'ebpm' | ForeignFormat;
  readonly metadata: PackageMetadata;
  /** The manifest digest for artifacts, the file digest for loose files. */
  readonly digest: string;
  /** Bytes of the whole artifact (manifest, config, layers) or of the file; of an index, those of the platform shown. */
  readonly size: number;
  /** For a directory, built in memory: what the build has to tell (`buildNotices`). */
  readonly notices?: readonly BuildNotice[];
  /** A multi-platform package: its platforms (`linux/arm64`) and their manifests, and the one shown. */
  readonly platforms?: { readonly shown: string; readonly all: readonly { readonly platform: string; readonly digest: string }[] };
}

/**
 * `inspectPath` inspects a local path (relative to `cwd`) as `openLocal` reads it: a package
 * directory, an OCI layout (`dir` or `dir:tag`), an object, a module or an eunomia package.json.
 * Errors read `inspect <path>: …`.
 */
export async function inspectPath(path: string, cwd: string, env: Env, platform?: Platform): Promise<InspectResult> {
  try {
    return await inspectLocal(path, cwd, env, platform);
  } catch (e) {
    throw withContext(`inspect ${path}`, e);
  }
}

async function inspectLocal(path: string, cwd: string, env: Env, platform: Platform | undefined): Promise<InspectResult> {
  const local = await openLocal(path, cwd);
  if (local === undefined) {
    const near = await nearPath(cwd, path);
    throw new EbpmError('NOT_FOUND', 'no such file or directory', { hint: near === undefined ? `give ${LOCAL_KINDS}` : `did you mean ${near}?` });
  }
  switch (local.kind) {
    case 'layout':
      return inspectTarget(local.layout, local.descriptor, { source: path, name: basename(local.path), tag: local.tag, ...(platform ? { platform } : {}) });
    case 'directory': {
      const { built, root, size, notices } = await buildToMemory(local.path, env, platform ? { architectures: [platform.architecture] } : {});
      return { source: path, format: 'ebpm', metadata: built[0]!.metadata, digest: root.digest, size, notices };
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
 * as resolved once by the caller: an ebpm package, or a foreign artifact; an index shows the
 * manifest for `opts.platform`, by default this machine's or, when the index has not that, its
 * first (`selectPlatform`). `opts.name` and `opts.tag` name a foreign artifact without a title
 * or version annotation.
 */
export async function inspectTarget(
  target: ReadOnlyTarget,
  root: Descriptor,
  opts: { source: string; name: string; tag?: string; platform?: Platform },
): Promise<InspectResult> {
  const choice = await selectPlatform(target, root, opts.platform ?? hostPlatform(), { orFirst: opts.platform === undefined });
  const desc = choice.descriptor;
  const platforms =
    choice.platforms.length === 0
      ? {}
      : {
          platforms: {
            shown: formatPlatform(desc.platform ?? choice.platforms[0]!.platform),
            all: choice.platforms.map((m) => ({ platform: formatPlatform(m.platform), digest: m.digest })),
          },
        };
  const manifest = parseManifest(await fetchAll(target, desc, MAX_MANIFEST_BYTES), desc.mediaType);
  const size = desc.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  if (isEbpmManifest(manifest)) {
    const pkg = await readPackage(target, desc);
    return { source: opts.source, format: 'ebpm', metadata: pkg.metadata, digest: root.digest, size, ...platforms };
  }
  const { format, metadata } = await readForeignManifest(target, manifest, { name: opts.name, ...(opts.tag === undefined ? {} : { tag: opts.tag }) });
  return { source: opts.source, format, metadata, digest: root.digest, size, ...platforms };
}
