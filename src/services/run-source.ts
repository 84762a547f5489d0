/**
 * What `ebpm run` runs: a package resolved to its metadata and the bytes of its BPF objects and
 * Wasm module. `PackageSource` is the seam: the local kinds live here, and the pull service
 * plugs a resolver for registry references in beside them.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fetchAll, type ReadOnlyTarget } from '../content/storage.js';
import { ociArch } from '../core/arch.js';
import { sha256Digest, type Digest } from '../core/digest.js';
import { EbpmError, isCode, withContext } from '../core/errors.js';
import { MAX_MANIFEST_BYTES, isIndexType, parseManifest, type Descriptor } from '../core/oci.js';
import type { Env } from '../core/paths.js';
import { isEbpmManifest, readPackage } from '../package/artifact.js';
import type { ForeignFormat } from '../package/foreign.js';
import { EBPM_BPF_OBJECT, EBPM_WASM_MODULE } from '../package/media-types.js';
import type { PackageMetadata } from '../package/metadata.js';
import { isSideTag } from '../sign/payload.js';
import type { EcliFlag } from '../package/params.js';
import { SOURCE_MANIFEST } from '../package/source-manifest.js';
import { LAYOUT_FILE, OciLayout } from '../store/layout.js';
import type { Admission } from './trust.js';

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
  /** The trust policy's decision, made before anything was loaded (trust.ts): for a local path, under its `local` scope. */
  readonly trust?: Admission;
  /** For an eunomia `package.json`: how ecli offers each parameter (its flag and default), by variable name. */
  readonly ecli?: ReadonlyMap<string, EcliFlag>;
}

/** When a reference is pulled: every time, only when not stored, or never (stored only). */
export type PullPolicy = 'always' | 'missing' | 'never';
export const PULL_POLICIES: readonly PullPolicy[] = ['always', 'missing', 'never'];

export interface ResolveOptions {
  readonly pull: PullPolicy;
  readonly env: Env;
  readonly cwd: string;
  readonly signal?: AbortSignal;
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
    hint:
      sources.length > 1
        ? 'give a package directory, an OCI layout, a .bpf.o, an eunomia package.json or a registry reference'
        : 'give a package directory, an OCI layout, a .bpf.o or an eunomia package.json (references need the pull service)',
  });
}

/**
 * `packageFromTarget` reads the package `ref` names in `target` (an OCI layout, the store, a
 * registry repository): its metadata as inspect reads it, then each object and the Wasm module
 * fetched by digest and verified. A foreign artifact whose objects are not layers of their own
 * (inside a tarball) is `RUN_UNSUPPORTED_ARTIFACT`.
 */
export async function packageFromTarget(
  target: ReadOnlyTarget,
  ref: string,
  opts: { source: string /** Fallback name of a foreign artifact (its repository). */; name: string; signal?: AbortSignal },
): Promise<ResolvedPackage> {
  const info = await describeTarget(target, ref, opts);
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
  return { source: opts.source, format: info.format, metadata: info.metadata, objects, ...(wasm === undefined ? {} : { wasm }) };
}

/** An ebpm package's metadata straight from its config blob; anything else as inspect reads it. */
async function describeTarget(
  target: ReadOnlyTarget,
  ref: string,
  opts: { source: string; name: string; signal?: AbortSignal },
): Promise<{ format: 'ebpm' | ForeignFormat; metadata: PackageMetadata }> {
  const desc = await target.resolve(ref, opts.signal);
  if (!isIndexType(desc.mediaType)) {
    const manifest = parseManifest(await fetchAll(target, desc, MAX_MANIFEST_BYTES, opts.signal), desc.mediaType);
    if (isEbpmManifest(manifest)) return { format: 'ebpm', metadata: (await readPackage(target, desc)).metadata };
  }
  const [{ inspectTarget }, { packageName }] = await Promise.all([import('./inspect.js'), import('../package/foreign.js')]);
  return inspectTarget(target, ref, { source: opts.source, name: packageName(opts.name) });
}

async function statOf(p: string) {
  return stat(p).catch(() => undefined);
}

/** `explicitPath` tells arguments that can only be paths (`/x`, `./x`, `../x`, `.`), never references. */
export function explicitPath(arg: string): boolean {
  return arg === '.' || arg === '..' || /^\.{0,2}\//.test(arg);
}

/**
 * `localSource` resolves paths: a package directory (`ebpm.json`, built in memory on every run,
 * so what runs is what the sources say now, never a stale `out/`), an OCI layout (`dir` or
 * `dir:tag`; `latest`, else its only tag besides signature tags), a BPF object, a Wasm module
 * or an eunomia `package.json`. Each is admitted by the trust policy's `local` scope before
 * its objects are read (`admitLocal`). Anything that is not an existing path is left to the
 * next source.
 */
