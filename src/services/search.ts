/**
 * `ebpm search <term>`: find packages by name, description and keywords across the configured
 * registries. Per registry location it reads the search index (search-index.ts), cached under
 * the cache directory by location:
 * - warm (checked less than `ttlMs` ago): no network at all;
 * - stale: one HEAD of the index tag, and the catalog beside it; an unchanged digest and
 *   catalog keep the cached entries;
 * - cold or changed: one manifest GET and one blob GET, and the catalog beside them.
 * A registry without an index is walked instead (catalog, then tags and manifest and config per
 * repository, `WALK_CONCURRENCY` at a time) and the result cached the same way. Beside an index,
 * the catalog names what it does not cover, in nested namespaces (`ns/team/tool`): their own
 * indexes are read, and repositories no index names are walked; a registry without a catalog
 * answers from the index alone. A location that fails leaves the others' hits standing; an
 * unreachable one answers from its cache, however old. Search only reads the registry: the
 * index is written by push (push.ts), which also rebuilds a damaged one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostPlatform } from '../core/arch.js';
import { formatLocation, type RegistryLocation } from '../core/config.js';
import { EbpmError, isCode, withContext } from '../core/errors.js';
import { decodeJson, isObject } from '../core/json.js';
import { ANNOTATION_DESCRIPTION, ANNOTATION_VERSION, MAX_MANIFEST_BYTES, isManifestType, parseManifest, type ImageManifest } from '../core/oci.js';
import { cacheDir } from '../core/paths.js';
import { pickVersion, tagToVersion } from '../core/reference.js';
import { fetchAll } from '../content/storage.js';
import { MAX_CONFIG_BYTES, isEbpmManifest, parseMetadataBlob } from '../package/artifact.js';
import type { Context, RegistryHost } from './context.js';
import { isMissing, isOffline, selectPlatform } from './resolve.js';
import { decodeIndex, INDEX_REPOSITORY, indexRepositoryOf, readIndexArtifact, resolveIndexDigest, type IndexEntry } from './search-index.js';

/** How long a cached index is used without asking the registry (a push shows up within this). */
export const DEFAULT_SEARCH_TTL_MS = 60_000;
/** Repositories walked at once when a registry has no index. */
export const WALK_CONCURRENCY = 8;

export interface SearchRequest {
  readonly term: string;
  /** Ignore the cache's freshness and ask each registry (default false). */
  readonly refresh?: boolean;
  readonly ttlMs?: number;
  readonly signal?: AbortSignal;
  /** Injected clock for tests. */
  readonly now?: () => number;
}

/** `SearchHit` is one package found. */
export interface SearchHit {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly keywords: readonly string[];
  /** `host/repository`: what to pull. */
  readonly reference: string;
}

/**
 * How each location was answered: from the cache alone, by checking the index, by reading it, by
 * walking, or (`stale`) from the cache because the registry could not be reached.
 */
export type SearchSource = 'cache' | 'checked' | 'index' | 'walk' | 'stale';

/** `SearchFailure` is a location that failed: its packages are left out, or come from its cache when `cachedAt` is set. */
export interface SearchFailure {
  readonly location: string;
  readonly code: string;
  /** One line: `search <location>: …`. */
  readonly message: string;
  /** When the cached index that answered instead was last checked (ISO 8601). */
  readonly cachedAt?: string;
}

export interface SearchResult {
  readonly hits: readonly SearchHit[];
  readonly sources: readonly { readonly location: string; readonly source: SearchSource; readonly packages: number }[];
  readonly failed: readonly SearchFailure[];
}

/**
 * `search` searches every location of the settings in order. A location that fails is reported
 * in `failed` and the others still answer; only when none answered does it throw (the one
 * location's error, or all of them in one line).
 */
export async function search(ctx: Context, req: SearchRequest): Promise<SearchResult> {
  const hits: SearchHit[] = [];
  const sources: { location: string; source: SearchSource; packages: number }[] = [];
  const failed: SearchFailure[] = [];
  const errors: EbpmError[] = [];
  for (const loc of ctx.settings.search) {
    const where = formatLocation(loc);
    const file = cachePath(ctx, loc);
    const cached = await readCache(file, where);
    let found: { entries: IndexEntry[]; source: SearchSource };
    try {
      found = await entriesOf(ctx, loc, req, file, cached);
    } catch (e) {
      const err = withContext(`search ${where}`, e);
      if (err.code === 'INTERNAL') throw err;
      const stale = cached !== undefined && isOffline(e);
      failed.push({ location: where, code: err.code, message: err.message, ...(stale ? { cachedAt: new Date(cached.checkedAt).toISOString() } : {}) });
      if (!stale) {
        errors.push(err);
        continue;
      }
      found = { entries: cached.packages, source: 'stale' };
    }
    sources.push({ location: where, source: found.source, packages: found.entries.length });
    for (const e of matchEntries(found.entries, req.term)) {
      hits.push({ name: e.name, version: e.version, description: e.description, keywords: e.keywords, reference: `${loc.host}/${e.repository}` });
    }
  }
  if (sources.length === 0 && errors.length > 0) {
    if (errors.length === 1) throw errors[0];
    throw new EbpmError(errors[0]!.code, errors.map((e) => e.message).join('; '), { hint: errors[0]!.hint, data: { failed } });
  }
  return { hits, sources, failed };
}

