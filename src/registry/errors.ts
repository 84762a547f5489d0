import { type EbpmError, isEbpmError, withContext } from '../core/errors.js';
import { decodeJson, isObject } from '../core/json.js';
import { isSpecCode, registryFailure, type RegistryErrorCode } from './codes.js';
import { header, readCapped, type RegistryResponse } from './http.js';

/**
 * Registry error bodies (distribution-spec v1.1.1 §"Error Codes"): `{"errors":[{code, message,
 * detail}]}` on 4xx/5xx. A body MAY be anything else; 2.8.2 answers unknown routes with a
 * text/plain `404 page not found`. Either way the caller gets one `EbpmError`. A code the spec
 * defines stays the error's code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`, …); any other
 * code a registry sends is only data: it could otherwise pose as one of ebpm's own (`INTERNAL`
 * reads as a bug, `TRUST_*` as a trust refusal, `TIMEOUT` as a retryable failure), so it becomes
 * `REGISTRY_ERROR`. The registry's code is always kept in `data.registryCode`.
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
  404: 'NOT_FOUND',
  405: 'UNSUPPORTED',
  413: 'SIZE_INVALID',
  429: 'TOOMANYREQUESTS',
};

function hintFor(code: RegistryErrorCode, host: string, status: number): string {
  switch (code) {
    case 'UNAUTHORIZED':
    case 'DENIED':
      return `check \`ebpm login ${host}\` and that this account may access the repository`;
    case 'NAME_UNKNOWN':
      return `no such repository on ${host}; check the name, or push to create it`;
    case 'MANIFEST_UNKNOWN':
      return 'no such tag or digest in this repository; check the reference';
    case 'BLOB_UNKNOWN':
      return 'the registry does not hold this blob; push it first';
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
    case 'NOT_FOUND':
      return 'the registry has no such endpoint or content';
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
 * `registryError` reads the error body of `res` (bounded) and builds the error:
 * `<host>: <code in words>[: <registry message>]`. `fallback` maps statuses to codes when the
 * body has none (e.g. 404 → `MANIFEST_UNKNOWN` for a manifest HEAD, which has no body).
 */
export async function registryError(res: RegistryResponse, fallback: Readonly<Record<number, RegistryErrorCode>> = {}): Promise<EbpmError> {
  let entries: RegistryErrorEntry[] = [];
  try {
    entries = parseErrorBody(await readCapped(res, MAX_ERROR_BODY_BYTES, 'error body'));
  } catch {
    // An oversized or broken error body still yields an error from the status.
  }
  const host = res.url.host;
  const first = entries[0];
  const fromStatus = fallback[res.status] ?? BY_STATUS[res.status];
  const code: RegistryErrorCode =
    first === undefined ? (fromStatus ?? (res.status >= 500 ? 'UNAVAILABLE' : 'REGISTRY_ERROR')) : isSpecCode(first.code) ? first.code : 'REGISTRY_ERROR';
  const words = first === undefined || code !== 'REGISTRY_ERROR' ? code.toLowerCase().replaceAll('_', ' ') : `registry error ${first.code}`;
  const said = [...new Set(entries.map((e) => e.message ?? ''))].filter((m) => m !== '' && m.toLowerCase() !== words);
  let message = `${host}: ${words}`;
  if (said.length > 0) message += `: ${oneLine(said.join('; '))}`;
  else if (first === undefined && fromStatus === undefined) message += ` (status ${res.status})`;
  return registryFailure(code, message, {
    hint: hintFor(code, host, res.status),
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
