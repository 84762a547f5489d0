import { isEbpmError } from '../core/errors.js';
import type { Descriptor } from '../core/oci.js';
import { closeContent, type Content } from '../content/storage.js';
import { VerifiedContent } from '../content/verify.js';
import { repositoryScope } from './challenge.js';
import { protocolError, registryError } from './errors.js';
import { header, isRetryable, resolveLocation, transportError, type RegistryResponse } from './http.js';
import { retrying, type RetryOptions } from './retry.js';
import type { RepoContext } from './manifests.js';
import { registryFailure } from './codes.js';

/**
 * Blob endpoints (distribution-spec v1.1.1 end-2, end-4a/6, end-5, end-10, end-11) as
 * distribution 2.8.2 really implements them (reference §1.9): no single-POST upload, absolute or
 * relative `Location`s carrying a `_state` that changes with every PATCH, `Content-Range` ignored.
 */

export interface BlobOptions {
  /** Blobs larger than this are uploaded in chunks (default 32 MiB). */
  readonly chunkThreshold?: number;
  /** Chunk size for chunked uploads (default 8 MiB). */
  readonly chunkSize?: number;
  /** Times a failed chunked upload starts over from byte 0 (default 2). */
  readonly uploadRestarts?: number;
  /** Times a broken blob download resumes with `Range` (default 5). */
  readonly downloadResumes?: number;
  /** Retries of failed exchanges: the client's retry stage, and whole-blob uploads (`pushBlob`). */
  readonly retry?: RetryOptions;
  /** Largest blob `fetchBlob` downloads (default `DEFAULT_MAX_BLOB_BYTES`). */
  readonly maxBlobBytes?: number;
}

/**
 * `DEFAULT_MAX_BLOB_BYTES` is 1 GiB: far above any eBPF package (a run loads at most 64 MiB of
 * Wasm), far below a full disk. A descriptor declaring more is refused before a byte is fetched;
 * a registry sending more than the descriptor declares fails as it does (`verifyContent`).
 */
export const DEFAULT_MAX_BLOB_BYTES = 1 << 30;

/** `blobExists` HEADs a blob; a size other than the descriptor's counts as absent. */
export async function blobExists(ctx: RepoContext, desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
  const res = await ctx.send({ method: 'HEAD', url: ctx.url(`blobs/${desc.digest}`), scopes: [repositoryScope(ctx.name, 'pull')], idempotent: true, signal });
  await res.body.dump();
  if (res.status === 404) return false;
  if (res.status !== 200) throw await registryError(res, { asked: { kind: 'blob', repository: ctx.name, ref: desc.digest } });
  const size = header(res, 'content-length');
  return size === undefined || Number(size) === desc.size;
}

/**
 * `fetchBlob` streams a blob as `VerifiedContent` (one hashing pass, which consumers keep
 * instead of hashing again). When the connection breaks or stalls mid-body, it asks again with
 * `Range: bytes=<received>-` (RFC 9110 §14.2; 2.8.2 answers 206), or with a plain GET when
 * nothing came yet, and carries on, so the consumer sees one byte-exact stream; a registry that
 * ignores Range (200) has the bytes already received skipped.
 */
