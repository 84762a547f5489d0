import { isDigest } from '../core/digest.js';
import { assertNever, type EbpmError, isEbpmError, withContext } from '../core/errors.js';
import { decodeJson, isObject } from '../core/json.js';
import { isKeptSpecCode, isMissingCode, registryFailure, type RegistryErrorCode } from './codes.js';
import { header, readCapped, type RegistryResponse } from './http.js';

/**
 * Registry error bodies (distribution-spec v1.1.1 §"Error Codes"): `{"errors":[{code, message,
 * detail}]}` on 4xx/5xx. A body MAY be anything else; 2.8.2 answers unknown routes with a
 * text/plain `404 page not found`. Either way the caller gets one `EbpmError`. A code the spec
 * defines stays the error's code (`DENIED`, `MANIFEST_INVALID`, …), except the three that say
 * "not held" (`BLOB_UNKNOWN`, `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`): those, and a 404 without a
 * spec code, are `NOT_FOUND`, the code every store uses for missing content (content/storage.ts),
 * with a message naming what is missing. Any other code a registry sends is only data: it could
 * otherwise pose as one of ebpm's own (`INTERNAL` reads as a bug, `TRUST_*` as a trust refusal,
 * `TIMEOUT` as a retryable failure), so it becomes `REGISTRY_ERROR`. The registry's code is
 * always kept in `data.registryCode`.
 */

/** `MAX_ERROR_BODY_BYTES` bounds error bodies: a few messages, never megabytes. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** One entry of a registry's `errors` array. */
export interface RegistryErrorEntry {
  readonly code: string;
  readonly message?: string;
  readonly detail?: unknown;
}

/** `parseErrorBody` narrows an error body; `[]` when it is not the spec's JSON. */
export function parseErrorBody(bytes: Uint8Array): RegistryErrorEntry[] {
  const parsed = decodeJson(bytes);
  if (parsed === undefined || !isObject(parsed.value) || !Array.isArray(parsed.value.errors)) return [];
  const out: RegistryErrorEntry[] = [];
  for (const e of parsed.value.errors) {
    if (!isObject(e) || typeof e.code !== 'string' || !/^[A-Z][A-Z0-9_]{0,63}$/.test(e.code)) continue;
    out.push({ code: e.code, ...(typeof e.message === 'string' ? { message: e.message } : {}), detail: e.detail });
  }
  return out;
}

const BY_STATUS: Readonly<Record<number, RegistryErrorCode>> = {
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  405: 'UNSUPPORTED',
  413: 'SIZE_INVALID',
  429: 'TOOMANYREQUESTS',
};

function hintFor(code: RegistryErrorCode, host: string, status: number): string {
  switch (code) {
    case 'UNAUTHORIZED':
    case 'DENIED':
      return `check \`ebpm login ${host}\` and that this account may access the repository`;
    case 'MANIFEST_BLOB_UNKNOWN':
      return 'push the blobs a manifest names (config and layers) before the manifest';
    case 'TOOMANYREQUESTS':
      return 'the registry rate-limits this client; wait a while and try again';
    case 'UNSUPPORTED':
      return 'the registry does not allow this operation (deletes may be disabled)';
    case 'UNAVAILABLE':
      return 'the registry failed; try again later';
    case 'NOT_A_REGISTRY':
      return `${host} does not answer /v2/; check the host name and port`;
    default:
      return status >= 500 ? 'the registry failed; try again later' : 'the registry refused the request';
  }
}

/**
 * `withOp` runs `fn` and prefixes any `EbpmError` it throws with `context` (`resolve "1.0"`);
 * other errors (aborts, bugs) pass unchanged.
 */
export async function withOp<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw isEbpmError(e) ? withContext(context, e) : e;
  }
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 200);

/**
 * `Asked` names what a request asked for, so that a "not found" says what is missing: a
 * manifest or a blob of a repository (`ref` a tag or a digest), or the repository itself.
 */
export type Asked =
  | { readonly kind: 'repository'; readonly repository: string }
  | { readonly kind: 'manifest' | 'blob'; readonly repository: string; readonly ref: string };

/** `refName` names a manifest or blob of a repository: `ebpm/sigsnoop:1.2.0`, `ebpm/sigsnoop@sha256:…`. */
export function refName(repository: string, ref: string): string {
  return `${repository}${isDigest(ref) ? '@' : ':'}${ref}`;
}

