/**
 * The search index (registry-spec/search-index.md): one small artifact per registry namespace,
 * `<namespace>/ebpm-index:latest`, listing every package there with its latest version,
 * description and keywords. `ebpm push` keeps it current; `ebpm search` reads it with one
 * manifest request and one blob instead of walking the catalog. The format half is pure.
 */
import semver from 'semver';
import { EbpmError } from '../core/errors.js';
import { canonicalJson, decodeJson, Fields, isObject } from '../core/json.js';
import {
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  MEDIA_TYPE_IMAGE_MANIFEST,
  descriptorFor,
  manifestBytes,
  parseManifest,
  type Descriptor,
  type ImageManifest,
} from '../core/oci.js';
import { fetchAll, pushTagged, type ReadOnlyTarget, type Target } from '../content/storage.js';
import { fetchTagged, isMissing } from './resolve.js';

/** `INDEX_REPOSITORY` is the repository name of the index within a namespace (reserved: no package may use it). */
export const INDEX_REPOSITORY = 'ebpm-index';
export const INDEX_TAG = 'latest';
export const INDEX_ARTIFACT_TYPE = 'application/vnd.ebpm.search-index.v1';
export const INDEX_LAYER_TYPE = 'application/vnd.ebpm.search-index.v1+json';
/** The index blob is bounded: 16 MiB holds some 50,000 entries. */
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;

/** `IndexEntry` is one package in the index. */
export interface IndexEntry {
  /** Package name (the metadata's `name`). */
  readonly name: string;
  /** The repository within the registry (`acme/sigsnoop`). */
  readonly repository: string;
  /** The version `latest` names (else the highest pushed, when all are pre-releases). */
  readonly version: string;
  readonly description: string;
  readonly keywords: readonly string[];
}

/** `indexRepositoryOf` is where the index of `namespace` lives (`acme/ebpm-index`, or `ebpm-index` at the root). */
export function indexRepositoryOf(namespace: string | undefined): string {
  return namespace === undefined || namespace === '' ? INDEX_REPOSITORY : `${namespace}/${INDEX_REPOSITORY}`;
}

/** `namespaceOf` is a repository's namespace: everything before its last `/`. */
export function namespaceOf(repository: string): string | undefined {
  const i = repository.lastIndexOf('/');
  return i < 0 ? undefined : repository.slice(0, i);
}

/** `encodeIndex` writes entries as canonical JSON, sorted by repository (equal content, equal digest). */
export function encodeIndex(entries: readonly IndexEntry[]): Uint8Array {
  const packages = [...entries].sort((a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0));
  return new TextEncoder().encode(canonicalJson({ schemaVersion: 1, packages }));
}

/** `decodeIndex` narrows an index blob, listing every bad field in one `SEARCH_INDEX_INVALID`. */
export function decodeIndex(bytes: Uint8Array): IndexEntry[] {
  const parsed = decodeJson(bytes);
  const f = new Fields();
  if (parsed === undefined || !isObject(parsed.value)) throw invalidIndex(['(root): not a JSON object']);
  const o = parsed.value;
  if (o.schemaVersion !== 1) f.add('schemaVersion', 'not 1');
  if (!Array.isArray(o.packages)) f.add('packages', 'not an array');
  const out: IndexEntry[] = [];
  for (const [i, p] of (Array.isArray(o.packages) ? (o.packages as unknown[]) : []).entries()) {
    const path = `packages[${i}]`;
    if (!isObject(p)) {
      f.add(path, 'not an object');
      continue;
    }
    const name = f.string(p, 'name', path, true);
    const repository = f.string(p, 'repository', path, true);
    const version = f.string(p, 'version', path, true);
    const description = f.string(p, 'description', path, true);
    const keywords = Array.isArray(p.keywords) && p.keywords.every((k) => typeof k === 'string') ? (p.keywords as string[]) : undefined;
    if (keywords === undefined) f.add(`${path}.keywords`, 'not an array of strings');
    if (name !== undefined && repository !== undefined && version !== undefined && description !== undefined && keywords !== undefined) {
      out.push({ name, repository, version, description, keywords });
    }
  }
  if (f.problems.length > 0) throw invalidIndex(f.problems);
  return out;
}

function invalidIndex(fields: string[]): EbpmError {
  return new EbpmError('SEARCH_INDEX_INVALID', `search index: ${fields.slice(0, 5).join('; ')}`, {
    hint: 'the index artifact is damaged; the next `ebpm push` to this namespace rebuilds it from the registry',
    data: { fields },
  });
}