export async function fetchBlob(ctx: RepoContext, desc: Descriptor, opts: BlobOptions, signal?: AbortSignal): Promise<Content> {
  const limit = opts.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  if (desc.size > limit) {
    throw registryFailure('BLOB_TOO_LARGE', `${ctx.host}: blob ${desc.digest} declares ${desc.size} bytes, over the ${limit}-byte limit`, {
      hint: 'a package this large is broken or hostile; if you trust it, raise EBPM_MAX_BLOB_BYTES',
      data: { host: ctx.host, digest: desc.digest, size: desc.size, limit },
    });
  }
  const url = ctx.url(`blobs/${desc.digest}`);
  const request = (headers: Record<string, string>) =>
    ctx.send({ method: 'GET', url, headers, scopes: [repositoryScope(ctx.name, 'pull')], idempotent: true, signal });
  const first = await request({});
  if (first.status !== 200) throw await registryError(first, { asked: { kind: 'blob', repository: ctx.name, ref: desc.digest } });
  const length = header(first, 'content-length');
  const said = header(first, 'docker-content-digest');
  if ((length !== undefined && Number(length) !== desc.size) || (said !== undefined && said !== desc.digest)) {
    await first.body.dump();
    const sizeWrong = length !== undefined && Number(length) !== desc.size;
    throw registryFailure(
      sizeWrong ? 'SIZE_MISMATCH' : 'DIGEST_MISMATCH',
      `${ctx.host}: blob ${desc.digest} served as ${sizeWrong ? `${length} bytes, expected ${desc.size}` : said}`,
      {
        hint: 'the registry served other content than asked for; nothing of it was kept',
        data: { host: ctx.host, digest: desc.digest, expected: sizeWrong ? desc.size : desc.digest, actual: sizeWrong ? Number(length) : said },
      },
    );
  }
  const maxResumes = opts.downloadResumes ?? 5;

  async function* resuming(): AsyncGenerator<Uint8Array> {
    let res: RegistryResponse = first;
    let received = 0;
    let skip = 0;
    for (let resumes = 0; ; resumes++) {
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          let c = chunk;
          if (skip > 0) {
            const drop = Math.min(skip, c.byteLength);
            skip -= drop;
            c = c.subarray(drop);
            if (c.byteLength === 0) continue;
          }
          received += c.byteLength;
          yield c;
        }
        return;
      } catch (e) {
        const err = transportError(e, { method: 'GET', url }) ?? e;
        if (!isRetryable(err) || resumes >= maxResumes || signal?.aborted) throw err;
      }
      // Nothing received yet: a plain GET, as the first (`bytes=0-` would ask a 206 for no gain).
      res = await request(received === 0 ? {} : { range: `bytes=${received}-` });
      if (res.status === 200) {
        skip = received;
        received = 0;
      } else if (res.status === 206) {
        const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header(res, 'content-range') ?? '');
        if (m === null || Number(m[1]) !== received) {
          await res.body.dump();
          throw protocolError(ctx.host, `blob ${desc.digest}: resumed at the wrong offset (${header(res, 'content-range') ?? 'no Content-Range'})`);
        }
      } else {
        throw await registryError(res, { asked: { kind: 'blob', repository: ctx.name, ref: desc.digest } });
      }
    }
  }
  // Closed unread (another writer stored the blob first), the body must still let its connection go.
  return VerifiedContent.of(desc, resuming(), signal).closing(() => first.body.destroy());
}

async function startUpload(ctx: RepoContext, query: string, scopes: string[], signal?: AbortSignal): Promise<RegistryResponse> {
  return ctx.send({ method: 'POST', url: ctx.url(`blobs/uploads/${query}`), headers: { 'content-length': '0' }, body: new Uint8Array(0), scopes, signal });
}

/** `cancelUpload` abandons an upload session (HEAD spec end-14; 2.8.2 answers 204), best effort. */
async function cancelUpload(ctx: RepoContext, location: URL | undefined): Promise<void> {
  if (location === undefined) return;
  try {
    const res = await ctx.send({ method: 'DELETE', url: location, scopes: [repositoryScope(ctx.name, 'pull', 'push')] });
    await res.body.dump();
  } catch {
    // The session expires on its own.
  }
}

async function session(ctx: RepoContext, signal?: AbortSignal): Promise<URL> {
  const res = await startUpload(ctx, '', [repositoryScope(ctx.name, 'pull', 'push')], signal);
  if (res.status !== 202) throw await registryError(res);
  await res.body.dump();
  return resolveLocation(res, header(res, 'location'), 'upload session');
}

/** `withDigest` appends `digest=` to a session URL, keeping its own parameters (2.8.2's `_state`). */
function withDigest(location: URL, digest: string): URL {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u;
}

async function finish(ctx: RepoContext, location: URL, expected: Descriptor, body: Content | Uint8Array, signal?: AbortSignal): Promise<void> {
  const size = body instanceof Uint8Array ? body.byteLength : expected.size;
  const res = await ctx.send({
    method: 'PUT',
    url: withDigest(location, expected.digest),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
    scopes: [repositoryScope(ctx.name, 'pull', 'push')],
    signal,
  });
  if (res.status !== 201) throw await registryError(res);
  await res.body.dump();
}