/**
 * `matchEntries` keeps the entries whose name, description or a keyword contains `term`
 * (case-insensitive; an empty term matches all), best first: exact name, name prefix, name
 * substring, keyword, description; ties by name.
 */
export function matchEntries(entries: readonly IndexEntry[], term: string): IndexEntry[] {
  const t = term.trim().toLowerCase();
  const rank = (e: IndexEntry): number => {
    const name = e.name.toLowerCase();
    if (t === '' || name === t) return 0;
    if (name.startsWith(t)) return 1;
    if (name.includes(t)) return 2;
    if (e.keywords.some((k) => k.toLowerCase().includes(t))) return 3;
    if (e.description.toLowerCase().includes(t)) return 4;
    return 5;
  };
  return entries
    .map((e) => ({ e, r: rank(e) }))
    .filter((x) => x.r < 5)
    .sort((a, b) => a.r - b.r || (a.e.name < b.e.name ? -1 : a.e.name > b.e.name ? 1 : a.e.repository < b.e.repository ? -1 : 1))
    .map((x) => x.e);
}

interface CacheFile {
  readonly location: string;
  /** The index manifest's digest, or `walk` for a walked registry. */
  readonly digest: string;
  readonly checkedAt: number;
  readonly packages: IndexEntry[];
}

async function entriesOf(
  ctx: Context,
  loc: RegistryLocation,
  req: SearchRequest,
  file: string,
  cached: CacheFile | undefined,
): Promise<{ entries: IndexEntry[]; source: SearchSource }> {
  const now = req.now ?? Date.now;
  const registry = await ctx.registry(loc.host);
  const repo = registry.repository(indexRepositoryOf(loc.namespace));
  if (cached !== undefined && !req.refresh && now() - cached.checkedAt < (req.ttlMs ?? DEFAULT_SEARCH_TTL_MS)) {
    return { entries: cached.packages, source: 'cache' };
  }
  if (cached !== undefined && cached.digest !== 'walk') {
    const [digest, repos] = await besideCatalog(resolveIndexDigest(repo, req.signal), registry, loc, req.signal);
    if (digest !== undefined && cacheKey(digest, repos) === cached.digest) {
      await writeCache(file, { ...cached, checkedAt: now() });
      return { entries: cached.packages, source: 'checked' };
    }
  }
  const [index, repos] = await besideCatalog(readIndexArtifact(repo, req.signal), registry, loc, req.signal);
  if (index !== undefined) {
    const beside = repos?.filter((r) => r !== indexRepositoryOf(loc.namespace));
    const entries = [...index.entries, ...(beside === undefined ? [] : await uncovered(registry, beside, index.entries, req.signal))];
    await writeCache(file, { location: formatLocation(loc), digest: cacheKey(index.digest, repos), checkedAt: now(), packages: entries });
    return { entries, source: 'index' };
  }
  const entries =
    repos === undefined
      ? await walk(registry, loc, req.signal)
      : await walkRepositories(
          registry,
          repos.filter((r) => !isIndexRepository(r)),
          req.signal,
        );
  await writeCache(file, { location: formatLocation(loc), digest: 'walk', checkedAt: now(), packages: entries });
  return { entries, source: 'walk' };
}

/** `besideCatalog` awaits `first` (whose failure is the one reported) and the catalog under `loc`, asked for at the same time. */
async function besideCatalog<T>(first: Promise<T>, registry: RegistryHost, loc: RegistryLocation, signal?: AbortSignal): Promise<[T, string[] | undefined]> {
  const repos = catalogUnder(registry, loc, signal);
  repos.catch(() => undefined);
  return [await first, await repos];
}

/**
 * `walk` builds the entries of a location without an index: the catalog's repositories under
 * the namespace, each resolved to `latest` or its highest stable version, read from the
 * manifest's annotations and the package config. Repositories that are not ebpm packages, or
 * have no version, are left out.
 */
export async function walk(registry: RegistryHost, loc: RegistryLocation, signal?: AbortSignal): Promise<IndexEntry[]> {
  return walkRepositories(
    registry,
    under(loc, await registry.catalog(signal)).filter((r) => !isIndexRepository(r)),
    signal,
  );
}

/** `under` keeps the repositories in `loc`'s namespace, nested ones too. */
function under(loc: RegistryLocation, repos: readonly string[]): string[] {
  const prefix = loc.namespace === undefined ? '' : `${loc.namespace}/`;
  return repos.filter((r) => r.startsWith(prefix));
}

const isIndexRepository = (r: string) => r.split('/').pop() === INDEX_REPOSITORY;

/**
 * `catalogUnder` is the catalog's repositories in `loc`'s namespace, or undefined where the
 * registry keeps its catalog to itself (ghcr.io, Docker Hub: unsupported or denied), in which
 * case the index alone answers. Being unreachable is no such case.
 */