/**
 * `mergeEntry` returns `entries` with `entry` added or updated. An entry shows the version
 * `latest` names: it changes when `moveLatest` (the push moved `latest`), when the same version
 * is pushed again (`--force`), or when it only held pre-releases and a higher one arrives.
 */
export function mergeEntry(entries: readonly IndexEntry[], entry: IndexEntry, moveLatest: boolean): IndexEntry[] {
  const at = entries.findIndex((e) => e.repository === entry.repository);
  if (at < 0) return [...entries, entry];
  const old = entries[at]!;
  const onlyPre = semver.valid(old.version) === null || (semver.prerelease(old.version) !== null && semver.gt(entry.version, old.version));
  const out = [...entries];
  if (moveLatest || entry.version === old.version || onlyPre) out[at] = entry;
  return out;
}

/** `IndexArtifact` is the index as an OCI artifact: manifest, config `{}` and the one layer. */
export interface IndexArtifact {
  readonly manifest: Descriptor;
  readonly manifestBytes: Uint8Array;
  readonly layer: Descriptor;
  readonly layerBytes: Uint8Array;
}

/** `indexArtifact` packs entries as the index artifact (pure). */
export function indexArtifact(entries: readonly IndexEntry[]): IndexArtifact {
  const layerBytes = encodeIndex(entries);
  const layer = descriptorFor(INDEX_LAYER_TYPE, layerBytes);
  const config: Descriptor = { mediaType: EMPTY_DESCRIPTOR.mediaType, digest: EMPTY_DESCRIPTOR.digest, size: EMPTY_DESCRIPTOR.size };
  const m: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, artifactType: INDEX_ARTIFACT_TYPE, config, layers: [layer] };
  const bytes = manifestBytes(m);
  return { manifest: descriptorFor(MEDIA_TYPE_IMAGE_MANIFEST, bytes, { artifactType: INDEX_ARTIFACT_TYPE }), manifestBytes: bytes, layer, layerBytes };
}

/**
 * `readIndexArtifact` reads the index of a repository: one manifest GET (or resolve + fetch) and
 * one blob. Undefined when there is none.
 */
export async function readIndexArtifact(repo: ReadOnlyTarget, signal?: AbortSignal): Promise<{ digest: string; entries: IndexEntry[] } | undefined> {
  let desc: Descriptor;
  let bytes: Uint8Array;
  try {
    ({ descriptor: desc, bytes } = await fetchTagged(repo, INDEX_TAG, signal));
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  const manifest = parseManifest(bytes, desc.mediaType);
  const layer = manifest.layers.find((l) => l.mediaType === INDEX_LAYER_TYPE);
  if (manifest.artifactType !== INDEX_ARTIFACT_TYPE || layer === undefined) throw invalidIndex([`manifest ${desc.digest}: not an ebpm search index`]);
  return { digest: desc.digest, entries: decodeIndex(await fetchAll(repo, layer, MAX_INDEX_BYTES, signal)) };
}

/** `resolveIndexDigest` is the digest `latest` of the index names now (one HEAD), or undefined. */
export async function resolveIndexDigest(repo: ReadOnlyTarget, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return (await repo.resolve(INDEX_TAG, signal)).digest;
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/**
 * `writeIndexArtifact` pushes the index holding `entries` and tags it `latest`. Writers do
 * read-merge-write (push.ts `pushAll`, once per namespace and run); registries offer no
 * compare-and-swap on tags, so two machines pushing to one namespace at the same moment may
 * lose one update, which the next push of that package repairs.
 */
export async function writeIndexArtifact(repo: Target, entries: readonly IndexEntry[], signal?: AbortSignal): Promise<IndexArtifact> {
  const a = await uploadIndexBlobs(repo, entries, signal);
  await pushTagged(repo, a.manifest, [a.manifestBytes], INDEX_TAG, signal);
  return a;
}

/** `uploadIndexBlobs` pushes the config and layer of the index holding `entries`, not yet tagged. */
export async function uploadIndexBlobs(repo: Target, entries: readonly IndexEntry[], signal?: AbortSignal): Promise<IndexArtifact> {
  const a = indexArtifact(entries);
  await Promise.all([
    repo.push({ mediaType: EMPTY_DESCRIPTOR.mediaType, digest: EMPTY_DESCRIPTOR.digest, size: EMPTY_DESCRIPTOR.size }, [EMPTY_JSON], signal),
    repo.push(a.layer, [a.layerBytes], signal),
  ]);
  return a;
}