/**
 * `mountBlob` asks the registry to link `desc` from repository `from` (end-11). A `202` means it
 * declined and opened a session instead, which is cancelled: the caller pushes the bytes.
 */
export async function mountBlob(ctx: RepoContext, desc: Descriptor, from: string, signal?: AbortSignal): Promise<boolean> {
  const query = `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`;
  const res = await startUpload(ctx, query, [repositoryScope(ctx.name, 'pull', 'push'), repositoryScope(from, 'pull')], signal);
  if (res.status === 201) {
    await res.body.dump();
    return true;
  }
  if (res.status !== 202) throw await registryError(res);
  await res.body.dump();
  await cancelUpload(ctx, resolveLocation(res, header(res, 'location'), 'upload session'));
  return false;
}

/**
 * `pushBlob` uploads a blob unless the registry has it (`knownAbsent`: the caller's HEAD just
 * said it has not, so it is not asked twice): POST then one streamed PUT, or, above
 * `chunkThreshold`, PATCH chunks. The content is verified on the way (`VerifiedContent` holds back
 * the last bytes until they check out; a pass the copy routine already runs is not run twice),
 * so a mismatch never completes an upload.
 */
export async function pushBlob(
  ctx: RepoContext,
  expected: Descriptor,
  content: Content,
  opts: BlobOptions,
  signal?: AbortSignal,
  knownAbsent = false,
): Promise<void> {
  if (!knownAbsent && (await blobExists(ctx, expected, signal))) {
    await closeContent(content);
    return;
  }
  const verified = VerifiedContent.of(expected, content, signal);
  if (expected.size <= (opts.chunkThreshold ?? 32 << 20)) await pushWhole(ctx, expected, verified, opts, signal);
  else await pushChunked(ctx, expected, verified, opts, signal);
}

/**
 * `pushWhole` is POST then one streamed PUT. An exchange that fails in a way a new session may
 * not (`restartable`; not the content's own failure) is tried again under the retry policy, in a
 * new session, with the content read again from its source once the failed attempt had started
 * reading it (`VerifiedContent.reopen`: a content-addressed blob can be fetched again). Content
 * that cannot be read again is not retried once read.
 */
async function pushWhole(ctx: RepoContext, expected: Descriptor, verified: VerifiedContent, opts: BlobOptions, signal?: AbortSignal): Promise<void> {
  let source = verified;
  let read = false;
  let failure: { error: unknown } | undefined;
  const fromSource = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      failure = { error: e };
      throw e;
    });
  await retrying(
    opts.retry,
    signal,
    async () => {
      if (read) {
        source = await fromSource(source.reopen!());
        read = false;
      }
      const current = source;
      // Only the source's own failures are marked: an error the HTTP stack throws into the body
      // (a broken connection) ends the pass without being taken for one.
      async function* body(): AsyncGenerator<Uint8Array> {
        read = true;
        const chunks = current[Symbol.asyncIterator]();
        let done = false;
        try {
          for (;;) {
            const next = await fromSource(chunks.next());
            if (next.done) {
              done = true;
              return;
            }
            yield next.value;
          }
        } finally {
          if (!done) await chunks.return?.();
        }
      }
      const location = await session(ctx, signal);
      try {
        await finish(ctx, location, expected, body(), signal);
      } catch (e) {
        await cancelUpload(ctx, location);
        throw failure?.error ?? e;
      }
    },
    (e) => failure === undefined && restartable(e) && (!read || source.reopen !== undefined),
  );
}

/** `rechunk` regroups a stream into pieces of exactly `size` bytes (the last may be shorter). */
async function* rechunk(source: Content, size: number): AsyncGenerator<Buffer> {
  let parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of source) {
    parts.push(chunk);
    n += chunk.byteLength;
    while (n >= size) {
      const all = Buffer.concat(parts, n);
      yield all.subarray(0, size);
      parts = [all.subarray(size)];
      n -= size;
    }
  }
  if (n > 0) yield Buffer.concat(parts, n);
}

