import { digesterFor, digestProblem, isDigest, sha256Digest } from '../core/digest.js';
import type { EbpmError } from '../core/errors.js';
import {
  MAX_MANIFEST_BYTES,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_IMAGE_INDEX,
  MEDIA_TYPE_IMAGE_MANIFEST,
  type Descriptor,
} from '../core/oci.js';
import { isGraphNode } from '../content/graph.js';
import { refName, registryError } from './errors.js';
import { header, readCapped, type RegistryResponse, type Send } from './http.js';
import { repositoryScope } from './challenge.js';
import { registryFailure } from './codes.js';

/**
 * Manifest endpoints (distribution-spec v1.1.1 end-3, end-7, end-9) for one repository.
 * distribution 2.8.2 returns an OCI manifest or index only when `Accept` lists its media type
 * (otherwise `404 MANIFEST_UNKNOWN`, even by digest and for HEAD), so every request sends
 * `MANIFEST_ACCEPT`.
 */

/** `RepoContext` is what the endpoint modules need of a repository. */
export interface RepoContext {
  /** `host[:port]` */
  readonly host: string;
  /** Repository name (`namespace/name`). */
  readonly name: string;
  readonly send: Send;
  /** `url('manifests/1.0')` is `<scheme>://<host>/v2/<name>/manifests/1.0`. */
  url(path: string): URL;
  /** Largest manifest, index or referrers page read (default and at most `MAX_MANIFEST_BYTES`). */
  readonly maxManifestBytes?: number | undefined;
}

/** `manifestLimit` is the largest manifest `ctx` reads. */
export function manifestLimit(ctx: RepoContext): number {
  return Math.min(ctx.maxManifestBytes ?? MAX_MANIFEST_BYTES, MAX_MANIFEST_BYTES);
}

/** `MANIFEST_LIMIT_HINT` is the hint of every manifest over the limit. */
export const MANIFEST_LIMIT_HINT =
  'a manifest is metadata, a few KiB; one this large is broken or hostile (EBPM_MAX_MANIFEST_BYTES sets the limit, at most 4 MiB)';

/** `MANIFEST_ACCEPT` lists the manifest media types ebpm reads. */
export const MANIFEST_ACCEPT = [MEDIA_TYPE_IMAGE_MANIFEST, MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST].join(', ');

const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** `checkRef` accepts a tag or a digest, the two forms a manifest reference takes. */
export function checkRef(ref: string): void {
  if (TAG.test(ref) || digestProblem(ref) === undefined) return;
  throw registryFailure('INVALID_REFERENCE', `invalid reference ${JSON.stringify(ref.slice(0, 140))}: not a tag or a digest`, {
    hint: 'tags are up to 128 of [A-Za-z0-9_.-]; digests look like sha256:<64 hex digits>',
    data: { reference: ref },
  });
}

/** `contentType` is the media type of a manifest response, without parameters; it must be one ebpm reads. */
function contentType(res: RegistryResponse): string {
  const mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
  if (!isGraphNode({ mediaType })) {
    throw registryFailure('MANIFEST_INVALID', `${res.url.host}: manifest served as ${JSON.stringify(mediaType.slice(0, 100) || 'no content type')}`, {
      hint: 'the reference names something other than an OCI manifest or index',
      data: { host: res.url.host, contentType: mediaType },
    });
  }
  return mediaType;
}

function mismatch(host: string, expected: string, actual: string, what: string): EbpmError {
  return registryFailure('DIGEST_MISMATCH', `${host}: ${what} hashes to ${actual}, expected ${expected}`, {
    hint: 'the registry served other content than asked for; nothing of it was kept',
    data: { host, expected, actual },
  });
}

/** `askManifest` sends a HEAD or GET for manifest `ref` and returns the 200 answer; any other is the registry's error. */
async function askManifest(ctx: RepoContext, method: 'HEAD' | 'GET', ref: string, signal: AbortSignal | undefined): Promise<RegistryResponse> {
  const res = await ctx.send({
    method,
    url: ctx.url(`manifests/${ref}`),
    headers: { accept: MANIFEST_ACCEPT },
    scopes: [repositoryScope(ctx.name, 'pull')],
    idempotent: true,
    signal,
  });
  if (res.status !== 200) throw await registryError(res, { asked: { kind: 'manifest', repository: ctx.name, ref } });
  return res;
}

