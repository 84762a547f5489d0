import type { EbpmError } from '../core/errors.js';
import { decodeJson, isObject } from '../core/json.js';
import { mergeScopes, parseChallenges, type Challenge } from './challenge.js';
import { header, isLoopback, readCapped, replayable, type RegistryRequest, type RegistryResponse, type Send, type Stage } from './http.js';
import { registryFailure } from './codes.js';

/**
 * Registry authentication: anonymous, Basic (RFC 7617) and the distribution token flow
 * (distribution 2.8.2 docs/spec/auth/token.md, oauth.md). The repository code never sees a
 * token: it only names the scopes a request needs; this stage answers 401 challenges, fetches
 * and caches tokens per host and scope set, and attaches them.
 */

/** A credential for one registry host, as Docker's `config.json` or a helper gives it. */
export type Credential =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user). */
  | { readonly kind: 'identity-token'; readonly token: string }
  /** A bearer token sent as it is (`registrytoken`). */
  | { readonly kind: 'registry-token'; readonly token: string };

/** `CredentialFunc` finds the credential for `host` (`host[:port]`), if any. */
export type CredentialFunc = (host: string) => Promise<Credential | undefined>;

/** `MAX_TOKEN_RESPONSE_BYTES` bounds token responses: a JWT and a few fields (oras-go uses 128 KiB). */
export const MAX_TOKEN_RESPONSE_BYTES = 128 * 1024;
/** Tokens without `expires_in` live 60 s (token.md: "defaults to 60 seconds"). */
const DEFAULT_EXPIRES_S = 60;
/** Refresh this long before expiry, so a token does not lapse in flight. */
const EXPIRY_MARGIN_MS = 5_000;

export interface AuthOptions {
  readonly credentials?: CredentialFunc;
  /** Sends token requests (retries and redirects, no auth). */
  readonly send: Send;
  /** Hosts allowed to serve a token realm over plain HTTP (besides loopback). */
  readonly insecure?: boolean | readonly string[];
  /** Injected for tests. */
  readonly now?: () => number;
}

type HostScheme = { kind: 'basic' } | { kind: 'bearer'; realm: string; service: string | undefined };

/** `basicAuthorization` is the `Authorization` value for a user and password. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function unauthorized(host: string, problem: string, data: Record<string, unknown> = {}): EbpmError {
  return registryFailure('UNAUTHORIZED', `${host}: ${problem}`, {
    hint: `check \`ebpm login ${host}\``,
    data: { host, ...data },
  });
}

/**
 * `Auth` holds one client's authentication state: the scheme each host asked for, credentials
 * looked up once per host, and tokens per host and scope set until they expire. Credentials and
 * tokens belong to the origin that asked for them: a challenge from another origin (after a
 * redirect) is answered only with that origin's own credentials.
 */
export class Auth {
  private readonly schemes = new Map<string, HostScheme>();
  private readonly creds = new Map<string, Promise<Credential | undefined>>();
  private readonly tokens = new Map<string, { token: string; expiresAt: number } | Promise<string>>();
  private readonly now: () => number;

