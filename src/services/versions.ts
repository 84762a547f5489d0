/**
 * `ebpm versions <name>`: what a repository holds, from its tag list (as `oras repo tags`, with
 * npm's `npm view <pkg> versions` order): version tags by semver, newest first, then the other
 * tags by name. Each row reads its manifest once (`fetchTagged`) for its digest and creation
 * time; cosign's and the referrers fallback's tags name no package and are left out.
 */
import { EbpmError, withContext } from '../core/errors.js';
import {
  ANNOTATION_CREATED,
  ANNOTATION_VERSION,
  isIndexType,
  isManifestType,
  MEDIA_TYPE_IMAGE_CONFIG,
  parseIndex,
  parseManifest,
  type Descriptor,
} from '../core/oci.js';
import { decodeJson, isObject } from '../core/json.js';
import { compareVersionTags, formatReference, tagToVersion } from '../core/reference.js';
import { fetchAll, type ReadOnlyTarget } from '../content/storage.js';
import { MAX_CONFIG_BYTES } from '../package/artifact.js';
import { isSideTag } from '../sign/payload.js';
import type { Context } from './context.js';
import { fetchTagged, isMissing, openRepository, parseUserReference } from './resolve.js';
import { settleAll } from './transfer.js';

/** Manifests read at once. */
const READ_CONCURRENCY = 8;
/** Docker's image config, which says when the image was made as OCI's does (`created`). */
const DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** `VersionRow` is one tag of the repository. */
export interface VersionRow {
  /** A version tag, or another tag (`latest`, `1.2`, `nightly`). */
  readonly kind: 'version' | 'tag';
  readonly tag: string;
  /** The version the tag is (`1.2.0_b.7` → `1.2.0+b.7`), else the version its manifest names, else null. */
  readonly version: string | null;
  readonly digest: string;
  /** When the manifest (annotation `org.opencontainers.image.created`) or its image config says it was made, else null. */
  readonly created: string | null;
  /** For a version tag: the tags that are no version (`1.2`, `latest`) naming the same manifest. */
  readonly tags: readonly string[];
}

export interface VersionsResult {
  /** `host/repository` */
  readonly repository: string;
  readonly versions: readonly VersionRow[];
}

/** `listVersions` lists the tags of the repository `input` names; errors read `versions <input>: …`. */
export async function listVersions(ctx: Context, input: string, signal?: AbortSignal): Promise<VersionsResult> {
  try {
    const ref = parseUserReference(ctx, input);
    if (ref.tag !== undefined || ref.digest !== undefined || ref.range !== undefined) {
      throw new EbpmError('USAGE', 'give a package name, not a tag, version or digest', {
        hint: `ebpm versions ${formatReference({ registry: ref.registry, repository: ref.repository })}`,
      });
    }
    const repo = await openRepository(ctx, ref);
    const tags = (await repo.tags(signal)).filter((t) => !isSideTag(t));
    const versionTags = tags.filter((t) => tagToVersion(t) !== undefined).sort((a, b) => compareVersionTags(b, a));
    const others = tags.filter((t) => tagToVersion(t) === undefined);
    const read = await settleAll([...versionTags, ...others], READ_CONCURRENCY, (tag) => describeTag(repo, tag, signal));
    const described = read.flatMap((o) => {
      if (o.status === 'fulfilled') return [o.value];
      // A tag deleted since the listing is left out.
      if (isMissing(o.reason)) return [];
      throw o.reason;
    });
    const rows = described.map((d): VersionRow => {
      const version = tagToVersion(d.tag);
      const aliases = version === undefined ? [] : described.filter((o) => tagToVersion(o.tag) === undefined && o.digest === d.digest).map((o) => o.tag);
      return {
        kind: version === undefined ? 'tag' : 'version',
        tag: d.tag,
        version: version ?? d.version,
        digest: d.digest,
        created: d.created,
        tags: aliases,
      };
    });
    return { repository: `${ref.registry}/${ref.repository}`, versions: rows };
  } catch (e) {
    throw withContext(`versions ${input}`, e);
  }
}

interface Described {
  readonly tag: string;
  readonly digest: string;
  readonly version: string | null;
  readonly created: string | null;
}

/** `describeTag` reads the manifest (or index) `tag` names: its version and creation annotations, else its image config's `created`. */
async function describeTag(repo: ReadOnlyTarget, tag: string, signal?: AbortSignal): Promise<Described> {
  const { descriptor, bytes } = await fetchTagged(repo, tag, signal);
  let annotations: Readonly<Record<string, string>> | undefined;
  let config: Descriptor | undefined;
  if (isIndexType(descriptor.mediaType)) annotations = parseIndex(bytes, descriptor.mediaType).annotations;
  else if (isManifestType(descriptor.mediaType)) {
    const m = parseManifest(bytes, descriptor.mediaType);
    annotations = m.annotations;
    config = m.config;
  }
  const created = annotations?.[ANNOTATION_CREATED] ?? (config === undefined ? undefined : await configCreated(repo, config, signal));
  return { tag, digest: descriptor.digest, version: annotations?.[ANNOTATION_VERSION] ?? null, created: created ?? null };
}

/** `configCreated` is the `created` time of an OCI or Docker image config (other configs, such as ebpm's, say nothing of it). */
async function configCreated(repo: ReadOnlyTarget, config: Descriptor, signal?: AbortSignal): Promise<string | undefined> {
  if (config.mediaType !== MEDIA_TYPE_IMAGE_CONFIG && config.mediaType !== DOCKER_IMAGE_CONFIG) return undefined;
  const parsed = decodeJson(await fetchAll(repo, config, MAX_CONFIG_BYTES, signal));
  const created = parsed !== undefined && isObject(parsed.value) ? parsed.value.created : undefined;
  return typeof created === 'string' ? created : undefined;
}