/**
 * `headManifest` resolves `ref` cheaply; `undefined` when the registry's answer lacks the digest
 * or size (the digest header is optional in v1.1.1), so the caller must GET and hash.
 */
export async function headManifest(ctx: RepoContext, ref: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
  const res = await askManifest(ctx, 'HEAD', ref, signal);
  await res.body.dump();
  const mediaType = contentType(res);
  const size = Number(header(res, 'content-length'));
  const said = header(res, 'docker-content-digest');
  if (isDigest(ref) && said !== undefined && said !== ref) throw mismatch(ctx.host, ref, said, `manifest ${ref}`);
  const digest = isDigest(ref) ? ref : said;
  if (digest === undefined || !isDigest(digest) || !Number.isSafeInteger(size) || size < 0 || header(res, 'content-length') === undefined) return undefined;
  const limit = manifestLimit(ctx);
  if (size > limit) {
    throw registryFailure('MANIFEST_TOO_LARGE', `${ctx.host}: manifest ${refName(ctx.name, ref)} is ${size} bytes, over the ${limit}-byte limit`, {
      hint: MANIFEST_LIMIT_HINT,
      data: { host: ctx.host, size, limit },
    });
  }
  return { mediaType, digest, size };
}

/**
 * `getManifest` GETs a manifest (at most `manifestLimit` bytes, counted as they arrive) and
 * checks its bytes: against `ref` when that is a digest, and against `Docker-Content-Digest`
 * when the registry sends one.
 */
export async function getManifest(ctx: RepoContext, ref: string, signal?: AbortSignal): Promise<{ descriptor: Descriptor; bytes: Uint8Array }> {
  const res = await askManifest(ctx, 'GET', ref, signal);
  let mediaType: string;
  try {
    mediaType = contentType(res);
  } catch (e) {
    await res.body.dump();
    throw e;
  }
  const bytes = await readCapped(res, manifestLimit(ctx), `manifest ${refName(ctx.name, ref)}`, 'MANIFEST_TOO_LARGE', MANIFEST_LIMIT_HINT);
  const digest = sha256Digest(bytes);
  if (isDigest(ref)) {
    const h = digesterFor(ref);
    h.update(bytes);
    const actual = h.digest();
    if (actual !== ref) throw mismatch(ctx.host, ref, actual, `manifest ${ref}`);
  }
  const said = header(res, 'docker-content-digest');
  if (said?.startsWith('sha256:') && said !== digest) throw mismatch(ctx.host, said, digest, `manifest ${ref}`);
  return { descriptor: { mediaType, digest: isDigest(ref) ? ref : digest, size: bytes.byteLength }, bytes };
}

/**
 * `putManifest` stores `bytes` under `ref` (a tag or its digest) with `Content-Type` set to the
 * manifest's media type (v1.1.1 §"Pushing Manifests": clients MUST). Manifest PUTs are
 * idempotent, so they are retried. Returns the response headers (`OCI-Subject`, digest).
 */
export async function putManifest(
  ctx: RepoContext,
  ref: string,
  mediaType: string,
  bytes: Uint8Array,
  signal?: AbortSignal,
): Promise<RegistryResponse['headers']> {
  const res = await ctx.send({
    method: 'PUT',
    url: ctx.url(`manifests/${ref}`),
    headers: { 'content-type': mediaType },
    body: bytes,
    scopes: [repositoryScope(ctx.name, 'pull', 'push')],
    idempotent: true,
    signal,
  });
  if (res.status !== 201 && res.status !== 200) throw await registryError(res, { asked: { kind: 'manifest', repository: ctx.name, ref } });
  await res.body.dump();
  const said = header(res, 'docker-content-digest');
  const digest = sha256Digest(bytes);
  if (said?.startsWith('sha256:') && said !== digest) throw mismatch(ctx.host, digest, said, `stored manifest ${ref}`);
  return res.headers;
}

/** `deleteManifest` deletes by digest (2.8.2 refuses deletes by tag with `400 DIGEST_INVALID`). */
export async function deleteManifest(ctx: RepoContext, digest: string, signal?: AbortSignal): Promise<void> {
  const res = await ctx.send({
    method: 'DELETE',
    url: ctx.url(`manifests/${digest}`),
    scopes: [repositoryScope(ctx.name, 'delete')],
    idempotent: true,
    signal,
  });
  if (res.status !== 202 && res.status !== 200) throw await registryError(res, { asked: { kind: 'manifest', repository: ctx.name, ref: digest } });
  await res.body.dump();
}