  constructor(private readonly opts: AuthOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** `stage` is the auth `Stage` to compose into the transport. */
  readonly stage: Stage = (next) => async (req) => {
    const host = req.url.host;
    const key = `${host} ${mergeScopes(req.scopes ?? []).join(' ')}`;
    const sent = await this.cached(host, key, req);
    let res = await next(withAuthorization(req, sent));
    if (res.status === 401 && replayable(req.body) && res.url.origin === req.url.origin) {
      const authorization = await this.answer(host, key, req, challengesOf(res), sent);
      if (authorization === undefined) return res;
      await res.body.dump();
      res = await next(withAuthorization(req, authorization));
    }
    if (res.status === 401 && replayable(req.body) && res.url.origin !== req.url.origin) {
      // A redirect led to another origin, which asks for credentials: it is answered with its
      // own (looked up for its host) or its own live token, its challenge changes only its own
      // state, and the retry goes to it directly. The scopes named the first origin's
      // repository: only the challenge's count.
      const challenges = challengesOf(res);
      const there = { ...req, url: res.url, scopes: [] };
      const thereKey = `${res.url.host} ${mergeScopes(challenges.map((c) => c.params.scope ?? '')).join(' ')}`;
      const live = this.tokens.get(thereKey);
      const authorization =
        live !== undefined && !(live instanceof Promise) && live.expiresAt > this.now()
          ? `Bearer ${live.token}`
          : await this.answer(res.url.host, thereKey, there, challenges, undefined);
      if (authorization === undefined) return res;
      await res.body.dump();
      res = await next(withAuthorization(there, authorization));
    }
    return res;
  };

  private credential(host: string): Promise<Credential | undefined> {
    let p = this.creds.get(host);
    if (p === undefined) {
      p = this.opts.credentials?.(host) ?? Promise.resolve(undefined);
      this.creds.set(host, p);
    }
    return p;
  }

  /** `cached` is the `Authorization` to send first: Basic once a host asked for it, else a live token (fetched ahead when the host is known to want one). */
  private async cached(host: string, key: string, req: RegistryRequest): Promise<string | undefined> {
    const scheme = this.schemes.get(host);
    if (scheme?.kind === 'basic') {
      const c = await this.credential(host);
      return c?.kind === 'basic' ? basicAuthorization(c.username, c.password) : undefined;
    }
    const t = this.tokens.get(key);
    if (t instanceof Promise)
      return t.then(
        (token) => `Bearer ${token}`,
        () => undefined,
      );
    if (t !== undefined && t.expiresAt > this.now()) return `Bearer ${t.token}`;
    this.tokens.delete(key);
    if (scheme?.kind === 'bearer') return this.newToken(host, key, scheme.realm, scheme.service, mergeScopes(req.scopes ?? []), req.signal);
    return undefined;
  }

  private async newToken(host: string, key: string, realm: string, service: string | undefined, scopes: string[], signal?: AbortSignal): Promise<string> {
    const pending = this.fetchToken(host, realm, service, scopes, signal);
    const shared = pending.then((t) => t.token);
    shared.catch(() => undefined); // waiters see the failure; nobody waiting is not an unhandled rejection
    this.tokens.set(key, shared);
    try {
      const t = await pending;
      this.tokens.set(key, t);
      return `Bearer ${t.token}`;
    } catch (e) {
      this.tokens.delete(key);
      throw e;
    }
  }

  /** `answer` returns the `Authorization` to retry with, or `undefined` to give the 401 back. */
  private async answer(host: string, key: string, req: RegistryRequest, challenges: Challenge[], sent: string | undefined): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer !== undefined) {
      this.schemes.set(host, { kind: 'bearer', realm: bearer.params.realm!, service: bearer.params.service });
      const inflight = this.tokens.get(key);
      if (inflight instanceof Promise && sent === undefined) return inflight.then((token) => `Bearer ${token}`);
      // The challenge may name more than the request did (an upload asks pull and push).
      const scopes = mergeScopes([...(req.scopes ?? []), bearer.params.scope ?? '']);
      return this.newToken(host, key, bearer.params.realm!, bearer.params.service, scopes, req.signal);
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const c = await this.credential(host);
      if (c?.kind !== 'basic') return undefined;
      const authorization = basicAuthorization(c.username, c.password);
      if (authorization === sent) return undefined; // refused: the caller reports UNAUTHORIZED
      this.schemes.set(host, { kind: 'basic' });
      return authorization;
    }
    return undefined;
  }

  private checkRealm(host: string, realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw unauthorized(host, 'token realm is not a URL');
    }
    const insecure = this.opts.insecure ?? false;
    const plainOk = isLoopback(url.host) || insecure === true || (Array.isArray(insecure) && insecure.includes(url.host));
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && plainOk)) {
      throw unauthorized(host, `token realm ${url.origin} is not HTTPS`, { realm: url.origin });
    }
    // A remote registry must not steer the client into its own machine (oras-go validateRealm).
    if (isLoopback(url.host) && !isLoopback(host)) throw unauthorized(host, `token realm ${url.origin} is on the loopback network`, { realm: url.origin });
    return url;
  }

  private async fetchToken(
    host: string,
    realm: string,
    service: string | undefined,
    scopes: string[],
    signal?: AbortSignal,
  ): Promise<{ token: string; expiresAt: number }> {
    const url = this.checkRealm(host, realm);
    const cred = await this.credential(host);
    if (cred?.kind === 'registry-token') return { token: cred.token, expiresAt: Number.POSITIVE_INFINITY };
    let req: RegistryRequest;
    if (cred?.kind === 'identity-token') {
      // OAuth2 refresh-token grant (oauth.md); `client_id` is required there.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.token, client_id: 'ebpm', ...(service ? { service } : {}) });
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      req = { method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()), signal };
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      req = {
        method: 'GET',
        url,
        idempotent: true,
        signal,
        headers: cred?.kind === 'basic' ? { authorization: basicAuthorization(cred.username, cred.password) } : {},
      };
    }
    const started = this.now();
    const res = await this.opts.send(req);
    if (res.status === 401 || res.status === 403) {
      await res.body.dump();
      throw unauthorized(host, cred === undefined ? 'anonymous access refused' : 'credentials refused by the token server', {
        realm: url.origin,
        status: res.status,
      });
    }
    if (res.status !== 200) {
      await res.body.dump();
      throw registryFailure('UNAUTHORIZED', `${host}: token server ${url.host} answered ${res.status}`, {
        hint: "the registry's token service failed; try again later",
        data: { host, realm: url.origin, status: res.status },
      });
    }
    const parsed = decodeJson(await readCapped(res, MAX_TOKEN_RESPONSE_BYTES, 'token response'));
    const o = parsed !== undefined && isObject(parsed.value) ? parsed.value : {};
    const token = typeof o.token === 'string' && o.token !== '' ? o.token : typeof o.access_token === 'string' ? o.access_token : '';
    if (token === '') {
      throw registryFailure('UNAUTHORIZED', `${host}: token server ${url.host} sent no token`, {
        hint: "the registry's token service is broken; report it to its operator",
        data: { host, realm: url.origin, contentType: header(res, 'content-type') },
      });
    }
    const expiresIn = typeof o.expires_in === 'number' && o.expires_in > 0 ? o.expires_in : DEFAULT_EXPIRES_S;
    return { token, expiresAt: started + expiresIn * 1000 - EXPIRY_MARGIN_MS };
  }
}

function challengesOf(res: RegistryResponse): Challenge[] {
  return parseChallenges([res.headers['www-authenticate'] ?? []].flat().join(', '));
}

function withAuthorization(req: RegistryRequest, authorization: string | undefined): RegistryRequest {
  if (authorization === undefined) return req;
  return { ...req, headers: { ...req.headers, authorization } };
}
