/**
 * `ebpm login` / `ebpm logout`: credentials are checked against the registry before they are
 * stored, and kept where Docker keeps them (registry/credentials.ts), so docker, skopeo and oras
 * share them. The embedded registry needs none.
 */
import { EMBEDDED_REGISTRY } from '../core/config.js';
import { EbpmError, isEbpmError } from '../core/errors.js';
import { login, logout } from '../registry/credentials.js';
import type { Context } from './context.js';

function checkHost(host: string): void {
  if (host === EMBEDDED_REGISTRY) {
    throw new EbpmError('USAGE', `login ${host}: the embedded registry takes no credentials`, {
      hint: 'log in to a registry server, e.g. ebpm login ghcr.io -u <user>',
    });
  }
  if (!/^[A-Za-z0-9.[\]:-]+$/.test(host)) {
    throw new EbpmError('USAGE', `login ${JSON.stringify(host.slice(0, 100))}: not host[:port]`, {
      hint: 'give the registry host, e.g. ghcr.io or 127.0.0.1:5000',
    });
  }
}

/** `loginTo` checks and stores credentials for `host`; returns where they went. */
export async function loginTo(
  ctx: Context,
  host: string,
  username: string,
  password: string,
  signal?: AbortSignal,
): Promise<{ host: string; stored: 'helper' | 'file'; where: string }> {
  checkHost(host);
  const { credentials: _ignored, ...client } = ctx.client;
  const r = await login(host, username, password, { env: ctx.env, client, ...(signal ? { signal } : {}) }).catch((e: unknown) => {
    // The registry's own hint says to check `ebpm login`: the very command that failed.
    if (!isEbpmError(e) || !['UNAUTHORIZED', 'DENIED'].includes(e.code)) throw e;
    throw new EbpmError(e.code, e.message, { hint: `check the user name and password (or token) for ${host}`, data: e.data, cause: e });
  });
  return { host, ...r };
}

/** `logoutOf` forgets `host`'s credentials; false when there were none. */
export async function logoutOf(ctx: Context, host: string): Promise<boolean> {
  checkHost(host);
  return logout(host, { env: ctx.env });
}
