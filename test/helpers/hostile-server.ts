/**
 * A hostile HTTP server on loopback, for what a real registry cannot do on demand: answer with
 * codes from outside the distribution-spec, redirect to other origins, challenge for credentials
 * it should not get, or never finish a body. Every request is recorded, then handed to `handle`.
 *
 *   const a = await startHostile((req, res) => res.writeHead(400).end('{"errors":[...]}'));
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { serveLoopback } from './loopback.js';
import { afterEach } from 'vitest';

export interface HostileRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export interface HostileServer {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly seen: HostileRequest[];
  stop(): Promise<void>;
}

export type HostileHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** `startHostile` listens on a free loopback port and answers every request with `handle`. */
export async function startHostile(handle: HostileHandler): Promise<HostileServer> {
  const seen: HostileRequest[] = [];
  const server = await serveLoopback((req, res) => {
    seen.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    handle(req, res);
  });
  return { ...server, seen };
}

/** `hostileServers` gives a test file a `startHostile` whose servers are stopped after each test. */
export function hostileServers(): (handle: HostileHandler) => Promise<HostileServer> {
  const servers: HostileServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  return async (handle) => {
    const s = await startHostile(handle);
    servers.push(s);
    return s;
  };
}

/** `errorBody` is a distribution-spec error body holding one `{code, message}`. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}
