import { isCode, type EbpmError } from '../core/errors.js';
import type { Descriptor } from '../core/oci.js';
import { isGraphNode, parseNode } from '../content/graph.js';
import type { Content, Deleter, Mounter, ReferencePusher, ReferrerLister, Target, TagLister } from '../content/storage.js';
import { fetchAll } from '../content/storage.js';
import { VerifiedContent } from '../content/verify.js';
import { blobExists, deleteBlob, fetchBlob, mountBlob, pushBlob, type BlobOptions } from './blobs.js';
import { repositoryScope } from './challenge.js';
import { withOp } from './errors.js';
import { readCapped, type Send } from './http.js';
import { checkRef, deleteManifest, getManifest, headManifest, MANIFEST_LIMIT_HINT, manifestLimit, putManifest, type RepoContext } from './manifests.js';
import { MAX_LIST_BYTES, pageLimits, paginate, stringList, type PageOptions } from './pagination.js';
import { listReferrers, updateFallback, type ReferrersApi, type ReferrersState } from './referrers.js';
import { registryFailure } from './codes.js';

/**
 * `RegistryEndpoint` is what a repository uses of its registry (client.ts's `Registry`): the
 * base URL, the transport its repositories share (one token cache) and the options. An
 * interface, so that the client imports its repositories and never the other way round.
 */
export interface RegistryEndpoint {
  readonly host: string;
  /** `<scheme>://<host>` */
  readonly base: string;
  readonly send: Send;
  readonly options: BlobOptions & PageOptions & { readonly pageSize?: number; readonly maxManifestBytes?: number };
  /** Whether it has the referrers API, for all its repositories. */
  readonly referrers: ReferrersApi;
}

/**
 * `Repository` is one repository of a remote registry as a content `Target` (after oras-go
 * `registry/remote.Repository`), with the optional abilities: mounting, deleting, listing tags
 * and referrers. Manifests (OCI/Docker manifests and indexes, by media type) go to the manifest
 * endpoints, everything else to the blob endpoints. Errors read
 * `<operation>: <host>: <what the registry said>`; content or a repository the registry does
 * not hold is `NOT_FOUND` in every operation, as in every store (the registry's code in
 * `data.registryCode`), other distribution-spec codes are kept.
 */
export class Repository implements Target, ReferencePusher, Mounter, Deleter, TagLister, ReferrerLister, RepoContext {
  readonly host: string;
  readonly send: Send;
  private readonly referrersState: ReferrersState;
  /** Manifests this object pushed (verified bytes, a few): tagging one needs no GET. */
  private readonly pushedManifests = new Map<string, Uint8Array>();
  /** Blobs `exists` just found absent: the push that follows (the copy routine's) needs no second HEAD. */
  private readonly absentBlobs = new Set<string>();

  constructor(
    readonly registry: RegistryEndpoint,
    readonly name: string,
  ) {
    this.host = registry.host;
    this.send = registry.send;
    this.referrersState = { api: registry.referrers, locks: new Map() };
  }

  get maxManifestBytes(): number | undefined {
    return this.registry.options.maxManifestBytes;
  }

  url(path: string): URL {
    return new URL(`${this.registry.base}/v2/${this.name}/${path}`);
  }

  /** `resolve` turns a tag or digest into the manifest's descriptor (HEAD, or GET when the registry omits the digest). */
  resolve(ref: string, signal?: AbortSignal): Promise<Descriptor> {
    return withOp(`resolve ${this.name}:${ref}`, async () => {
      checkRef(ref);
      return (await headManifest(this, ref, signal)) ?? (await getManifest(this, ref, signal)).descriptor;
    });
  }

  /** `fetchReference` resolves and reads a manifest in one GET, its bytes checked (at most `manifestLimit`). */
  fetchReference(ref: string, signal?: AbortSignal): Promise<{ descriptor: Descriptor; bytes: Uint8Array }> {
    return withOp(`fetch ${this.name}:${ref}`, async () => {
      checkRef(ref);
      return getManifest(this, ref, signal);
    });
  }

  /** `fetch` streams content, verified against `desc` (blobs resume after a broken connection). */
  fetch(desc: Descriptor, signal?: AbortSignal): Promise<Content> {
    return withOp(`fetch ${desc.digest}`, async () => {
      if (!isGraphNode(desc)) return fetchBlob(this, desc, this.registry.options, signal);
      const limit = manifestLimit(this);
      if (desc.size > limit) {
        throw registryFailure('MANIFEST_TOO_LARGE', `${this.host}: manifest ${desc.digest} declares ${desc.size} bytes, over the ${limit}-byte limit`, {
          hint: MANIFEST_LIMIT_HINT,
          data: { host: this.host, size: desc.size, limit },
        });
      }
      const { descriptor, bytes } = await getManifest(this, desc.digest, signal);
      if (descriptor.mediaType !== desc.mediaType) {
        throw registryFailure('MANIFEST_INVALID', `${this.host}: manifest ${desc.digest} served as ${descriptor.mediaType}, expected ${desc.mediaType}`, {
          hint: 'the registry and the descriptor disagree on what this manifest is',
          data: { host: this.host, expected: desc.mediaType, actual: descriptor.mediaType },
        });
      }
      return VerifiedContent.of(desc, [bytes], signal);
    });
  }

