import { EbpmError } from '../core/errors.js';
import { descriptorFor, isRefName, type Descriptor } from '../core/oci.js';
import { VerifiedContent } from './verify.js';

/*
 * Role-sized content interfaces, after oras-go v2.6 `content/storage.go`, `content/resolver.go`
 * and `target.go`. Every method takes a `Descriptor`; bigger roles are intersections; optional
 * abilities are separate interfaces found with the type guards below.
 *
 * Content moves as `Content` (an iterable or async iterable of byte chunks, read with
 * `for await`) everywhere: node streams, web streams, HTTP bodies and arrays of chunks all are one.
 *
 * Conventions every implementation follows:
 * - `fetch` of content the store does not hold throws code `NOT_FOUND` (the registry client
 *   too, keeping the registry's `BLOB_UNKNOWN` / `MANIFEST_UNKNOWN` in `data.registryCode`). The
 *   stream it returns is raw, or `VerifiedContent` when the store verifies as it reads (the
 *   registry client does): consumers verify it (`fetchAll`, `copyGraph` do, through
 *   `VerifiedContent.of`, which takes a pass already checking the same descriptor as it is).
 * - `push` hashes and counts what it receives and rejects content that does not match `expected`
 *   (`SIZE_MISMATCH`, `DIGEST_MISMATCH`), keeping nothing of it; `VerifiedContent` for `expected`
 *   is that same check already running, so it is not hashed twice. Pushing content already held succeeds.
 * - `resolve` of an unknown reference and `delete` of content not held throw `NOT_FOUND`;
 *   `exists` of content not held is false.
 */

/** `Content` is a stream of byte chunks. */
export type Content = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** `Fetcher` fetches content by descriptor. */
export interface Fetcher {
  fetch(desc: Descriptor, signal?: AbortSignal): Promise<Content>;
}

/** `Pusher` stores content, checking it against `expected` on the way in. */
export interface Pusher {
  push(expected: Descriptor, content: Content, signal?: AbortSignal): Promise<void>;
}

/** `Existence` tells whether content is held. */
export interface Existence {
  exists(desc: Descriptor, signal?: AbortSignal): Promise<boolean>;
}

/** `ReadOnlyStorage` reads content. */
export type ReadOnlyStorage = Fetcher & Existence;

/** `Storage` reads and writes content. */
export type Storage = ReadOnlyStorage & Pusher;

/** `Resolver` turns a reference (a tag, or a digest) into the descriptor of the manifest it names. */
export interface Resolver {
  resolve(ref: string, signal?: AbortSignal): Promise<Descriptor>;
}

/** `Tagger` points a reference at a manifest the store holds. */
export interface Tagger {
  tag(desc: Descriptor, ref: string, signal?: AbortSignal): Promise<void>;
}

/** `TagLister` lists the references a store holds, sorted. */
export interface TagLister {
  tags(signal?: AbortSignal): Promise<string[]>;
}

/** `ReadOnlyTarget` is what a copy reads from: content plus reference resolution. */
export type ReadOnlyTarget = ReadOnlyStorage & Resolver;

/** `Target` is a full store: a registry repository, the local OCI layout, or memory. */
export type Target = Storage & Resolver & Tagger;

/** `Mounter` (optional) makes a blob from another repository of the same registry appear without copying bytes. */
export interface Mounter {
  /** Returns false when the registry declined the mount and the blob must be pushed. */
  mount(desc: Descriptor, fromRepo: string, signal?: AbortSignal): Promise<boolean>;
}

/**
 * `ReferencePusher` (optional) stores a manifest and points `ref` at it in one step (a registry's
 * PUT by tag, distribution-spec v1.1.1 end-7, after oras-go `registry.ReferencePusher`): one
 * request instead of a push by digest and a tag. It checks the content as `push` does.
 */
export interface ReferencePusher {
  pushReference(expected: Descriptor, content: Content, ref: string, signal?: AbortSignal): Promise<void>;
}

/** `Deleter` (optional) removes content. Deleting content not held throws `NOT_FOUND`. */
export interface Deleter {
  delete(desc: Descriptor, signal?: AbortSignal): Promise<void>;
}

/** `Untagger` (optional) removes a reference, leaving the content. Unknown references throw `NOT_FOUND`. */
export interface Untagger {
  untag(ref: string, signal?: AbortSignal): Promise<void>;
}

/**
 * `ReferrerLister` (optional) lists the manifests whose `subject` is `subject` (OCI 1.1
 * referrers: signatures, SBOMs), as descriptors carrying their `artifactType` and `annotations`,
 * filtered by `artifactType` when given. It is ebpm's one way to walk "predecessors".
 */
