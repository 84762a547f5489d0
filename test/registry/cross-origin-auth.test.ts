// Credentials belong to the origin that asked for them. Registry A (Basic) redirects a blob to
// B; B challenges for a Bearer token on C. C must never see A's credentials, and A's own state
// must not move to C's token server.
import { expect, it } from 'vitest';
import type { Credential } from '../../src/registry/auth.js';
import { basicAuthorization } from '../../src/registry/auth.js';
import { hostileServers, type HostileServer } from '../helpers/hostile-server.js';
import { bytesOf, collect, registry } from './fixtures.js';
import { sha256Digest } from '../../src/core/digest.js';

const serve = hostileServers();

const A_BASIC = basicAuthorization('alice', 'a-secret');
const BLOB = bytesOf(3000, 'cross-origin');
const DIGEST = sha256Digest(BLOB);
const DESC = { mediaType: 'application/octet-stream', digest: DIGEST, size: BLOB.byteLength };

/** A redirects `/v2/r/blobs/<digest>` to B once it got Alice's Basic; B wants C's token `c-token`. */
async function threeOrigins() {
  const c = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"c-token"}'));
  const b = await serve((req, res) => {
    if (req.headers.authorization !== 'Bearer c-token') {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${c.url}/token",service="b",scope="repository:storage:pull"` }).end();
      return;
    }
    res.writeHead(200, { 'content-length': String(BLOB.byteLength) }).end(BLOB);
  });
  const a = await serve((req, res) => {
    if (req.headers.authorization !== A_BASIC) res.writeHead(401, { 'www-authenticate': 'Basic realm="a"' }).end();
    else res.writeHead(307, { location: `${b.url}/storage/${DIGEST}` }).end();
  });
  return { a, b, c };
}

const seen = (s: HostileServer) => s.seen.map((r) => [r.method, r.url, r.headers.authorization ?? null]);

it("answers another origin's challenge without the first origin's credentials, and leaves the first origin's state alone", async () => {
  const { a, b, c } = await threeOrigins();
  const lookups: string[] = [];
  const credentials = async (host: string): Promise<Credential | undefined> => {
    lookups.push(host);
    return host === a.host ? { kind: 'basic', username: 'alice', password: 'a-secret' } : undefined;
  };
  const repo = registry(a.host, { credentials }).repository('r');
  expect((await collect(await repo.fetch(DESC))).equals(BLOB)).toBe(true);
  expect((await collect(await repo.fetch(DESC))).equals(BLOB)).toBe(true);

  // C: asked once, anonymously (nobody holds credentials for B); B's token serves the second fetch too.
  expect(seen(c)).toEqual([['GET', '/token?service=b&scope=repository%3Astorage%3Apull', null]]);
  // A: challenged once, then Basic from the start; never a Bearer token.
  expect(seen(a)).toEqual([
    ['GET', `/v2/r/blobs/${DIGEST}`, null],
    ['GET', `/v2/r/blobs/${DIGEST}`, A_BASIC],
    ['GET', `/v2/r/blobs/${DIGEST}`, A_BASIC],
  ]);
  expect(seen(b)).toEqual([
    ['GET', `/storage/${DIGEST}`, null],
    ['GET', `/storage/${DIGEST}`, 'Bearer c-token'],
    ['GET', `/storage/${DIGEST}`, null],
    ['GET', `/storage/${DIGEST}`, 'Bearer c-token'],
  ]);
  expect(lookups.sort()).toEqual([a.host, b.host].sort());
});

it("answers another origin's challenge with that origin's own credentials from the store", async () => {
  const { a, b, c } = await threeOrigins();
  const credentials = async (host: string): Promise<Credential | undefined> =>
    host === a.host
      ? { kind: 'basic', username: 'alice', password: 'a-secret' }
      : host === b.host
        ? { kind: 'basic', username: 'bob', password: 'b-secret' }
        : undefined;
  const repo = registry(a.host, { credentials }).repository('r');
  expect((await collect(await repo.fetch(DESC))).equals(BLOB)).toBe(true);
  expect(seen(c)).toEqual([['GET', '/token?service=b&scope=repository%3Astorage%3Apull', basicAuthorization('bob', 'b-secret')]]);
});