  exists(desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
    return withOp(`check ${desc.digest}`, async () => {
      if (!isGraphNode(desc)) {
        const held = await blobExists(this, desc, signal);
        if (!held) this.absentBlobs.add(desc.digest);
        if (this.absentBlobs.size > 256) this.absentBlobs.delete(this.absentBlobs.values().next().value!);
        return held;
      }
      try {
        await headManifest(this, desc.digest, signal);
        return true;
      } catch (e) {
        if (isCode(e, 'NOT_FOUND')) return false;
        throw e;
      }
    });
  }

  /**
   * `push` stores content by digest. Manifests are read whole (at most `manifestLimit`),
   * verified and parsed before the PUT, so a bad one is never sent; one with a `subject` is then
   * added to the referrers fallback index unless the registry answered `OCI-Subject`.
   */
  push(expected: Descriptor, content: Content, signal?: AbortSignal): Promise<void> {
    return withOp(`push ${expected.digest}`, async () => {
      if (!isGraphNode(expected)) return pushBlob(this, expected, content, this.registry.options, signal, this.absentBlobs.delete(expected.digest));
      await this.putNode(expected, content, expected.digest, signal);
    });
  }

  /** `pushReference` stores a manifest by PUTting it under `ref` (end-7): the registry keeps it by digest too. */
  pushReference(expected: Descriptor, content: Content, ref: string, signal?: AbortSignal): Promise<void> {
    return withOp(`tag ${this.name}:${ref}`, async () => {
      checkRef(ref);
      if (!isGraphNode(expected)) throw notTaggable(this.host, expected);
      await this.putNode(expected, content, ref, signal);
    });
  }

  private async putNode(expected: Descriptor, content: Content, ref: string, signal?: AbortSignal): Promise<void> {
    const bytes = await fetchAll({ fetch: async () => content }, expected, manifestLimit(this), signal);
    const node = parseNode(expected, bytes);
    const headers = await putManifest(this, ref, expected.mediaType, bytes, signal);
    this.pushedManifests.set(expected.digest, bytes);
    if (this.pushedManifests.size > 16) this.pushedManifests.delete(this.pushedManifests.keys().next().value!);
    if (node.subject !== undefined && headers['oci-subject'] === undefined) {
      await updateFallback(this, this.referrersState, 'add', expected, { ...node, subject: node.subject }, signal);
    }
  }

  /** `tag` points `ref` at the manifest `desc` (re-PUT of its bytes under the tag, end-7). */
  tag(desc: Descriptor, ref: string, signal?: AbortSignal): Promise<void> {
    return withOp(`tag ${this.name}:${ref}`, async () => {
      checkRef(ref);
      if (!isGraphNode(desc)) throw notTaggable(this.host, desc);
      const bytes = this.pushedManifests.get(desc.digest) ?? (await getManifest(this, desc.digest, signal)).bytes;
      await putManifest(this, ref, desc.mediaType, bytes, signal);
    });
  }

  /**
   * `tags` lists every tag, sorted by code unit. Pages follow `Link`; 2.8.2 ignores `n`, sends no
   * `Link` and does not sort, so sorting and de-duplication happen here.
   */
  tags(signal?: AbortSignal): Promise<string[]> {
    return withOp(`list tags of ${this.name}`, async () => {
      const url = this.url('tags/list');
      url.searchParams.set('n', String(this.registry.options.pageSize ?? 1000));
      const tags = new Set<string>();
      await paginate(
        this.send,
        url,
        { scopes: [repositoryScope(this.name, 'pull')], signal },
        async (res) => {
          const page = stringList(this.host, await readCapped(res, MAX_LIST_BYTES, 'tag list'), 'tags');
          for (const t of page) tags.add(t);
          return page.length;
        },
        { ...pageLimits(this.registry.options), asked: { kind: 'repository', repository: this.name } },
      );
      return [...tags].sort();
    });
  }

  mount(desc: Descriptor, fromRepo: string, signal?: AbortSignal): Promise<boolean> {
    this.absentBlobs.delete(desc.digest);
    return withOp(`mount ${desc.digest} from ${fromRepo}`, () => mountBlob(this, desc, fromRepo, signal));
  }

  /**
   * `delete` removes a manifest (by digest; its tags go with it on 2.8.2) or a blob. A deleted
   * manifest with a `subject` leaves the fallback referrers index too (v1.1.1 §"Deleting Manifests").
   */
  delete(desc: Descriptor, signal?: AbortSignal): Promise<void> {
    return withOp(`delete ${desc.digest}`, async () => {
      if (!isGraphNode(desc)) return deleteBlob(this, desc.digest, signal);
      const { bytes } = await getManifest(this, desc.digest, signal);
      const node = parseNode(desc, bytes);
      await deleteManifest(this, desc.digest, signal);
      if (node.subject !== undefined && this.referrersState.api.supported !== true) {
        await updateFallback(this, this.referrersState, 'remove', desc, { ...node, subject: node.subject }, signal);
      }
    });
  }

  referrers(subject: Descriptor, artifactType?: string, signal?: AbortSignal): Promise<Descriptor[]> {
    return withOp(`list referrers of ${subject.digest}`, () =>
      listReferrers(this, this.referrersState, subject, artifactType, pageLimits(this.registry.options), signal),
    );
  }
}

function notTaggable(host: string, desc: Descriptor): EbpmError {
  return registryFailure('INVALID_REFERENCE', `${host}: cannot tag ${desc.mediaType}: only manifests and indexes take tags`, {
    hint: 'tag the manifest that names this content',
    data: { mediaType: desc.mediaType },
  });
}
