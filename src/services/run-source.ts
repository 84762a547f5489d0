/**
 * What `ebpm run` runs: a package resolved to its metadata and the bytes of its BPF objects and
 * Wasm module. `PackageSource` is the seam: local paths (opened as local-source.ts opens them
 * for every command) come first, and the pull service plugs a resolver for registry references
 * in beside them.
 */
import { basename } from 'node:path';
import { fetchAll, type ReadOnlyTarget } from '../content/storage.js';
import { assertNever, EbpmError, isCode, withContext } from '../core/errors.js';
import { isIndexType, type Descriptor, type ImageManifest } from '../core/oci.js';
import type { Env } from '../core/paths.js';
import { readPackage } from '../package/artifact.js';
import type { ForeignFormat } from '../package/foreign.js';
import { EBPM_BPF_OBJECT, EBPM_BTF, EBPM_WASM_MODULE } from '../package/media-types.js';
import type { PackageMetadata } from '../package/metadata.js';
import type { EcliFlag } from '../package/params.js';
import type { BuildNotice } from './build.js';
import type { Context } from './context.js';
import { describeLocalFile, explicitPath, LOCAL_KINDS, openLocal, type LocalPackage } from './local-source.js';
import { isWasmModule } from '../wasm/module.js';
import { admitLocal, requirementFor, type Admission } from './trust.js';
import { LOCAL_SCOPE, type TrustPolicy } from '../sign/policy.js';

// The build pipeline, foreign formats and inspect (with tar-stream, semver ranges, the ELF and
// Wasm parsers) load only for the kinds that need them: a stored ebpm package, what `ebpm run`
// starts fastest from, reads its metadata blob and nothing else.

/** Largest object or module fetched: the limit foreign.ts's MAX_PROGRAM_BYTES puts on artifacts (64 MiB). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** `ResolvedPackage` is a package ready to run. */
export interface ResolvedPackage {
  /** What the user named: a path or a reference. */
  readonly source: string;
  readonly format: 'ebpm' | ForeignFormat;
  readonly metadata: PackageMetadata;
  /** The bytes of each object the package carries as a file (`metadata.objects[].layer`), by name. */
  readonly objects: ReadonlyMap<string, Uint8Array>;
  readonly wasm?: Uint8Array;
  /** The BTF the package carries for kernels without their own (`metadata.btf`), by release. */
  readonly btf?: ReadonlyMap<string, Uint8Array>;
  /** The trust policy's decision, made before anything was loaded (trust.ts): for a local path, under its `local` scope. */
  readonly trust?: Admission;
  /** For an eunomia `package.json`: how ecli offers each parameter (its flag and default), by variable name. */
  readonly ecli?: ReadonlyMap<string, EcliFlag>;
  /** For a directory, built on the fly: what the build has to tell (`buildNotices`). */
  readonly notices?: readonly BuildNotice[];
  /** For a registry reference: the digest its tag or range resolved to (what `--follow` compares). */
  readonly digest?: string;
}

/** When a reference is pulled: every time, only when not stored, or never (stored only). */
export type PullPolicy = 'always' | 'missing' | 'never';
export const PULL_POLICIES: readonly PullPolicy[] = ['always', 'missing', 'never'];

export interface ResolveOptions {
  readonly pull: PullPolicy;
  readonly env: Env;
  readonly cwd: string;
  /** The run's one context (opened on first use), for references: configuration, credentials, registries. */
  readonly context: () => Promise<Context>;
  /**
   * The trust policy, read once per command (the context's too): it admits local packages without
   * opening the context. A command's own read gives it as it is, the context's as a promise.
   */
  readonly trustPolicy: () => TrustPolicy | Promise<TrustPolicy>;
  readonly signal?: AbortSignal;
  /**
   * Called once the package is known to carry a Wasm module (an ebpm manifest lists a layer of
   * its media type; a file is one), before its metadata, digests and layers are checked or read:
   * `ebpm run` starts the guest's thread then, and ends it if the resolve fails.
   */
  readonly onWasm?: () => void;
}

/**
 * `PackageSource` resolves what `ebpm run` was given. It returns undefined for an argument
 * that is not of its kind, so sources are tried in order: local paths first, then references.
 */
