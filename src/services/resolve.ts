/**
 * Reference resolution: a user's reference (`sigsnoop@1.2`, `ghcr.io/acme/x:1.0.0`,
 * `name@sha256:…`) becomes a repository and the descriptor of the manifest it names. Pull uses
 * it, and so do `ebpm run` (through the pull service) and signing. Ranges follow npm semver
 * (`pickVersion`): the highest matching version tag, pre-releases only when the range names
 * one or `includePrerelease` is set; a bare name means `latest`, else the highest stable version.
 */
import { EbpmError, isCode, withContext } from '../core/errors.js';
import { wrongPlatform } from '../core/arch.js';
import { MAX_MANIFEST_BYTES, isIndexType, parseIndex, type Descriptor, type Platform } from '../core/oci.js';
import { compareVersionTags, formatReference, LATEST_RELEASE, parseReference, pickVersion, tagToVersion, type Reference } from '../core/reference.js';
import { fetchAll, type Fetcher, type ReadOnlyTarget, type TagLister } from '../content/storage.js';
import type { OciLayout } from '../store/layout.js';
import type { Context, RemoteRepository } from './context.js';

/** `Resolved` is a reference pinned to one manifest. */
export interface Resolved {
  /** The reference as parsed, defaults applied. */
  readonly ref: Reference;
  /** The tag chosen (`1.2.0` for `@1.2`), undefined when only a digest was given. */
  readonly tag: string | undefined;
  readonly descriptor: Descriptor;
  /** The name the local store keeps it under: `host/repo:tag`, or `host/repo@digest`. */
  readonly storeRef: string;
}

export interface ResolveOptions {
  readonly includePrerelease?: boolean;
  readonly signal?: AbortSignal;
}

/** `parseUserReference` parses `input` with the context's default registry and namespace. */
export function parseUserReference(ctx: Context, input: string): Reference {
  const d = ctx.settings.defaults;
  return parseReference(input, d.namespace === undefined ? { registry: d.host } : { registry: d.host, namespace: d.namespace });
}

/** `storeRefOf` is the store's name for `ref` pinned to `tag` (or to the digest when there is no tag). */
export function storeRefOf(ref: Reference, tag: string | undefined, digest: string): string {
  return tag === undefined ? `${ref.registry}/${ref.repository}@${digest}` : `${ref.registry}/${ref.repository}:${tag}`;
}

/** `isMissing` is true for "no such tag, digest, blob or repository", remote or local (`NOT_FOUND` everywhere). */
export function isMissing(e: unknown): boolean {
  return isCode(e, 'NOT_FOUND');
}

/** `isOffline` is true for failures to reach a registry at all. */
export function isOffline(e: unknown): boolean {
  return isCode(e, 'REGISTRY_UNREACHABLE') || isCode(e, 'TIMEOUT');
}

/** `openRepository` is the repository `ref` names. */
export async function openRepository(ctx: Context, ref: Reference): Promise<RemoteRepository> {
  return (await ctx.registry(ref.registry)).repository(ref.repository);
}

/** A repository that can GET a manifest by tag in one request (the remote `Repository`). */
interface FetchesReference {
  fetchReference(ref: string, signal?: AbortSignal): Promise<{ descriptor: Descriptor; bytes: Uint8Array }>;
}
const fetchesReference = (t: object): t is FetchesReference => typeof (t as Partial<FetchesReference>).fetchReference === 'function';

/** `fetchTagged` reads the manifest `ref` names: one GET where the target can, else resolve and fetch (at most `MAX_MANIFEST_BYTES`). */
export async function fetchTagged(target: ReadOnlyTarget, ref: string, signal?: AbortSignal): Promise<{ descriptor: Descriptor; bytes: Uint8Array }> {
  if (fetchesReference(target)) return target.fetchReference(ref, signal);
  const descriptor = await target.resolve(ref, signal);
  return { descriptor, bytes: await fetchAll(target, descriptor, MAX_MANIFEST_BYTES, signal) };
}

/** How many versions a `VERSION_NOT_FOUND` hint lists: the highest ones. */
const HINT_VERSIONS = 10;

/**
 * `pinTag` picks the tag to use in a repository whose tags are `tags`: the explicit tag, or the
 * version `pickVersion` chooses. None fitting is `VERSION_NOT_FOUND`, listing the highest versions there are in semver order.
 */
export function pinTag(ref: Reference, tags: readonly string[], opts: ResolveOptions = {}): string {
  if (ref.tag !== undefined) return ref.tag;
  const tag = pickVersion(tags, ref.range, { includePrerelease: opts.includePrerelease ?? false });
  if (tag !== undefined) return tag;
  const versions = tags.filter((t) => tagToVersion(t) !== undefined).sort(compareVersionTags);
  const release = ref.range === LATEST_RELEASE;
  const what = release
    ? 'no release for @latest'
    : ref.range !== undefined
      ? `no version matches ${ref.range}`
      : `no latest tag and no ${opts.includePrerelease ? '' : 'stable '}version`;
  const shown = versions.slice(-HINT_VERSIONS);
  throw new EbpmError('VERSION_NOT_FOUND', `${ref.registry}/${ref.repository}: ${what}`, {
    hint:
      versions.length === 0
        ? 'the repository has no version tags; name a tag with name:tag'
        : `versions there${shown.length < versions.length ? ` (the highest ${shown.length} of ${versions.length})` : ''}: ${shown.join(', ')}${release ? ' (@latest takes no pre-release; name one)' : opts.includePrerelease ? '' : ' (pre-releases need --prerelease)'}`,
    data: { repository: ref.repository, range: ref.range, versions },
  });
}

