/**
 * A loopback HTTP proxy between a client and a real registry that injects faults on chosen
 * requests. Requests pass through untouched (the `Host` header too, so the registry's absolute
 * `Location`s point back at the proxy) unless a rule matches:
 *
 *   const proxy = await startFaultProxy(registry.url);
 *   proxy.add({ method: 'GET', path: /\/blobs\//, fault: { kind: 'drop', afterBytes: 4096 } });
 *   proxy.add({ path: /manifests/, times: 2, fault: { kind: 'status', status: 503 } });
 *
 * Rules are tried in the order added; each fires `times` times (default 1) and is then spent.
 * `proxy.log` records every request with the fault applied to it.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { serveLoopback } from './loopback.js';

export type Fault =
  /** Forward untouched (spends the rule: lets the next rule hit a later request). */
  | { kind: 'pass' }
  /** Run `action` (another client's request, say), then forward untouched: something happening between two of a client's requests. */
  | { kind: 'before'; action: () => Promise<void> }
  /** Answer this status without asking the registry (e.g. 500, or 429 with `Retry-After`). */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string; contentType?: string }
  /** Forward, send the headers and `afterBytes` of the body, then cut the connection. */
  | { kind: 'drop'; afterBytes: number }
  /** Cut the connection once `afterBytes` of the request body arrived: the registry never sees the request. */
  | { kind: 'reset'; afterBytes: number }
  /** Forward, but answer a well-formed response holding only the first `bytes` of the body. */
  | { kind: 'truncate'; bytes: number }
  /** Forward, but flip the bits of the body byte at `offset`. */
  | { kind: 'corrupt'; offset: number }
  /** Wait `ms` before sending the headers (`headers`, default) or after them (`body`). */
  | { kind: 'stall'; ms: number; phase?: 'headers' | 'body' }
  /** Forward, then replace the status, headers and/or body of the answer (a misbehaving server). */
  | { kind: 'rewrite'; status?: number; headers?: Record<string, string>; dropHeaders?: string[]; body?: Uint8Array | string };

export interface Rule {
  method?: string;
  /** Matched against the path with query string. */
  path?: RegExp | string;
  /** How many matching requests the rule applies to (default 1; `Infinity` for all). */
  times?: number;
  fault: Fault;
}

export interface ProxyLogEntry {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly fault: Fault['kind'] | undefined;
  /** When the proxy received it (ms since the epoch): how long a client waited between two requests. */
  readonly at: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: string;
  readonly log: ProxyLogEntry[];
  add(rule: Rule): void;
  /** Resolves once a request matching `method` and `path` has arrived (now or earlier); the test's timeout is the only deadline. */
  requested(method: string, path: RegExp): Promise<void>;
  /** Forget unspent rules and the log. */
  reset(): void;
  stop(): Promise<void>;
}

function matches(rule: Rule, method: string, path: string): boolean {
  if (rule.method && rule.method !== method) return false;
  if (rule.path === undefined) return true;
  return typeof rule.path === 'string' ? path.startsWith(rule.path) : rule.path.test(path);
}

async function readAll(s: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function sleep(ms: number, res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(true), ms);
    res.once('close', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** `startFaultProxy` listens on a free loopback port in front of `target` (`http://host:port`). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: Array<Rule & { left: number }> = [];
  const log: ProxyLogEntry[] = [];
  /** Callers of `requested` still waiting. */
  const waiting = new Set<() => void>();

  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: false }, resolve);
      up.once('error', reject);
      up.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const rule = rules.find((r) => r.left > 0 && matches(r, method, path));
    if (rule) rule.left--;
    const fault = rule?.fault;
    log.push({ method, path, headers: req.headers, fault: fault?.kind, at: Date.now() });
    for (const w of waiting) w();
    if (fault?.kind === 'reset') {
      let received = 0;
      for await (const c of req) {
        received += (c as Buffer).byteLength;
        if (received >= fault.afterBytes) break;
      }
      req.socket.destroy();
      return;
    }
    const body = await readAll(req);
    if (fault?.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': fault.contentType ?? 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      res.writeHead(fault.status, headers).end(fault.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'injected fault' }] }));
      return;
    }
    if (fault?.kind === 'stall' && (fault.phase ?? 'headers') === 'headers' && !(await sleep(fault.ms, res))) return;
    if (fault?.kind === 'before') await fault.action();
    const up = await forward(req, body);
    const headers = { ...up.headers };
    switch (fault?.kind) {
      case undefined:
      case 'pass':
      case 'before':
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
        return;
      case 'stall':
        res.writeHead(up.statusCode ?? 502, headers);
        res.flushHeaders();
        if (fault.phase === 'body' && !(await sleep(fault.ms, res))) return;
        up.pipe(res);
        return;
      case 'drop': {
        res.writeHead(up.statusCode ?? 502, headers);
        const all = await readAll(up);
        // Cut once the bytes are with the kernel, which still sends them before the FIN.
        res.write(all.subarray(0, fault.afterBytes), () => req.socket.destroy());
        return;
      }
      case 'truncate':
      case 'corrupt': {
        let all = await readAll(up);
        if (fault.kind === 'truncate') all = all.subarray(0, fault.bytes);
        else all[fault.offset]! ^= 0xff;
        delete headers['transfer-encoding'];
        headers['content-length'] = String(all.length);
        res.writeHead(up.statusCode ?? 502, headers).end(all);
        return;
      }
      case 'rewrite': {
        let all = await readAll(up);
        if (fault.body !== undefined) {
          all = Buffer.from(fault.body);
          delete headers['transfer-encoding'];
          headers['content-length'] = String(all.length);
        }
        for (const h of fault.dropHeaders ?? []) delete headers[h];
        Object.assign(headers, fault.headers ?? {});
        res.writeHead(fault.status ?? up.statusCode ?? 502, headers).end(all);
        return;
      }
    }
  };

  return {
    ...(await serveLoopback(handle)),
    log,
    add(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    requested: (method, path) =>
      new Promise((resolve) => {
        const check = () => {
          if (!log.some((l) => matches({ method, path, fault: { kind: 'pass' } }, l.method, l.path))) return;
          waiting.delete(check);
          resolve();
        };
        waiting.add(check);
        check();
      }),
    reset() {
      rules.length = 0;
      log.length = 0;
    },
  };
}
