import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EbpmError } from '../core/errors.js';
import type { Content } from '../content/storage.js';
import { registryFailure, type RegistryErrorCode } from './codes.js';

/*
 * The registry client's one seam to the network, after oras-go's one-method `Client`
 * (registry/remote/repository.go): a `Send` turns a request into a response, and the stages in
 * auth.ts, retry.ts, redirect.ts and log.ts each wrap a `Send` into another. Only the innermost
 * stage (`dispatcherSend`) touches undici, through an injected `Dispatcher`.
 */

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  readonly method: Method;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /** Bytes can be sent again (after a 401, a redirect, a retry); a stream is sent once. */
  readonly body?: Uint8Array | Content;
  /** Token scopes the request needs (`repository:a/b:pull`), for the auth stage. */
  readonly scopes?: readonly string[];
  /** Safe to repeat on connection errors, 5xx and 429 (the retry stage repeats nothing else). */
  readonly idempotent?: boolean;
  /** May be `undefined`: every operation forwards its own optional `signal` parameter here. */
  readonly signal?: AbortSignal | undefined;
}

export interface RegistryResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Readable & { dump(): Promise<void> };
  /** Where the response came from, after redirects: relative `Location`s resolve against it. */
  readonly url: URL;
}

export type Send = (req: RegistryRequest) => Promise<RegistryResponse>;
/** `Stage` wraps a `Send` (auth, retries, redirects, logging). */
export type Stage = (next: Send) => Send;

export interface Timeouts {
  /** Milliseconds to wait for the response headers (default 30 s). */
  readonly headersMs?: number;
  /** Milliseconds allowed between two body chunks (default 30 s). */
  readonly bodyMs?: number;
  /**
   * Milliseconds one exchange may take in all, from the request to the last body byte (default
   * `DEFAULT_REQUEST_DEADLINE_MS`): the two above are per wait, so a server trickling a byte
   * now and then would otherwise hold a request forever. Not retried.
   */
  readonly requestMs?: number;
  /** Milliseconds one pull may take in all (default `DEFAULT_PULL_DEADLINE_MS`); services/pull.ts applies it. */
  readonly pullMs?: number;
}

/** `DEFAULT_REQUEST_DEADLINE_MS` is 10 minutes: a 1 GiB blob at under 2 MB/s. */
export const DEFAULT_REQUEST_DEADLINE_MS = 10 * 60_000;
/** `DEFAULT_PULL_DEADLINE_MS` is 30 minutes for a whole pull (resolve, trust, every blob). */
export const DEFAULT_PULL_DEADLINE_MS = 30 * 60_000;

/**
 * `deadline` is `signal` (if any) that also aborts after `ms`, with a `DEADLINE_EXCEEDED` error
 * naming `what` as the reason (so whatever the abort interrupts rejects with it); `clear` stops
 * the timer. The timer does not keep the process alive.
 */
export function deadline(ms: number, what: string, hint: string, signal?: AbortSignal): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(registryFailure('DEADLINE_EXCEEDED', `${what} not done within ${ms} ms`, { hint, data: { deadlineMs: ms } })),
    ms,
  );
  timer.unref();
  return {
    signal: signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]),
    clear: () => clearTimeout(timer),
  };
}

let shared: Promise<Dispatcher> | undefined;
/**
 * `defaultDispatcher` is one keep-alive `Agent` for the whole process. undici loads with it, when
 * a registry client is first made: a command that opens a context but talks to no registry (a
 * local `run` reading its trust policy) does not pay the half megabyte of bundle it costs.
 */
export function defaultDispatcher(): Promise<Dispatcher> {
  shared ??= import('./undici-agent.js').then(({ Agent }) => new Agent({ connections: 8 }));
  return shared;
}

/** `replayable` tells bytes (sendable again) from a one-shot stream. */
export function replayable(body: RegistryRequest['body']): body is Uint8Array | undefined {
  return body === undefined || body instanceof Uint8Array;
}