export interface ReferrerLister {
  referrers(subject: Descriptor, artifactType?: string, signal?: AbortSignal): Promise<Descriptor[]>;
}

export const canMount = (t: object): t is Mounter => typeof (t as Partial<Mounter>).mount === 'function';
export const canPushReference = (t: object): t is ReferencePusher => typeof (t as Partial<ReferencePusher>).pushReference === 'function';
export const canDelete = (t: object): t is Deleter => typeof (t as Partial<Deleter>).delete === 'function';
export const canUntag = (t: object): t is Untagger => typeof (t as Partial<Untagger>).untag === 'function';
export const canListTags = (t: object): t is TagLister => typeof (t as Partial<TagLister>).tags === 'function';
export const canListReferrers = (t: object): t is ReferrerLister => typeof (t as Partial<ReferrerLister>).referrers === 'function';

/** `pushTagged` stores the manifest `expected` in `dst` and tags it `ref`: in one step where `dst` can (`ReferencePusher`). */
export async function pushTagged(dst: Target, expected: Descriptor, content: Content, ref: string, signal?: AbortSignal): Promise<void> {
  if (canPushReference(dst)) return dst.pushReference(expected, content, ref, signal);
  await dst.push(expected, content, signal);
  await dst.tag(expected, ref, signal);
}

/**
 * `INITIAL_BUFFER_BYTES` caps the first allocation of `fetchAll`: the declared size is
 * attacker-controlled, so buffers grow with what actually arrives (oras-go `content/reader.go`).
 */
const INITIAL_BUFFER_BYTES = 64 * 1024;

/**
 * `fetchAll` fetches `desc` whole and verifies it. Descriptors declaring more than `maxBytes`
 * are refused before any byte is fetched (`SIZE_EXCEEDS_LIMIT`); content with embedded `data`
 * is taken from the descriptor, verified the same way.
 */
export async function fetchAll(storage: Fetcher, desc: Descriptor, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (desc.size > maxBytes) {
    throw new EbpmError('SIZE_EXCEEDS_LIMIT', `${desc.digest}: ${desc.size} bytes is over the ${maxBytes}-byte limit`, {
      hint: 'the descriptor declares more data than ebpm accepts for this kind of content',
      data: { digest: desc.digest, size: desc.size, limit: maxBytes },
    });
  }
  const source = desc.data !== undefined ? [Buffer.from(desc.data, 'base64')] : await storage.fetch(desc, signal);
  let buf = new Uint8Array(Math.min(desc.size, INITIAL_BUFFER_BYTES));
  let n = 0;
  for await (const chunk of VerifiedContent.of(desc, source, signal)) {
    if (n + chunk.byteLength > buf.byteLength) {
      const grown = new Uint8Array(Math.max(buf.byteLength * 2, n + chunk.byteLength));
      grown.set(buf.subarray(0, n));
      buf = grown;
    }
    buf.set(chunk, n);
    n += chunk.byteLength;
  }
  return buf.byteLength === n ? buf : buf.slice(0, n);
}

/** `pushBytes` pushes in-memory content and returns its descriptor (sha256 of `bytes`, plus `extra` fields). */
export async function pushBytes(
  pusher: Pusher,
  mediaType: string,
  bytes: Uint8Array,
  extra: Partial<Descriptor> = {},
  signal?: AbortSignal,
): Promise<Descriptor> {
  const desc = descriptorFor(mediaType, bytes, extra);
  await pusher.push(desc, [bytes], signal);
  return desc;
}

/**
 * `closeContent` releases content that will not be read (the destination already holds it):
 * a `VerifiedContent` lets its source go (`close`), an iterator is ended with `return()`.
 */
export async function closeContent(content: Content): Promise<void> {
  if (content instanceof VerifiedContent) return content.close();
  if (Symbol.asyncIterator in content) await content[Symbol.asyncIterator]().return?.();
  else content[Symbol.iterator]().return?.();
}

/** `notFound` is the `NOT_FOUND` error local stores throw for missing content or references. */
export function notFound(what: string, data: Record<string, unknown>): EbpmError {
  return new EbpmError('NOT_FOUND', `${what}: not found`, {
    hint: 'list what the store holds with `ebpm ls`, or pull it first',
    data,
  });
}

/** `checkRef` refuses references that are not a valid `ref.name` or that look like digests (`INVALID_REFERENCE`). */
export function checkRef(ref: string): void {
  if (!isRefName(ref) || /^sha(?:256|512):/.test(ref)) {
    throw new EbpmError('INVALID_REFERENCE', `invalid reference ${JSON.stringify(ref.slice(0, 140))}`, {
      hint: 'a tag is letters and digits joined by . _ - : @ + or /, like 1.2.0 or sigsnoop:1.2.0',
      data: { ref },
    });
  }
}