export function localSource(): PackageSource {
  return {
    async resolve(arg, opts) {
      const full = (p: string) => (p.startsWith('/') ? p : join(opts.cwd, p));
      let path = arg;
      let tag: string | undefined;
      let st = await statOf(full(path));
      const colon = arg.lastIndexOf(':');
      if (st === undefined && colon > 0) {
        const dirSt = await statOf(full(arg.slice(0, colon)));
        if (dirSt?.isDirectory()) [path, tag, st] = [arg.slice(0, colon), arg.slice(colon + 1), dirSt];
      }
      if (st === undefined) {
        if (explicitPath(arg))
          throw new EbpmError('NOT_FOUND', `${arg}: no such file or directory`, {
            hint: 'give a package directory, an OCI layout, a .bpf.o or an eunomia package.json',
          });
        return undefined;
      }
      try {
        return await resolveLocal(arg, full(path), tag, st.isDirectory(), opts);
      } catch (e) {
        // A refusal names the path itself, as a registry's names the repository.
        throw isCode(e, 'TRUST_REFUSED') ? e : withContext(arg, e);
      }
    },
  };
}

/**
 * `admit` is the trust policy's decision on a local package: signatures are read from the
 * layout it comes from (its `.sig` tag in the repository of `ref` when tags name one, as in an
 * export, and its referrers), and a package without one (a file, a directory built in memory)
 * has none.
 */
async function admit(arg: string, opts: ResolveOptions, digest: Digest, from?: { layout: OciLayout; ref: string; subject: Descriptor }) {
  const [{ admitLocal, loadTrustPolicy, requirementFor }, { LOCAL_SCOPE }] = await Promise.all([import('./trust.js'), import('../sign/policy.js')]);
  const policy = loadTrustPolicy(opts.env);
  const request = { path: arg, policy, digest, ...(opts.signal ? { signal: opts.signal } : {}) };
  // Under `none` (the built-in default for paths) a signature changes nothing and no decision is
  // kept: the layout's signatures are not read, which spares every local run the lookup.
  if (from === undefined || requirementFor(policy, LOCAL_SCOPE) === 'none') return admitLocal(request);
  const { storedRepository } = await import('./sign.js');
  const repository = /^(.*\/[^/:]+):[^/:]+$/.exec(from.ref)?.[1];
  return admitLocal({
    ...request,
    layout: { target: repository === undefined ? from.layout : storedRepository(from.layout, repository), subject: from.subject },
  });
}

async function resolveLocal(arg: string, path: string, tag: string | undefined, dir: boolean, opts: ResolveOptions): Promise<ResolvedPackage> {
  const name = basename(path);
  if (dir) {
    if (await statOf(join(path, LAYOUT_FILE))) {
      const layout = await OciLayout.open(path, { create: false });
      const tags = (await layout.tags()).filter((t) => !isSideTag(t));
      const ref = tag ?? (tags.includes('latest') ? 'latest' : tags.length === 1 ? tags[0] : undefined);
      if (ref === undefined) {
        throw new EbpmError('NOT_FOUND', `layout has ${tags.length === 0 ? 'no tags' : `several tags (${tags.join(', ')}) and no latest`}`, {
          hint: 'name one: ebpm run <layout>:<tag>',
        });
      }
      const subject = await layout.resolve(ref);
      const trust = await admit(arg, opts, subject.digest, { layout, ref, subject });
      return { ...(await packageFromTarget(layout, ref, { source: arg, name, ...(opts.signal ? { signal: opts.signal } : {}) })), trust };
    }
    if (tag === undefined && (await statOf(join(path, SOURCE_MANIFEST)))) {
      const { buildToMemory } = await import('./build.js');
      const { store, tag: built } = await buildToMemory(path, opts.env);
      const trust = await admit(arg, opts, (await store.resolve(built)).digest);
      return { ...(await packageFromTarget(store, built, { source: arg, name, ...(opts.signal ? { signal: opts.signal } : {}) })), trust };
    }
    throw new EbpmError('NOT_FOUND', 'neither a package directory (ebpm.json) nor an OCI layout (oci-layout)', {
      hint: 'give a package directory, an OCI layout, a .bpf.o or an eunomia package.json',
    });
  }
  const bytes = new Uint8Array(await readFile(path));
  const trust = await admit(arg, opts, sha256Digest(bytes));
  const { describeFiles, packageName, readEunomiaPackage } = await import('../package/foreign.js');
  const file = packageName(name);
  const info = { name: file, architecture: ociArch() };
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    const metadata = describeFiles(info, [{ name: `${file}.bpf.o`, bytes }]);
    return { source: arg, format: 'bpf-object', metadata, objects: new Map([[`${file}.bpf.o`, bytes]]), trust };
  }
  if (bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d) {
    const { looseModuleMetadata } = await import('./run-wasm.js');
    return { source: arg, format: 'wasm-module', metadata: looseModuleMetadata(info, `${file}.wasm`, bytes), objects: new Map(), wasm: bytes, trust };
  }
  if (path.endsWith('.json')) {
    const { metadata, object, ecli } = readEunomiaPackage(new TextDecoder().decode(bytes), basename(path));
    return { source: arg, format: 'eunomia', metadata, objects: new Map([[metadata.objects[0]!.name, object]]), trust, ecli };
  }
  throw new EbpmError('FORMAT_UNKNOWN', 'not a BPF object, a Wasm module or a package.json', {
    hint: 'give a package directory, an OCI layout, a .bpf.o, a .wasm or an eunomia package.json',
  });
}