/**
 * `resolveIn` pins `ref` in a target that can list its tags (a registry repository), keyed by
 * bare tags. A digest is resolved as it is; a tag directly; a bare name as `latest` when that
 * tag exists (one request, as `pickVersion` would choose it), else, like a range, through the tag list.
 */
export async function resolveIn(target: ReadOnlyTarget & TagLister, ref: Reference, opts: ResolveOptions = {}): Promise<Resolved> {
  if (ref.digest !== undefined) {
    const descriptor = await target.resolve(ref.digest, opts.signal);
    return { ref, tag: ref.tag, descriptor, storeRef: storeRefOf(ref, ref.tag, descriptor.digest) };
  }
  if (ref.tag === undefined && ref.range === undefined) {
    try {
      const descriptor = await target.resolve('latest', opts.signal);
      return { ref, tag: 'latest', descriptor, storeRef: storeRefOf(ref, 'latest', descriptor.digest) };
    } catch (e) {
      // No `latest`, or no such repository: the tag list decides, and names what is missing.
      if (!isMissing(e)) throw e;
    }
  }
  const tag = ref.tag ?? pinTag(ref, await target.tags(opts.signal), opts);
  const descriptor = await target.resolve(tag, opts.signal);
  return { ref, tag, descriptor, storeRef: storeRefOf(ref, tag, descriptor.digest) };
}

/** `resolveRemote` resolves `ref` against its registry. Errors read `resolve <ref>: …`. */
export async function resolveRemote(ctx: Context, ref: Reference, opts: ResolveOptions = {}): Promise<Resolved> {
  try {
    return await resolveIn(await openRepository(ctx, ref), ref, opts);
  } catch (e) {
    throw withContext(`resolve ${formatReference(ref)}`, e);
  }
}

/**
 * `resolveStored` resolves `ref` among what a store holds (offline): its refs are
 * `host/repo:tag`, so the tags of `ref`'s repository are those refs with the prefix cut off.
 * Returns undefined when nothing stored fits.
 */
export async function resolveStored(store: Pick<OciLayout, 'tagged'>, ref: Reference, opts: ResolveOptions = {}): Promise<Resolved | undefined> {
  const prefix = `${ref.registry}/${ref.repository}`;
  // Tags and what each names, from one read of the store's index.
  const held = new Map((await store.tagged()).map((t) => [t.tag, t.descriptor]));
  const all = [...held.keys()].sort();
  if (ref.digest !== undefined) {
    const named = ref.tag !== undefined ? `${prefix}:${ref.tag}` : `${prefix}@${ref.digest}`;
    const byName = held.get(named);
    if (byName !== undefined && byName.digest === ref.digest) return { ref, tag: ref.tag, descriptor: plain(byName), storeRef: named };
    // Any stored tag of this repository pinned to that digest will do.
    const pinned = all.find((r) => (r.startsWith(`${prefix}:`) || r.startsWith(`${prefix}@`)) && held.get(r)!.digest === ref.digest);
    return pinned === undefined ? undefined : { ref, tag: ref.tag, descriptor: plain(held.get(pinned)!), storeRef: pinned };
  }
  const tags = all.filter((r) => r.startsWith(`${prefix}:`)).map((r) => r.slice(prefix.length + 1));
  let tag: string;
  try {
    tag = pinTag(ref, tags, opts);
  } catch (e) {
    if (isCode(e, 'VERSION_NOT_FOUND')) return undefined;
    throw e;
  }
  const storeRef = `${prefix}:${tag}`;
  const descriptor = held.get(storeRef);
  return descriptor === undefined ? undefined : { ref, tag, descriptor: plain(descriptor), storeRef };
}

/** `plain` drops an index entry's annotations (ref name, pull time): what the registry would answer. */
function plain(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.artifactType !== undefined) out.artifactType = d.artifactType;
  return out;
}

/** `PlatformChoice` is the manifest chosen for a platform, and what the artifact offers. */
export interface PlatformChoice {
  /** The manifest to read: the root itself, or the index's entry for the platform. */
  readonly descriptor: Descriptor;
  /** The index's manifests that name a platform, in its order; empty for a plain manifest. */
  readonly platforms: readonly (Descriptor & { readonly platform: Platform })[];
}

/**
 * `selectPlatform` is the one place a platform is chosen (pull, run, inspect). A plain
 * manifest is its own choice (its metadata's `architecture` is checked before it runs,
 * machine.ts). An index gives the manifest whose `platform` has `want`'s os and architecture;
 * an index none of whose entries names a platform (a foreign artifact) gives its first. An index
 * without `want` is `PACKAGE_WRONG_ARCH`, naming the platforms it has, unless `orFirst` (inspect,
 * which shows what there is) takes its first platform instead.
 */
export async function selectPlatform(
  target: Fetcher,
  root: Descriptor,
  want: Platform,
  opts: { readonly orFirst?: boolean; readonly signal?: AbortSignal } = {},
): Promise<PlatformChoice> {
  if (!isIndexType(root.mediaType)) return { descriptor: root, platforms: [] };
  const index = parseIndex(await fetchAll(target, root, MAX_MANIFEST_BYTES, opts.signal), root.mediaType);
  const platforms = index.manifests.flatMap((m) => (m.platform === undefined ? [] : [{ ...m, platform: m.platform }]));
  const first = index.manifests[0];
  if (first === undefined) throw new EbpmError('NOT_FOUND', `${root.digest}: the index lists no manifest`, { hint: 'the artifact is empty' });
  if (platforms.length === 0) return { descriptor: first, platforms };
  const pick = platforms.find((m) => m.platform.os === want.os && m.platform.architecture === want.architecture) ?? (opts.orFirst ? platforms[0] : undefined);
  if (pick !== undefined) return { descriptor: pick, platforms };
  throw wrongPlatform(
    want,
    platforms.map((m) => m.platform),
  );
}
