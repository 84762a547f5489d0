/*
 * undici's `Agent` without the rest of undici. The package entry loads everything it offers
 * (fetch, WebSocket, caches, mocks, proxies): about 1 MiB of bundle, some 40 ms of start-up
 * for every command that talks to a registry. The client needs one keep-alive dispatcher and
 * its `request` API, which the entry attaches to `Dispatcher.prototype`; this does the same with
 * those three modules only (lib/api/index.js and index.js). The deep imports are why
 * package.json pins undici to one exact version: lib/ is not undici's public API.
 */
import type * as undici from 'undici';
import AgentImpl from 'undici/lib/dispatcher/agent.js';
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';
import request from 'undici/lib/api/api-request.js';

(DispatcherImpl as unknown as { prototype: { request?: unknown } }).prototype.request ??= request;

/** `Agent` is undici's `Agent`, with `request` as the package entry gives it. */
export const Agent = AgentImpl as unknown as typeof undici.Agent;
