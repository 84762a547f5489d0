// The agent's control socket: a Unix socket speaking line-delimited JSON. A client sends one
// request line; the agent answers with one line (`ps`, `stop`, `start`, `rescan`) or with the
// instance's lines, one per line, until the client goes (`logs` with `follow`).
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { EbpmError, isEbpmError } from '../../core/errors.js';
import type { Supervisor } from './supervisor.js';

export const DEFAULT_SOCKET = '/run/ebpm/agent.sock';

/** One request of the protocol. */
export type Request =
  | { readonly op: 'ps' }
  | { readonly op: 'logs'; readonly name: string; readonly lines: number; readonly follow: boolean }
  | { readonly op: 'stop'; readonly name: string }
  | { readonly op: 'start'; readonly name: string }
  | { readonly op: 'rescan' };

/** An answer that is not a line of `logs`: `ok` and what was asked, or the error. */
export type Reply =
  | { readonly ok: true; readonly [k: string]: unknown }
  | { readonly ok: false; readonly error: { code: string; message: string; hint?: string } };

/**
 * `listenControl` serves `supervisor` on `path`: mode 0660 and, when `gid` is given, owned by
 * that group, so its members run `ebpm ps` without root. A socket file left by an agent that is
 * gone is replaced; a live agent on it is an error.
 */
export async function listenControl(path: string, supervisor: Supervisor, gid: number | undefined): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (await answers(path)) {
    throw new EbpmError('AGENT_RUNNING', `agent: ${path}: another agent is listening`, { hint: 'stop it first, or give this one another --socket' });
  }
  rmSync(path, { force: true });
  const server = createServer((socket) => void serve(socket, supervisor));
  server.listen(path);
  await once(server, 'listening');
  chmodSync(path, 0o660);
  if (gid !== undefined) chownSync(path, -1, gid);
  return server;
}

async function answers(path: string): Promise<boolean> {
  const s = connect(path);
  try {
    await once(s, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    s.destroy();
  }
}

async function serve(socket: Socket, supervisor: Supervisor): Promise<void> {
  socket.on('error', () => undefined);
  const reader = createInterface({ input: socket });
  const { value: line } = (await reader[Symbol.asyncIterator]().next()) as IteratorResult<string, undefined>;
  reader.close();
  // Read on (and drop) what the client sends, so its going away is seen and ends a `logs -f`.
  socket.resume();
  if (line === undefined) return void socket.destroy();
  try {
    const req = parseRequest(line);
    switch (req.op) {
      case 'ps':
        return reply(socket, { ok: true, ...supervisor.status() });
      case 'stop':
        await supervisor.stopInstance(req.name);
        return reply(socket, { ok: true });
      case 'start':
        await supervisor.startInstance(req.name);
        return reply(socket, { ok: true });
      case 'rescan':
        await supervisor.rescan();
        return reply(socket, { ok: true });
      case 'logs': {
        const lines = supervisor.lines(req.name);
        socket.write(JSON.stringify({ ok: true }) + '\n');
        for (const l of lines.tail(req.lines)) socket.write(JSON.stringify({ line: l }) + '\n');
        if (!req.follow) return void socket.end();
        const stop = lines.follow((l) => socket.write(JSON.stringify({ line: l }) + '\n'));
        socket.once('close', stop);
        return;
      }
    }
  } catch (e) {
    const error = isEbpmError(e)
      ? { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }
      : { code: 'INTERNAL', message: (e as Error).message };
    reply(socket, { ok: false, error });
  }
}

function reply(socket: Socket, r: Reply): void {
  socket.end(JSON.stringify(r) + '\n');
}

/** `parseRequest` narrows a request line from a client; anything else is `AGENT_BAD_REQUEST`. */
export function parseRequest(line: string): Request {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw badRequest('not JSON');
  }
  if (typeof o !== 'object' || o === null) throw badRequest('not an object');
  const name = () => {
    if (typeof o.name !== 'string') throw badRequest(`${String(o.op)}: name: expected a string`);
    return o.name;
  };
  switch (o.op) {
    case 'ps':
    case 'rescan':
      return { op: o.op };
    case 'stop':
    case 'start':
      return { op: o.op, name: name() };
    case 'logs': {
      const lines = o.lines ?? 100;
      if (!Number.isSafeInteger(lines) || (lines as number) < 0) throw badRequest('logs: lines: expected a whole number');
      return { op: 'logs', name: name(), lines: lines as number, follow: o.follow === true };
    }
    default:
      throw badRequest(`unknown op ${JSON.stringify(o.op)}`);
  }
}

function badRequest(why: string): EbpmError {
  return new EbpmError('AGENT_BAD_REQUEST', `agent: bad request: ${why}`);
}

/**
 * `request` sends one request to the agent on `path` and calls `onLine` with every line it
 * answers, parsed, until the agent closes the connection. A refusal comes back as the agent's
 * error.
 */
export async function request(path: string, req: Request, onLine: (o: Record<string, unknown>) => void = () => undefined): Promise<Reply> {
  const socket = connect(path);
  try {
    await once(socket, 'connect');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new EbpmError(
      'AGENT_UNREACHABLE',
      `agent ${path}: ${code === 'EACCES' ? 'permission denied' : code === 'ENOENT' || code === 'ECONNREFUSED' ? 'not running' : (e as Error).message}`,
      {
        hint:
          code === 'EACCES'
            ? "ask for membership of the socket's group (the agent's --group)"
            : 'start it (`systemctl start ebpm-agent`), or give its socket with --socket',
      },
    );
  }
  socket.write(JSON.stringify(req) + '\n');
  let first: Reply | undefined;
  for await (const line of createInterface({ input: socket })) {
    const o = JSON.parse(line as string) as Record<string, unknown>;
    if (first === undefined) first = o as Reply;
    else onLine(o);
  }
  if (first === undefined) throw new EbpmError('AGENT_UNREACHABLE', `agent ${path}: closed the connection without an answer`, { hint: "see the agent's log" });
  if (!first.ok) throw new EbpmError(first.error.code, first.error.message, { hint: first.error.hint });
  return first;
}
