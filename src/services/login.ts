/**
 * `ebpm login` / `ebpm logout`: credentials are checked against the registry before they are
 * stored, and kept where Docker keeps them (registry/credentials.ts), so docker, skopeo and oras
 * share them. The embedded registry needs none.
 */
import { EMBEDDED_REGISTRY } from '../core/config.js';
import { EbpmError, isEbpmError } from '../core/errors.js';
import { login, logout } from '../registry/credentials.js';
import type { Context } from './context.js';

/** `LoginHost` is the registry a `login` or `logout` argument names. */
export interface LoginHost {
  /** `host[:port]`: what credentials are kept under. */
  readonly host: string;
  /** Given as `http://…`: the registry speaks plain HTTP. */
  readonly plainHttp: boolean;
}

/**
 * `loginHost` reads `host[:port]`, or a URL of it as users paste them (`https://ghcr.io/`,
 * `http://10.0.0.5:5000`; a path other than `/` or `/v2/` is refused). Pure.
 */
export function loginHost(input: string, verb: 'login' | 'logout'): LoginHost {
  const url = /^(https?):\/\/([^/]*)(\/(?:v2\/?)?)?$/i.exec(input);
  const host = url === null ? input : url[2]!;
  if (host === EMBEDDED_REGISTRY) {
    throw new EbpmError('USAGE', `${verb} ${host}: the embedded registry takes no credentials`, {
      hint: 'log in to a registry server, e.g. ebpm login ghcr.io -u <user>',
    });
  }
  if (!/^[A-Za-z0-9.[\]:-]+$/.test(host)) {
    throw new EbpmError('USAGE', `${verb} ${JSON.stringify(input.slice(0, 100))}: not host[:port]`, {
      hint: 'give the registry host, e.g. ghcr.io, 127.0.0.1:5000 or https://ghcr.io',
    });
  }
  return { host, plainHttp: url?.[1]?.toLowerCase() === 'http' };
}

/** `loginTo` checks and stores credentials for `host` (`loginHost`'s); returns where they went. */
export async function loginTo(
  ctx: Context,
  host: string,
  username: string,
  password: string,
  signal?: AbortSignal,
): Promise<{ host: string; stored: 'helper' | 'file'; where: string }> {
  const { credentials: _ignored, ...client } = ctx.client;
  const r = await login(host, username, password, { env: ctx.env, client, ...(signal ? { signal } : {}) }).catch((e: unknown) => {
    // The registry's own hint says to check `ebpm login`: the very command that failed.
    if (!isEbpmError(e) || !['UNAUTHORIZED', 'DENIED'].includes(e.code)) throw e;
    throw new EbpmError(e.code, e.message, { hint: `check the user name and password (or token) for ${host}`, data: e.data, cause: e });
  });
  return { host, ...r };
}

/** `logoutOf` forgets `host`'s credentials (`loginHost`'s); false when there were none. */
export async function logoutOf(ctx: Context, host: string): Promise<boolean> {
  return logout(host, { env: ctx.env });
}