export interface PackageSource {
  resolve(arg: string, opts: ResolveOptions): Promise<ResolvedPackage | undefined>;
}

/**
 * `resolvePackage` asks each source in turn. Nothing claiming the argument is `NOT_FOUND`,
 * naming what was tried.
 */
export async function resolvePackage(arg: string, sources: readonly PackageSource[], opts: ResolveOptions): Promise<ResolvedPackage> {
  for (const s of sources) {
    const pkg = await s.resolve(arg, opts);
    if (pkg !== undefined) return pkg;
  }
  throw new EbpmError('NOT_FOUND', `${arg}: no such file or directory`, {
    hint: sources.length > 1 ? `give ${LOCAL_KINDS}, or a registry reference` : `give ${LOCAL_KINDS} (references need the pull service)`,
  });
}

/**
 * `packageFromTarget` reads the package `root` in `target` (an OCI layout, the store, a
 * registry repository): its metadata as inspect reads it, then each object and the Wasm module
 * fetched by digest and verified. `root` is the descriptor the caller resolved, and admitted,
 * once: nothing here looks a tag up again, so what runs is what was admitted, whatever the
 * target's tags say by now. An index is resolved to this machine's platform (`selectPlatform`:
 * the index admitted names its manifests by digest). A foreign artifact whose objects are not
 * layers of their own (inside a tarball) is `RUN_UNSUPPORTED_ARTIFACT`.
 */
export async function packageFromTarget(
  target: ReadOnlyTarget,
  root: Descriptor,
  opts: {
    source: string;
    /** Fallback name (its repository) and tag of a foreign artifact. */
    name: string;
    tag?: string;
    signal?: AbortSignal;
    /** `ResolveOptions.onWasm`. */
    onWasm?: (() => void) | undefined;
  },
): Promise<ResolvedPackage> {
  const info = await describeTarget(target, await platformManifest(target, root, opts.signal), opts);
  const objects = new Map<string, Uint8Array>();
  const fetch = async (what: string, mediaType: string, digest: string, size: number) => {
    try {
      return await fetchAll(target, { mediaType, digest, size }, MAX_FILE_BYTES, opts.signal);
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'NOT_FOUND') throw e;
      throw new EbpmError('RUN_UNSUPPORTED_ARTIFACT', `${what} ${digest} is not stored as a blob of its own (${info.format} artifact)`, {
        hint: 'ebpm runs artifacts that carry each BPF object or Wasm module as a layer; rebuild it as an ebpm package',
        cause: e,
      });
    }
  };
  for (const o of info.metadata.objects) {
    if (o.layer) objects.set(o.name, await fetch(`object ${o.name}`, EBPM_BPF_OBJECT, o.digest, o.size));
  }
  const w = info.metadata.wasm;
  const wasm = w === undefined ? undefined : await fetch(`module ${w.name}`, EBPM_WASM_MODULE, w.digest, w.size);
  // A few KiB each: read with the rest, so a run needs nothing from the target after this.
  const btf = new Map<string, Uint8Array>();
  for (const b of info.metadata.btf ?? []) btf.set(b.release, await fetch(`BTF for ${b.release}`, EBPM_BTF, b.digest, b.size));
  return {
    source: opts.source,
    format: info.format,
    metadata: info.metadata,
    objects,
    ...(wasm === undefined ? {} : { wasm }),
    ...(btf.size === 0 ? {} : { btf }),
  };
}

/** The manifest of `root` that runs here: an index's for this machine's platform (resolve.ts, loaded only for an index). */
async function platformManifest(target: ReadOnlyTarget, root: Descriptor, signal?: AbortSignal): Promise<Descriptor> {
  if (!isIndexType(root.mediaType)) return root;
  const [{ selectPlatform }, { hostPlatform }] = await Promise.all([import('./resolve.js'), import('../core/arch.js')]);
  return (await selectPlatform(target, root, hostPlatform(), signal ? { signal } : {})).descriptor;
}