/** `header` reads a single-valued response header. */
export function header(res: Pick<RegistryResponse, 'headers'>, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Errors of undici and node that mean "the connection failed", to be retried or resumed. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPROTO',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * `transportError` turns an undici/node failure into `TIMEOUT` or `REGISTRY_UNREACHABLE`
 * (both retryable), or returns `undefined` for anything else (aborts, bugs).
 */
export function transportError(e: unknown, req: Pick<RegistryRequest, 'method' | 'url'>): EbpmError | undefined {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const where = req.url.host;
  if (TIMEOUT_CODES.has(code)) {
    return registryFailure('TIMEOUT', `${where}: ${code === 'UND_ERR_HEADERS_TIMEOUT' ? 'no response in time' : 'response body stalled'}`, {
      cause: e,
      hint: 'the registry is slow or unreachable; try again later',
      data: { host: req.url.host, transportCode: code },
    });
  }
  if (CONNECTION_CODES.has(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
    return registryFailure('REGISTRY_UNREACHABLE', `${where}: connection failed (${code})`, {
      cause: e,
      hint:
        code.startsWith('ERR_SSL') || code === 'EPROTO'
          ? `is ${req.url.host} a plain-HTTP registry? pass --plain-http or add it to the config's insecure list`
          : `check that ${req.url.host} is reachable`,
      data: { host: req.url.host, transportCode: code },
    });
  }
  return undefined;
}

/** `isRetryable` tells transport failures worth another attempt. */
export function isRetryable(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'TIMEOUT' || code === 'REGISTRY_UNREACHABLE';
}

/** `dispatcherSend` is the innermost stage: one HTTP exchange through `dispatcher`. */
export function dispatcherSend(dispatcher: Dispatcher | Promise<Dispatcher>, timeouts: Timeouts = {}): Send {
  return async (req) => {
    const body = req.body === undefined || req.body instanceof Uint8Array ? req.body : Readable.from(req.body, { objectMode: false });
    const limit = deadline(
      timeouts.requestMs ?? DEFAULT_REQUEST_DEADLINE_MS,
      `${req.url.host}: ${req.method} ${req.url.pathname}`,
      'the registry is too slow to answer in time; try again later, or raise EBPM_HTTP_DEADLINE_MS',
      req.signal,
    );
    try {
      const res = await (await dispatcher).request({
        origin: req.url.origin,
        path: req.url.pathname + req.url.search,
        method: req.method,
        headers: { 'user-agent': USER_AGENT, ...req.headers },
        body: body ?? null,
        signal: limit.signal,
        headersTimeout: timeouts.headersMs ?? 30_000,
        bodyTimeout: timeouts.bodyMs ?? 30_000,
      });
      res.body.once('close', limit.clear);
      return { status: res.statusCode, headers: res.headers, body: res.body, url: req.url };
    } catch (e) {
      limit.clear();
      if (limit.signal.aborted && req.signal?.aborted !== true) throw limit.signal.reason;
      throw transportError(e, req) ?? e;
    }
  };
}

/** `USER_AGENT` names ebpm to registries. */
export const USER_AGENT = 'ebpm';

/**
 * `readCapped` reads a whole response body, failing with `code` (default `RESPONSE_TOO_LARGE`)
 * past `limit` bytes without buffering more (the declared `Content-Length` is not trusted).
 */
export async function readCapped(
  res: RegistryResponse,
  limit: number,
  what: string,
  code: RegistryErrorCode = 'RESPONSE_TOO_LARGE',
  hint = 'the registry sent far more than this kind of response ever needs; it is broken or hostile',
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      n += chunk.byteLength;
      if (n > limit) {
        res.body.destroy();
        throw registryFailure(code, `${res.url.host}: ${what} is over the ${limit}-byte limit`, {
          hint,
          data: { host: res.url.host, limit },
        });
      }
      chunks.push(chunk);
    }
  } catch (e) {
    throw transportError(e, { method: 'GET', url: res.url }) ?? e;
  }
  return Buffer.concat(chunks);
}

/** `httpUrl` resolves `value` against `base`; `undefined` unless the result is an http(s) URL. */
export function httpUrl(value: string, base: URL): URL | undefined {
  if (!URL.canParse(value, base)) return undefined;
  const url = new URL(value, base);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
}

/** `quoted` shows a URL a registry sent, bounded and with control characters escaped. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

/**
 * `resolveLocation` resolves a `Location`/`Link` target against the response it came with; one
 * missing, malformed or not http(s) (`file:`, `ftp:`) is the registry's fault.
 */
export function resolveLocation(res: RegistryResponse, value: string | undefined, what: string): URL {
  const url = value === undefined || value === '' ? undefined : httpUrl(value, res.url);
  if (url === undefined) {
    throw registryFailure(
      'REGISTRY_PROTOCOL',
      `${res.url.host}: ${what} ${value === undefined || value === '' ? 'without a location' : `at ${quoted(value)}, not an http(s) URL`}`,
      {
        hint: 'the registry does not follow the distribution-spec; report it to its operator',
        data: { host: res.url.host, status: res.status },
      },
    );
  }
  return url;
}

/** `isLoopback` is true for 127.0.0.0/8, ::1 and localhost, with or without a port. */
export function isLoopback(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * `schemeFor` is HTTPS unless the host is loopback or the caller marked it insecure
 * (`--plain-http`, the config's insecure list): credentials never cross a network in clear.
 */
export function schemeFor(host: string, insecure: boolean | readonly string[] = false): 'http' | 'https' {
  if (isLoopback(host)) return 'http';
  if (insecure === true) return 'http';
  return Array.isArray(insecure) && insecure.includes(host) ? 'http' : 'https';
}
