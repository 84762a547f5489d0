import { parseDigest } from '../core/digest.js';
import { isEbpmError } from '../core/errors.js';
import { isIndexType, manifestBytes, MEDIA_TYPE_IMAGE_INDEX, parseIndex, type Descriptor, type ImageIndex } from '../core/oci.js';
import { referrerDescriptor, type GraphNode } from '../content/graph.js';
import { repositoryScope } from './challenge.js';
import { readCapped } from './http.js';
import { getManifest, MANIFEST_LIMIT_HINT, manifestLimit, putManifest, type RepoContext } from './manifests.js';
import { paginate, type PageOptions } from './pagination.js';

/**
 * OCI 1.1 referrers (distribution-spec v1.1.1 §"Listing Referrers", §"Referrers Tag Schema").
 * distribution 2.8.2 has no referrers route (`404 page not found`) and never answers
 * `OCI-Subject`, so there the client keeps the index itself under the tag `sha256-<hex>`:
 * reading it to list, and updating it whenever a manifest with a `subject` is pushed or deleted.
 */

/**
 * `ReferrersApi` is whether a registry has the referrers API, learnt once per registry and
 * shared by its repositories: a registry that has it must not answer a listing with 404
 * (v1.1.1 §"Listing Referrers"), so a 404 in one repository says it for all of them.
 */
export interface ReferrersApi {
  supported: boolean | undefined;
}

/** `ReferrersState` is per repository: its registry's `ReferrersApi` and per-tag locks. */
export interface ReferrersState {
  readonly api: ReferrersApi;
  readonly locks: Map<string, Promise<void>>;
}

/** `referrersTag` is the fallback tag of a subject: `<alg>-<encoded>`, encoded cut to 64 characters (v1.1.1). */
export function referrersTag(subject: string): string {
  const { algorithm, encoded } = parseDigest(subject);
  return `${algorithm}-${encoded.slice(0, 64)}`;
}

const emptyIndex = (): ImageIndex => ({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [] });

/**
 * `listReferrers` lists the manifests whose subject is `subject`: through the API when the
 * registry has it, else from the tag schema ("If the referrers API returns a 404, the client
 * MUST fallback"; an absent or invalid fallback index means no referrers). The `artifactType`
 * filter is applied here too, since a registry may ignore it (no `OCI-Filters-Applied`).
 */
export async function listReferrers(
  ctx: RepoContext,
  state: ReferrersState,
  subject: Descriptor,
  artifactType: string | undefined,
  opts: PageOptions,
  signal?: AbortSignal,
): Promise<Descriptor[]> {
  let found: Descriptor[] | undefined;
  if (state.api.supported !== false) found = await viaApi(ctx, state, subject, artifactType, opts, signal);
  found ??= (await readFallback(ctx, subject.digest, signal)).manifests;
  return artifactType === undefined ? found : found.filter((d) => d.artifactType === artifactType);
}

async function viaApi(
  ctx: RepoContext,
  state: ReferrersState,
  subject: Descriptor,
  artifactType: string | undefined,
  opts: PageOptions,
  signal?: AbortSignal,
): Promise<Descriptor[] | undefined> {
  const url = ctx.url(`referrers/${subject.digest}`);
  if (artifactType !== undefined) url.searchParams.set('artifactType', artifactType);
  const out: Descriptor[] = [];
  try {
    await paginate(
      ctx.send,
      url,
      { scopes: [repositoryScope(ctx.name, 'pull')], headers: { accept: MEDIA_TYPE_IMAGE_INDEX }, signal },
      async (res) => {
        const page = parseIndex(
          await readCapped(res, manifestLimit(ctx), 'referrers page', 'MANIFEST_TOO_LARGE', MANIFEST_LIMIT_HINT),
          MEDIA_TYPE_IMAGE_INDEX,
        ).manifests;
        out.push(...page);
        return page.length;
      },
      opts,
    );
  } catch (e) {
    const status = isEbpmError(e) ? e.data?.status : undefined;
    if (status !== 404 && status !== 400) throw e;
    state.api.supported = false;
    return undefined;
  }
  state.api.supported = true;
  return out;
}

/** `readFallback` reads the tag-schema index of `subject`; absent or invalid reads as empty. */
async function readFallback(ctx: RepoContext, subject: string, signal?: AbortSignal): Promise<ImageIndex> {
  try {
    const { descriptor, bytes } = await getManifest(ctx, referrersTag(subject), signal);
    if (!isIndexType(descriptor.mediaType)) return emptyIndex();
    return parseIndex(bytes, descriptor.mediaType);
  } catch (e) {
    if (isEbpmError(e) && ['NOT_FOUND', 'MANIFEST_INVALID'].includes(e.code)) return emptyIndex();
    throw e;
  }
}

/** `locked` runs `fn` after every earlier update of the same fallback tag in this process. */
async function locked(state: ReferrersState, tag: string, fn: () => Promise<void>): Promise<void> {
  const before = state.locks.get(tag) ?? Promise.resolve();
  const mine = before.then(fn, fn);
  const tail = mine.catch(() => undefined);
  state.locks.set(tag, tail);
  try {
    await mine;
  } finally {
    if (state.locks.get(tag) === tail) state.locks.delete(tag);
  }
}

/**
 * `updateFallback` adds (or removes) `desc` in its subject's fallback index, as v1.1.1 §"Pushing
 * Manifests with Subject" asks of clients whose push got no `OCI-Subject`: no duplicates, the
 * descriptor carries `artifactType` (else the config media type) and the manifest's annotations.
 * 2.8.2 has no conditional PUT, so concurrent writers in other processes can still race; updates
 * from this process are serialised.
 */
export async function updateFallback(
  ctx: RepoContext,
  state: ReferrersState,
  op: 'add' | 'remove',
  desc: Descriptor,
  node: GraphNode & { subject: Descriptor },
  signal?: AbortSignal,
): Promise<void> {
  const tag = referrersTag(node.subject.digest);
  await locked(state, tag, async () => {
    const index = await readFallback(ctx, node.subject.digest, signal);
    const has = index.manifests.some((d) => d.digest === desc.digest);
    if (op === 'add' ? has : !has) return;
    const manifests = op === 'add' ? [...index.manifests, referrerDescriptor(desc, node)] : index.manifests.filter((d) => d.digest !== desc.digest);
    await putManifest(ctx, tag, MEDIA_TYPE_IMAGE_INDEX, manifestBytes({ ...index, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests }), signal);
  });
}
