import type { Agent as HttpAgent, IncomingMessage, request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { EbpmError } from '../core/errors.js';
import type { Content } from '../content/storage.js';
import { registryFailure, type RegistryErrorCode } from './codes.js';
import { DEFAULT_REQUEST_DEADLINE_MS, deadline } from './deadline.js';

/*
 * The registry client's one seam to the network, after oras-go's one-method `Client`
 * (registry/remote/repository.go): a `Send` turns a request into a response, and the stages in
 * auth.ts, retry.ts, redirect.ts and log.ts each wrap a `Send` into another. Only the innermost
 * stage (`wireSend`) touches the network, through node:http and node:https.
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

/** `replayable` tells bytes (sendable again) from a one-shot stream. */
export function replayable(body: RegistryRequest['body']): body is Uint8Array | undefined {
  return body === undefined || body instanceof Uint8Array;
}

/** `header` reads a single-valued response header. */
export function header(res: Pick<RegistryResponse, 'headers'>, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Errors of node's sockets, TLS and HTTP client that mean "the connection failed", to be retried or resumed. */
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
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
]);
/** The two waits `wireSend` bounds (`Timeouts`), as the `code` of the error it fails them with. */
const HEADERS_TIMEOUT = 'HEADERS_TIMEOUT';
const BODY_TIMEOUT = 'BODY_TIMEOUT';
const TIMEOUT_CODES = new Set([HEADERS_TIMEOUT, BODY_TIMEOUT]);

/**
 * `transportError` turns a node socket, TLS or HTTP failure into `TIMEOUT` or `REGISTRY_UNREACHABLE`
 * (both retryable), or returns `undefined` for anything else (aborts, bugs).
 */