/** An ebpm package's metadata straight from its config blob; anything else as inspect reads it. */
async function describeTarget(
  target: ReadOnlyTarget,
  root: Descriptor,
  opts: { source: string; name: string; tag?: string; signal?: AbortSignal; onWasm?: (() => void) | undefined },
): Promise<{ format: 'ebpm' | ForeignFormat; metadata: PackageMetadata }> {
  if (!isIndexType(root.mediaType)) {
    const onManifest = (m: ImageManifest) => {
      if (m.layers.some((l) => l.mediaType === EBPM_WASM_MODULE)) opts.onWasm?.();
    };
    try {
      return { format: 'ebpm', metadata: (await readPackage(target, root, opts.onWasm && onManifest)).metadata };
    } catch (e) {
      if (!isCode(e, 'NOT_EBPM_PACKAGE')) throw e;
    }
  }
  const [{ inspectTarget }, { packageName }] = await Promise.all([import('./inspect.js'), import('../package/loose.js')]);
  return inspectTarget(target, root, { source: opts.source, name: packageName(opts.name), ...(opts.tag === undefined ? {} : { tag: opts.tag }) });
}

/**
 * `localSource` resolves paths, as `openLocal` reads them: a package directory (`ebpm.json`,
 * built in memory on every run, so what runs is what the sources say now, never a stale
 * `out/`), an OCI layout (`dir` or `dir:tag`), a BPF object, a Wasm module or an eunomia
 * `package.json`. Each is admitted by the trust policy's `local` scope before its objects are
 * read (`admitLocal`), and what is read is what was admitted: the layout's manifest by the
 * digest its tag named once, a file's bytes as read once. Anything that is not an existing
 * path is left to the next source.
 */
export function localSource(): PackageSource {
  return {
    async resolve(arg, opts) {
      try {
        const local = await openLocal(arg, opts.cwd);
        if (local !== undefined) return await resolveLocal(arg, local, opts);
        if (explicitPath(arg)) throw new EbpmError('NOT_FOUND', 'no such file or directory', { hint: `give ${LOCAL_KINDS}` });
        return undefined;
      } catch (e) {
        // A refusal names the path itself, as a registry's names the repository.
        throw isCode(e, 'TRUST_REFUSED') ? e : withContext(arg, e);
      }
    },
  };
}

/**
 * `admit` is the trust policy's decision on a local package: signatures are read from the
 * layout it comes from (its `.sig` tag in the repository of its tag when that names one, as in
 * an export, and its referrers), and a package without one (a file, a directory built in
 * memory) has none.
 */
async function admit(arg: string, opts: ResolveOptions, subject: Descriptor, from?: LocalPackage & { kind: 'layout' }) {
  const policy = await opts.trustPolicy();
  const request = { path: arg, policy, digest: subject.digest, ...(opts.signal ? { signal: opts.signal } : {}) };
  // Under `none` (the built-in default for paths) a signature changes nothing and no decision is
  // kept: the layout's signatures are not read, which spares every local run the lookup.
  if (from === undefined || requirementFor(policy, LOCAL_SCOPE) === 'none') return admitLocal(request);
  const { storedRepository } = await import('./sign.js');
  const repository = /^(.*\/[^/:]+):[^/:]+$/.exec(from.tag)?.[1];
  return admitLocal({ ...request, layout: { target: repository === undefined ? from.layout : storedRepository(from.layout, repository), subject } });
}

async function resolveLocal(arg: string, local: LocalPackage, opts: ResolveOptions): Promise<ResolvedPackage> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  switch (local.kind) {
    case 'layout': {
      const trust = await admit(arg, opts, local.descriptor, local);
      const pkg = await packageFromTarget(local.layout, local.descriptor, {
        source: arg,
        name: basename(local.path),
        tag: local.tag,
        ...signal,
        onWasm: opts.onWasm,
      });
      return { ...pkg, trust };
    }
    case 'directory': {
      const { buildToMemory } = await import('./build.js');
      const { store, tag, notices } = await buildToMemory(local.path, opts.env);
      const root = await store.resolve(tag);
      const trust = await admit(arg, opts, root);
      return { ...(await packageFromTarget(store, root, { source: arg, name: basename(local.path), ...signal, onWasm: opts.onWasm })), trust, notices };
    }
    case 'file': {
      if (isWasmModule(local.bytes)) opts.onWasm?.();
      const trust = await admit(arg, opts, { mediaType: 'application/octet-stream', digest: local.digest, size: local.bytes.length });
      return { source: arg, ...(await describeLocalFile(local)), trust };
    }
    default:
      return assertNever(local, 'local package');
  }
}