async function catalogUnder(registry: RegistryHost, loc: RegistryLocation, signal?: AbortSignal): Promise<string[] | undefined> {
  try {
    return under(loc, await registry.catalog(signal));
  } catch (e) {
    if (isOffline(e) || isCode(e, 'INTERNAL') || signal?.aborted) throw e;
    return undefined;
  }
}

/** `cacheKey` ties a cached answer to the index it read and the repositories the catalog listed beside it. */
function cacheKey(digest: string, repos: readonly string[] | undefined): string {
  return repos === undefined ? digest : `${digest} ${createHash('sha256').update(repos.join('\n')).digest('hex').slice(0, 32)}`;
}

/**
 * `uncovered` finds the packages of `repos` that `covered` (the location's index) does not name:
 * those in nested namespaces' own indexes (read; a damaged one is walked instead), and the rest walked.
 */
async function uncovered(registry: RegistryHost, repos: readonly string[], covered: readonly IndexEntry[], signal?: AbortSignal): Promise<IndexEntry[]> {
  const found: IndexEntry[] = [];
  const listed = new Set(repos);
  const named = new Set(covered.map((e) => e.repository));
  for (const r of repos.filter((r) => isIndexRepository(r))) {
    const nested = await readIndexArtifact(registry.repository(r), signal).catch((e: unknown) => {
      if (isOffline(e) || isCode(e, 'INTERNAL')) throw e;
      return undefined;
    });
    for (const e of nested?.entries ?? []) {
      if (named.has(e.repository) || !listed.has(e.repository)) continue;
      named.add(e.repository);
      found.push(e);
    }
  }
  const rest = repos.filter((r) => !isIndexRepository(r) && !named.has(r));
  return [...found, ...(await walkRepositories(registry, rest, signal, true))];
}

/**
 * `walkRepositories` reads the entry of each repository (`WALK_CONCURRENCY` at a time), leaving
 * out those that are no package; `lenient` (beside an index, which has answered) leaves out
 * those it may not read too.
 */
async function walkRepositories(registry: RegistryHost, repos: readonly string[], signal?: AbortSignal, lenient = false): Promise<IndexEntry[]> {
  const out: (IndexEntry | undefined)[] = new Array(repos.length);
  let next = 0;
  const worker = async () => {
    while (next < repos.length) {
      const i = next++;
      out[i] = await entryOf(registry, repos[i]!, signal).catch((e: unknown) => {
        if (!lenient || isOffline(e) || isCode(e, 'INTERNAL')) throw e;
        return undefined;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(WALK_CONCURRENCY, repos.length) }, worker));
  return out.filter((e): e is IndexEntry => e !== undefined);
}

async function entryOf(registry: RegistryHost, repository: string, signal?: AbortSignal): Promise<IndexEntry | undefined> {
  const repo = registry.repository(repository);
  let tag: string | undefined;
  let manifest: ImageManifest;
  // A repository or tag gone since the listing is left out; a package missing its config is not.
  try {
    tag = pickVersion(await repo.tags(signal), undefined);
    if (tag === undefined) return undefined;
    // A multi-platform package is described by one of its platforms' manifests (they share name and version).
    const { descriptor: desc } = await selectPlatform(repo, await repo.resolve(tag, signal), hostPlatform(), { orFirst: true, ...(signal ? { signal } : {}) });
    if (!isManifestType(desc.mediaType)) return undefined;
    manifest = parseManifest(await fetchAll(repo, desc, MAX_MANIFEST_BYTES, signal), desc.mediaType);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  if (!isEbpmManifest(manifest)) return undefined;
  const meta = parseMetadataBlob(await fetchAll(repo, manifest.config, MAX_CONFIG_BYTES, signal));
  const version = manifest.annotations?.[ANNOTATION_VERSION] ?? tagToVersion(tag) ?? meta.version;
  return {
    name: meta.name,
    repository,
    version,
    description: manifest.annotations?.[ANNOTATION_DESCRIPTION] ?? meta.description ?? '',
    keywords: meta.keywords,
  };
}

function cachePath(ctx: Context, loc: RegistryLocation): string {
  const key = createHash('sha256').update(formatLocation(loc)).digest('hex').slice(0, 32);
  return join(cacheDir(ctx.env), 'search', `${key}.json`);
}

/** A cache file that is missing, unreadable or for another location is no cache. */
async function readCache(file: string, location: string): Promise<CacheFile | undefined> {
  const bytes = await readFile(file).catch(() => undefined);
  const parsed = bytes === undefined ? undefined : decodeJson(bytes);
  if (parsed === undefined || !isObject(parsed.value)) return undefined;
  const v = parsed.value;
  if (v.location !== location || typeof v.digest !== 'string' || typeof v.checkedAt !== 'number') return undefined;
  try {
    return {
      location,
      digest: v.digest,
      checkedAt: v.checkedAt,
      packages: decodeIndex(new TextEncoder().encode(JSON.stringify({ schemaVersion: 1, packages: v.packages }))),
    };
  } catch {
    return undefined;
  }
}

async function writeCache(file: string, c: CacheFile): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(c));
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