/** `SourceFailure` marks the content's own failure (a mismatch, a broken source): never restarted. */
class SourceFailure {
  constructor(readonly failure: unknown) {}
}

/** A PATCH or the closing PUT failed in a way a fresh session may not (not the content, not auth). */
function restartable(e: unknown): boolean {
  if (isRetryable(e)) return true;
  if (!isEbpmError(e)) return false;
  const status = e.data?.status;
  return (
    (typeof status === 'number' && (status >= 500 || status === 429)) ||
    e.code === 'BLOB_UPLOAD_INVALID' ||
    e.code === 'BLOB_UPLOAD_UNKNOWN' ||
    e.code === 'REGISTRY_PROTOCOL'
  );
}

/**
 * Chunked upload (end-4a, end-5, end-6). 2.8.2 ignores `Content-Range` and appends whatever a
 * PATCH carries, so a chunk whose fate is unknown is never re-sent into the same session: the
 * session is cancelled and the upload starts over from byte 0 in a new one. For that the chunks
 * already sent are kept in memory (ebpm packages are a few MiB). Every PATCH goes to the
 * `Location` of the previous answer, whose `_state` 2.8.2 changes each time.
 */
async function pushChunked(ctx: RepoContext, expected: Descriptor, verified: Content, opts: BlobOptions, signal?: AbortSignal): Promise<void> {
  const source = rechunk(verified, opts.chunkSize ?? 8 << 20)[Symbol.asyncIterator]();
  const sent: Buffer[] = [];
  let sourceDone = false;
  const restarts = opts.uploadRestarts ?? 2;
  for (let attempt = 0; ; attempt++) {
    let location: URL | undefined;
    try {
      location = await session(ctx, signal);
      let offset = 0;
      for (let i = 0; ; i++) {
        let chunk = sent[i];
        if (chunk === undefined) {
          if (sourceDone) break;
          const next = await source.next().catch((e: unknown) => {
            throw new SourceFailure(e);
          });
          if (next.done) {
            sourceDone = true;
            break;
          }
          chunk = next.value;
          sent.push(chunk);
        }
        location = await patch(ctx, location, chunk, offset, signal);
        offset += chunk.byteLength;
      }
      await finish(ctx, location, expected, new Uint8Array(0), signal);
      return;
    } catch (e) {
      await cancelUpload(ctx, location);
      if (e instanceof SourceFailure) throw e.failure;
      if (!restartable(e) || attempt >= restarts) throw e;
    }
  }
}

async function patch(ctx: RepoContext, location: URL, chunk: Uint8Array, offset: number, signal?: AbortSignal): Promise<URL> {
  const res = await ctx.send({
    method: 'PATCH',
    url: location,
    headers: {
      'content-type': 'application/octet-stream',
      'content-range': `${offset}-${offset + chunk.byteLength - 1}`,
      'content-length': String(chunk.byteLength),
    },
    body: chunk,
    scopes: [repositoryScope(ctx.name, 'pull', 'push')],
    signal,
  });
  if (res.status !== 202) throw await registryError(res);
  await res.body.dump();
  const range = header(res, 'range');
  const end = range === undefined ? undefined : /^(?:bytes=)?0-(\d+)$/.exec(range)?.[1];
  if (range !== undefined && Number(end) !== offset + chunk.byteLength - 1) {
    throw protocolError(ctx.host, `upload holds ${range}, expected 0-${offset + chunk.byteLength - 1}`);
  }
  return resolveLocation(res, header(res, 'location'), 'chunk upload');
}

/** `deleteBlob` deletes a blob (end-10; needs `storage.delete.enabled` on 2.8.2). */
export async function deleteBlob(ctx: RepoContext, digest: string, signal?: AbortSignal): Promise<void> {
  const res = await ctx.send({ method: 'DELETE', url: ctx.url(`blobs/${digest}`), scopes: [repositoryScope(ctx.name, 'delete')], idempotent: true, signal });
  if (res.status !== 202 && res.status !== 200) throw await registryError(res, { asked: { kind: 'blob', repository: ctx.name, ref: digest } });
  await res.body.dump();
}
