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
import { buildPlatforms, type BuiltPackage } from '../build/pipeline.js';
import { ociArch } from '../core/arch.js';
import { packIndex } from '../package/artifact.js';
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
  /** `--platform`: architectures to build for (OCI names), this machine's when absent. */
  readonly architectures?: readonly string[];
  /** `--btf-for`: kernels to carry minimized BTF for (`BuildOptions.btfFor`). */
  readonly btfFor?: readonly KernelInput[];
}

export interface BuildResult {
  readonly dir: string;
  /** The OCI layout written. */
  readonly out: string;
  readonly metadata: PackageMetadata;
  /** The manifest's descriptor; with several platforms, the index's. */
  readonly descriptor: Descriptor;
  /** With several platforms: each one's manifest, in the order built. */
  readonly platforms: readonly { readonly platform: string; readonly digest: string }[];
  readonly tags: readonly string[];
  /** Bytes of manifest, config and layers together. */
  readonly size: number;
  readonly created: string;
  readonly notices: readonly BuildNotice[];
}

/**
 * `BuildNotice` is something a build tells the user on stderr, whichever command built the
 * directory (`build`, and `run` and `inspect` of a directory): a `warning` about something in
 * the sources it ignored (an unknown doc tag), a `note` about a choice it made for them.
 */
export interface BuildNotice {
  readonly level: 'warning' | 'note';
  readonly message: string;
}

/** `buildNotices` lists what a build has to tell: its warnings, each once, then the name and version it chose without an `ebpm.json`. */
export function buildNotices(built: BuiltPackage): BuildNotice[] {
  const out: BuildNotice[] = built.warnings.map((message) => ({ level: 'warning', message }));
  if (built.sources.inferred) {
    const { name, version } = built.metadata;
    out.push({
      level: 'note',
      message: `no ebpm.json in ${built.sources.dir}: built as ${name}@${version}; add an ebpm.json with {"name": …, "version": …} to name and version it`,
    });
  }
  return out;
}

/** What a build put in its `MemoryStore`: one package, or one per platform under an index. */
export interface BuiltInMemory {
  /** The packages, one per architecture in the order asked (one when none was asked). */
  readonly built: readonly BuiltPackage[];
  readonly store: MemoryStore;
  /** The version tag, on the manifest or, with several platforms, the index. */
  readonly tag: string;
  readonly root: Descriptor;
  /** Bytes of every blob, each counted once. */
  readonly size: number;
  /** What the build has to tell (the same for every platform: one reading of the sources). */
  readonly notices: readonly BuildNotice[];
}

/**
 * `buildToMemory` builds a package into a `MemoryStore`, tagged with its version tag: a plain
 * manifest for one architecture, an OCI image index over one manifest per architecture for several.
 */
export async function buildToMemory(
  dir: string,
  env: Env,
  opts: { readonly architectures?: readonly string[] | undefined; readonly btfFor?: readonly KernelInput[] | undefined } = {},
): Promise<BuiltInMemory> {
  const work = await mkdtemp(join(tmpdir(), 'ebpm-build-'));
  try {
    const built = await buildPlatforms(resolve(dir), { env, workDir: work, architectures: opts.architectures ?? [ociArch()], btfFor: opts.btfFor ?? [] });
    const first = built[0]!;
    const { descriptor: root, blobs } = built.length === 1 ? first.packed : packIndex(built, first.created);
    const store = new MemoryStore();
    for (const b of blobs) await store.push(b.descriptor, [b.bytes]);
    const tag = versionTag(first.metadata.version);
    await store.tag(root, tag);
    return { built, store, tag, root, size: blobs.reduce((n, b) => n + b.descriptor.size, 0), notices: buildNotices(first) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function build(req: BuildRequest): Promise<BuildResult> {
  const dir = resolve(req.dir);
  try {
    const { built, store, tag, root, size, notices } = await buildToMemory(dir, req.env, { architectures: req.architectures, btfFor: req.btfFor });
    const first = built[0]!;
    const out = join(dir, OUT_DIR);
    const staging = await mkdtemp(join(dir, `.${OUT_DIR}.`));
    try {
      // mkdtemp makes 0700 directories; out/ is a package root other users read (a build as
      // root, a run under sudo), so it gets the mode of any directory.
      await chmod(staging, 0o755);
      const layout = await OciLayout.open(staging);
      // A fresh layout holds no other version: `latest` names this one unless it is a pre-release.
      const tags = movesLatest(first.metadata.version, []) ? [tag, 'latest'] : [tag];
      for (const t of tags) await copy(store, tag, layout, t);
      await rmdir(join(staging, INGEST_DIR)).catch(() => undefined);
      await replaceDir(staging, out);
      return {
        dir,
        out,
        metadata: first.metadata,
        descriptor: root,
        platforms: built.length === 1 ? [] : built.map((b) => ({ platform: `linux/${b.metadata.architecture}`, digest: b.packed.descriptor.digest })),
        tags,
        size,
        created: first.created,
        notices,
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