/** `missing` words what is not there: `manifest ebpm/sigsnoop:9.9.9`, `repository ebpm/sigsnoop`. */
function missing(asked: Asked, host: string): { words: string; hint: string } {
  switch (asked.kind) {
    case 'repository':
      return { words: `repository ${asked.repository}`, hint: `no such repository on ${host}; check the name, or push to create it` };
    case 'manifest':
      return { words: `manifest ${refName(asked.repository, asked.ref)}`, hint: 'no such tag or digest in this repository; check the reference' };
    case 'blob':
      return { words: `blob ${refName(asked.repository, asked.ref)}`, hint: 'the registry does not hold this blob; push it first' };
    default:
      return assertNever(asked, 'request');
  }
}

/**
 * `registryError` reads the error body of `res` (bounded) and builds the error:
 * `<host>: <code in words>[: <registry message>]`, or for content the registry does not hold
 * `<host>: <what was asked> not found[: <registry message>]` (`NOT_FOUND`). `asked` names the
 * request's object (`NAME_UNKNOWN` always names the repository); `fallback` maps statuses to
 * codes when the body has none (a 404 from `/v2/` is `NOT_A_REGISTRY`).
 */
export async function registryError(
  res: RegistryResponse,
  opts: { readonly asked?: Asked; readonly fallback?: Readonly<Record<number, RegistryErrorCode>> } = {},
): Promise<EbpmError> {
  let entries: RegistryErrorEntry[] = [];
  try {
    entries = parseErrorBody(await readCapped(res, MAX_ERROR_BODY_BYTES, 'error body'));
  } catch {
    // An oversized or broken error body still yields an error from the status.
  }
  const host = res.url.host;
  const first = entries[0];
  const fromStatus = opts.fallback?.[res.status] ?? BY_STATUS[res.status];
  const notFound =
    first === undefined ? fromStatus === undefined && res.status === 404 : isMissingCode(first.code) || (res.status === 404 && !isKeptSpecCode(first.code));
  let code: RegistryErrorCode;
  let words: string;
  let hint: string;
  if (notFound) {
    const asked = first?.code === 'NAME_UNKNOWN' && opts.asked !== undefined ? { kind: 'repository' as const, repository: opts.asked.repository } : opts.asked;
    const what = asked === undefined ? { words: 'content', hint: 'the registry has no such endpoint or content' } : missing(asked, host);
    [code, words, hint] = ['NOT_FOUND', `${what.words} not found`, what.hint];
  } else {
    code =
      first === undefined ? (fromStatus ?? (res.status >= 500 ? 'UNAVAILABLE' : 'REGISTRY_ERROR')) : isKeptSpecCode(first.code) ? first.code : 'REGISTRY_ERROR';
    words = first === undefined || code !== 'REGISTRY_ERROR' ? code.toLowerCase().replaceAll('_', ' ') : `registry error ${first.code}`;
    hint = hintFor(code, host, res.status);
  }
  // A registry's message saying only its code again (2.8.2's "manifest unknown") adds nothing.
  const plain = first === undefined ? words : first.code.toLowerCase().replaceAll('_', ' ');
  const said = [...new Set(entries.map((e) => e.message ?? ''))].filter((m) => m !== '' && m.toLowerCase() !== words && m.toLowerCase() !== plain);
  let message = `${host}: ${words}`;
  if (said.length > 0) message += `: ${oneLine(said.join('; '))}`;
  else if (first === undefined && fromStatus === undefined && !notFound) message += ` (status ${res.status})`;
  return registryFailure(code, message, {
    hint,
    data: {
      host,
      status: res.status,
      ...(first === undefined ? {} : { registryCode: first.code }),
      errors: entries,
      ...(header(res, 'retry-after') === undefined ? {} : { retryAfter: header(res, 'retry-after') }),
    },
  });
}

/** `protocolError` reports a response that breaks the distribution-spec. */
export function protocolError(host: string, problem: string): EbpmError {
  return registryFailure('REGISTRY_PROTOCOL', `${host}: ${problem}`, {
    hint: 'the registry does not follow the distribution-spec; report it to its operator',
    data: { host },
  });
}