export function transportError(e: unknown, req: Pick<RegistryRequest, 'method' | 'url'>): EbpmError | undefined {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const where = req.url.host;
  if (TIMEOUT_CODES.has(code)) {
    return registryFailure('TIMEOUT', `${where}: ${code === HEADERS_TIMEOUT ? 'no response in time' : 'response body stalled'}`, {
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

/**
 * `CONNECTIONS_PER_HOST` bounds the keep-alive connections to one registry: several blobs and
 * packages move at once, each request on a connection of its own.
 */
const CONNECTIONS_PER_HOST = 8;
/**
 * `DUMP_LIMIT` is how much of an unwanted body (an error page, a 404's JSON) is read and dropped
 * so that its connection can serve the next request; a longer one closes the connection instead.
 */
const DUMP_LIMIT = 128 << 10;

/**
 * `READ_BUFFER_BYTES` is how much a connection reads ahead of its consumer (the socket's and so
 * the response's high-water mark): 1 MiB, as the store writes, instead of 16 KiB, so that a blob
 * body arrives in pieces of up to 1 MiB rather than pausing and resuming the socket every 64 KiB.
 */
const READ_BUFFER_BYTES = 1 << 20;

/**
 * `WRITE_BUFFER_BYTES` is how much an upload may queue on its connection (the socket's
 * writable high-water mark): 4 MiB, four of the store's 1 MiB reads. At 16 KiB every chunk
 * written would pause the body until the socket drained it, so reading and hashing the next
 * chunk waited for the send instead of running beside it (about 5 % of a 64 MiB push here).
 */
const WRITE_BUFFER_BYTES = 4 << 20;

// Agent options reach the sockets an agent creates (net.Socket's stream options).
const AGENT_OPTIONS = {
  keepAlive: true,
  maxSockets: CONNECTIONS_PER_HOST,
  readableHighWaterMark: READ_BUFFER_BYTES,
  writableHighWaterMark: WRITE_BUFFER_BYTES,
};

interface Transport {
  readonly request: typeof httpRequest;
  readonly agent: HttpAgent;
}
let plain: Promise<Transport> | undefined;
let secure: Promise<Transport> | undefined;
/**
 * `transportFor` is the request function and the keep-alive pool (one per scheme for the whole
 * process; idle connections do not keep it alive) for `url`. node:http loads with the first
 * request (`ebpm push`'s start-up snapshot evaluates this module, which Node 20 cannot do with
 * node:http loaded), node:https (and TLS) with the first HTTPS request: a loopback or plain-HTTP
 * registry does not pay for it.
 */
async function transportFor(url: URL): Promise<Transport> {
  if (url.protocol !== 'https:') {
    plain ??= import('node:http').then((http) => ({ request: http.request, agent: new http.Agent(AGENT_OPTIONS) }));
    return plain;
  }
  secure ??= import('node:https').then((https) => ({ request: https.request, agent: new https.Agent(AGENT_OPTIONS) }));
  return secure;
}

/**
 * `wireSend` is the innermost stage: one HTTP/1.1 exchange through node:http or node:https,
 * whose parser (llhttp, compiled in) hands the body on as slices of the socket's reads, without
 * another copy. `headersMs` bounds the wait for the response (connecting and uploading included:
 * it is reset by every byte the socket moves), `bodyMs` each wait between two body chunks, and
 * `requestMs` the exchange as a whole; an abort or the deadline fails the request and its body
 * with the signal's reason.
 */
export function wireSend(timeouts: Timeouts = {}): Send {
  const headersMs = timeouts.headersMs ?? 30_000;
  const bodyMs = timeouts.bodyMs ?? 30_000;
  return async (req) => {
    const limit = deadline(
      timeouts.requestMs ?? DEFAULT_REQUEST_DEADLINE_MS,
      `${req.url.host}: ${req.method} ${req.url.pathname}`,
      'the registry is too slow to answer in time; try again later, or raise EBPM_HTTP_DEADLINE_MS',
      req.signal,
    );
    const { request, agent } = await transportFor(req.url);
    const out = request(req.url, { method: req.method, headers: { 'user-agent': USER_AGENT, ...req.headers }, agent, timeout: headersMs });
    let res: IncomingMessage | undefined;
    const abort = () => {
      out.destroy(limit.signal.reason);
      res?.destroy(limit.signal.reason);
    };
    const done = () => {
      limit.clear();
      limit.signal.removeEventListener('abort', abort);
    };
    out.on('timeout', () => {
      if (res === undefined) out.destroy(timeoutError(HEADERS_TIMEOUT, headersMs));
      else res.destroy(timeoutError(BODY_TIMEOUT, bodyMs));
    });
    if (limit.signal.aborted) abort();
    else limit.signal.addEventListener('abort', abort, { once: true });
    try {
      res = await new Promise<IncomingMessage>((resolve, reject) => {
        out.once('response', resolve);
        out.on('error', reject);
        if (req.body === undefined || req.body instanceof Uint8Array) out.end(req.body);
        else {
          // A failing source (a mismatch) fails the request with its own error; a request that
          // ends first (an early answer, a broken connection) stops reading the source.
          const source = Readable.from(req.body, { objectMode: false });
          source.once('error', (e) => out.destroy(e));
          out.once('close', () => source.destroy());
          source.pipe(out);
        }
      });
      out.setTimeout(bodyMs);
      res.once('close', done);
      // A body that fails before anyone reads it (a stall, an abort) must not crash the process;
      // its reader still gets the error (async iteration reports a stream's earlier failure).
      res.on('error', () => undefined);
      const body = Object.assign(res, { dump: () => dump(body) });
      return { status: res.statusCode ?? 0, headers: res.headers, body, url: req.url };
    } catch (e) {
      done();
      if (limit.signal.aborted) throw limit.signal.reason;
      throw transportError(e, req) ?? e;
    }
  };
}

function timeoutError(code: string, ms: number): Error {
  return Object.assign(new Error(`no data for ${ms} ms`), { code });
}

/** `dump` reads and drops what is left of a body, up to `DUMP_LIMIT`, then lets the connection go. */
async function dump(res: IncomingMessage): Promise<void> {
  let n = 0;
  res.on('data', (chunk: Uint8Array) => {
    n += chunk.byteLength;
    if (n > DUMP_LIMIT) res.destroy();
  });
  res.resume();
  await finished(res).catch(() => undefined);
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
