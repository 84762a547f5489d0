/**
 * `ebpm build`: build a package directory and write it to `<dir>/out/` as an OCI image layout
 * tagged with its version and, unless it is a pre-release, `latest`. The layout is written in a
 * temporary sibling and renamed into place, so a failed build leaves `out/` as it was
 * (registry-spec/package-v1.md §2).
 */
import { chmod, mkdtemp, rename, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { KernelInput } from '../build/kernel-btf.js';
import { buildPackage, type BuiltPackage } from '../build/pipeline.js';
import { OUT_DIR } from '../build/sources.js';
import { copy } from '../content/copy.js';
import { MemoryStore } from '../content/memory.js';
import type { Descriptor } from '../core/oci.js';
import { withContext } from '../core/errors.js';
import type { Env } from '../core/paths.js';
import type { PackageMetadata } from '../package/metadata.js';
import { movesLatest, versionTag } from '../package/version.js';
import { INGEST_DIR, OciLayout } from '../store/layout.js';

export interface BuildRequest {
  readonly dir: string;
  readonly env: Env;
  /** `--btf-for`: kernels to carry minimized BTF for (`BuildOptions.btfFor`). */
  readonly btfFor?: readonly KernelInput[];
}

export interface BuildResult {
  readonly dir: string;
  /** The OCI layout written. */
  readonly out: string;
  readonly metadata: PackageMetadata;
  /** The manifest's descriptor. */
  readonly descriptor: Descriptor;
  readonly tags: readonly string[];
  /** Bytes of manifest, config and layers together. */
  readonly size: number;
  readonly created: string;
  /** The directory has no `ebpm.json`: name and version were inferred (`inferredManifest`). */
  readonly inferred: boolean;
  /** Unknown doc tags and the like, each once. */
  readonly warnings: readonly string[];
}

/** `buildToMemory` builds a package into a `MemoryStore`, tagged with its version tag. */
export async function buildToMemory(
  dir: string,
  env: Env,
  btfFor: readonly KernelInput[] = [],
): Promise<{ built: BuiltPackage; store: MemoryStore; tag: string }> {
  const work = await mkdtemp(join(tmpdir(), 'ebpm-build-'));
  try {
    const built = await buildPackage(resolve(dir), { env, workDir: work, btfFor });
    const store = new MemoryStore();
    for (const b of built.packed.blobs) await store.push(b.descriptor, [b.bytes]);
    const tag = versionTag(built.metadata.version);
    await store.tag(built.packed.descriptor, tag);
    return { built, store, tag };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function build(req: BuildRequest): Promise<BuildResult> {
  const dir = resolve(req.dir);
  try {
    const { built, store, tag } = await buildToMemory(dir, req.env, req.btfFor);
    const out = join(dir, OUT_DIR);
    const staging = await mkdtemp(join(dir, `.${OUT_DIR}.`));
    try {
      // mkdtemp makes 0700 directories; out/ is a package root other users read (a build as
      // root, a run under sudo), so it gets the mode of any directory.
      await chmod(staging, 0o755);
      const layout = await OciLayout.open(staging);
      // A fresh layout holds no other version: `latest` names this one unless it is a pre-release.
      const tags = movesLatest(built.metadata.version, []) ? [tag, 'latest'] : [tag];
      for (const t of tags) await copy(store, tag, layout, t);
      await rmdir(join(staging, INGEST_DIR)).catch(() => undefined);
      await replaceDir(staging, out);
      return {
        dir,
        out,
        metadata: built.metadata,
        descriptor: built.packed.descriptor,
        tags,
        size: built.packed.blobs.reduce((n, b) => n + b.descriptor.size, 0),
        created: built.created,
        inferred: built.sources.inferred,
        warnings: built.warnings,
      };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  } catch (e) {
    throw withContext(`build ${req.dir}`, e);
  }
}

/** Moves `from` to `to`, replacing what is there: the old copy is moved aside first, then removed. */
async function replaceDir(from: string, to: string): Promise<void> {
  const old = `${from}.old`;
  const hadOld = await rename(to, old).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    },
  );
  try {
    await rename(from, to);
  } catch (e) {
    if (hadOld) await rename(old, to);
    throw e;
  }
  if (hadOld) await rm(old, { recursive: true, force: true });
}
