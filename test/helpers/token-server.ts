/**
 * A Bearer token server for distribution 2.8.2's `auth.token` (docs/spec/auth/token.md): it
 * answers `GET /token?service=…&scope=…` with an ES256 JWT signed by a throw-away self-signed
 * P-256 certificate (made with `openssl`, which is on the machine; node:crypto cannot issue
 * certificates) that the registry trusts through `rootcertbundle`.
 *
 * Users authenticate with Basic; a missing Authorization is the anonymous user `''`. Grants are
 * per user and per repository (`'*'` matches every repository); partial grants are not errors,
 * as in the spec: the token simply carries fewer actions. Every request is recorded so tests
 * can count token fetches per scope.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveLoopback } from './loopback.js';
import { join } from 'node:path';

/** `Grants[user][repository]` lists the actions (`pull`, `push`, `delete`, `*`) the user gets. */
export type Grants = Record<string, Record<string, string[]>>;

export interface TokenRequest {
  /** The authenticated user, `''` for anonymous. */
  readonly user: string;
  readonly service: string | null;
  readonly scopes: readonly string[];
}

export interface TokenServer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly certPath: string;
  /** Every token request answered with a token, in order. */
  readonly requests: TokenRequest[];
  /** Requests that failed authentication (wrong password, unknown user). */
  readonly rejected: number;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  users: Record<string, string>;
  /** Default: every user may pull, push and delete everywhere and list the catalog; anonymous nothing. */
  grants?: Grants;
  /** `expires_in` of issued tokens, in seconds (default 300). */
  expiresIn?: number;
  /** Directory for the key and certificate. */
  dir: string;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function allowed(grants: Grants, user: string, type: string, name: string, wanted: string[]): string[] {
  const mine = grants[user] ?? {};
  const key = type === 'registry' ? `registry:${name}` : name;
  const have = new Set([...(mine[key] ?? []), ...(type === 'repository' ? (mine['*'] ?? []) : [])]);
  return wanted.filter((a) => have.has(a) || have.has('*'));
}

/** `parseScope` splits `repository:host:5000/a/b:pull,push`: the name may itself hold a `:`. */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',') };
}

/** `startTokenServer` listens on a free loopback port; see the file comment. */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const keyPath = join(opts.dir, 'token.key');
  const certPath = join(opts.dir, 'token.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-subj',
      '/CN=ebpm-test-token',
      '-days',
      '2',
    ],
    { stdio: 'ignore' },
  );
  const key = readFileSync(keyPath);
  const x5c = new X509Certificate(readFileSync(certPath)).raw.toString('base64');
  const grants: Grants =
    opts.grants ?? Object.fromEntries(Object.keys(opts.users).map((u) => [u, { '*': ['pull', 'push', 'delete'], 'registry:catalog': ['*'] }]));
  const service = 'ebpm-test-registry';
  const issuer = 'ebpm-test-issuer';
  const expiresIn = opts.expiresIn ?? 300;
  const requests: TokenRequest[] = [];
  let rejected = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token' || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    let user = '';
    const authz = req.headers.authorization;
    if (authz) {
      const [scheme, value] = authz.split(' ');
      const decoded = scheme === 'Basic' && value ? Buffer.from(value, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, Math.max(colon, 0));
      if (colon < 1 || opts.users[name] !== decoded.slice(colon + 1)) {
        rejected++;
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      user = name;
    }
    // Each `scope` parameter may itself hold several space-separated scopes.
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    requests.push({ user, service: url.searchParams.get('service'), scopes });
    const access = scopes.flatMap((s) => {
      const p = parseScope(s);
      if (!p) return [];
      const actions = allowed(grants, user, p.type, p.name, p.actions);
      return actions.length ? [{ type: p.type, name: p.name, actions }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [x5c] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: user, aud: service, exp: now + expiresIn, nbf: now - 1, iat: now, jti: randomUUID(), access }));
    const sig = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${header}.${claims}.${b64url(sig)}`;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  };

  const server = await serveLoopback(handle);
  return {
    realm: `${server.url}/token`,
    service,
    issuer,
    certPath,
    requests,
    get rejected() {
      return rejected;
    },
    stop: server.stop,
  };
}
