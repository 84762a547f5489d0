// Registry behaviours 2.8.2 cannot show (it neither paginates tags nor redirects): tiny fake
// registries on loopback that fail the test on any request they do not expect.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { basicAuthorization } from '../../src/registry/auth.js';
import { sha256Digest } from '../../src/core/digest.js';
import { collect, registry, rejection } from './fixtures.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface Fake {
  host: string;
  seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }>;
  close(): Promise<void>;
}
const open: Fake[] = [];

/** `fake` serves `routes[<method> <path?query>]`; anything else answers 418 and is recorded as unexpected. */
async function fake(hostname: '127.0.0.1' | 'localhost', routes: Record<string, Handler>): Promise<Fake> {
  const seen: Fake['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const h = routes[`${req.method} ${req.url}`];
    if (h === undefined) res.writeHead(418).end(`unexpected ${req.method} ${req.url}`);
    else h(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const f: Fake = {
    host: `${hostname}:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  open.push(f);
  return f;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

const json =
  (body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

describe('tag listing over Link pagination', () => {
  it('follows relative and absolute next links, merges and sorts the pages', async () => {
    let self = '';
    const f = await fake('127.0.0.1', {
      'GET /v2/a/b/tags/list?n=2': json({ name: 'a/b', tags: ['v2', '1.0.0'] }, { link: '</v2/a/b/tags/list?n=2&last=1.0.0>; rel="next"' }),
      'GET /v2/a/b/tags/list?n=2&last=1.0.0': (req, res) =>
        json({ name: 'a/b', tags: ['latest', '0.9.0'] }, { link: `<${self}/v2/a/b/tags/list?n=2&last=latest>; rel="next", <http://x/y>; rel="prev"` })(
          req,
          res,
        ),
      'GET /v2/a/b/tags/list?n=2&last=latest': json({ name: 'a/b', tags: ['1.0.0'] }),
    });
    self = `http://${f.host}`;
    const tags = await registry(f.host, { pageSize: 2 }).repository('a/b').tags();
    expect(tags).toEqual(['0.9.0', '1.0.0', 'latest', 'v2']);
    expect(f.seen.map((s) => s.url)).toEqual(['/v2/a/b/tags/list?n=2', '/v2/a/b/tags/list?n=2&last=1.0.0', '/v2/a/b/tags/list?n=2&last=latest']);
  });

  it('refuses a next link to another host, and a link loop', async () => {
    const f = await fake('127.0.0.1', {
      'GET /v2/a/b/tags/list?n=1000': json({ tags: ['x'] }, { link: '<http://evil.example/v2/a/b/tags/list?last=x>; rel="next"' }),
      'GET /v2/c/d/tags/list?n=1000': json({ tags: ['x'] }, { link: '</v2/c/d/tags/list?n=1000>; rel="next"' }),
    });
    const away = await rejection(registry(f.host).repository('a/b').tags());
    expect(away.code).toBe('REGISTRY_PROTOCOL');
    expect(away.message).toBe(`list tags of a/b: ${f.host}: pagination link leaves the registry (http://evil.example)`);
    const loop = await rejection(registry(f.host).repository('c/d').tags());
    expect(loop.code).toBe('REGISTRY_PROTOCOL');
    expect(loop.message).toBe(`list tags of c/d: ${f.host}: pagination link loops back to a page already read`);
  });

  it("reads 2.8.2's null tag list as empty and refuses a malformed one", async () => {
    const f = await fake('127.0.0.1', {
      'GET /v2/a/b/tags/list?n=1000': json({ name: 'a/b', tags: null }),
      'GET /v2/c/d/tags/list?n=1000': json({ name: 'c/d', tags: [1, 2] }),
    });
    expect(await registry(f.host).repository('a/b').tags()).toEqual([]);
    await expect(registry(f.host).repository('c/d').tags()).rejects.toThrowWithCode('REGISTRY_PROTOCOL');
  });
});

describe('redirects', () => {
  const blob = Buffer.from('hello from storage');
  const digest = sha256Digest(blob);
  const desc = { mediaType: 'application/octet-stream', digest, size: blob.length };

  it('never forwards Authorization to another host, and keeps it on the same host', async () => {
    const storage = await fake('localhost', {
      [`GET /store/${digest}`]: (_req, res) => res.writeHead(200, { 'content-length': String(blob.length) }).end(blob),
    });
    const reg = await fake('127.0.0.1', {
      [`GET /v2/a/b/blobs/${digest}`]: (req, res) => {
        if (req.headers.authorization !== basicAuthorization('u', 'secret-pw')) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
          return;
        }
        res.writeHead(307, { location: `/same/${digest}` }).end();
      },
      [`GET /same/${digest}`]: (_req, res) => res.writeHead(302, { location: `http://${storage.host}/store/${digest}` }).end(),
    });
    const repo = registry(reg.host, { credentials: async () => ({ kind: 'basic', username: 'u', password: 'secret-pw' }) }).repository('a/b');
    const got = await collect(await repo.fetch(desc));
    expect(got.equals(blob)).toBe(true);
    const same = reg.seen.find((s) => s.url.startsWith('/same/'))!;
    expect(same.headers.authorization).toBe(basicAuthorization('u', 'secret-pw'));
    expect(storage.seen).toHaveLength(1);
    expect(storage.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('stops after a bounded number of redirects', async () => {
    const reg = await fake('127.0.0.1', {
      [`GET /v2/a/b/blobs/${digest}`]: (_req, res) => res.writeHead(302, { location: `/v2/a/b/blobs/${digest}` }).end(),
    });
    const e = await rejection(registry(reg.host).repository('a/b').fetch(desc));
    expect(e.code).toBe('TOO_MANY_REDIRECTS');
    expect(reg.seen).toHaveLength(6);
  });
});

describe('referrers API', () => {
  it('uses the API when the registry has one, filtering by artifactType even if the registry did not', async () => {
    const subject = `sha256:${'a'.repeat(64)}`;
    const d1 = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 10, artifactType: 'application/x-sig' };
    const d2 = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'2'.repeat(64)}`, size: 11, artifactType: 'application/x-sbom' };
    const index = (m: unknown[]) => ({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: m });
    const f = await fake('127.0.0.1', {
      [`GET /v2/a/b/referrers/${subject}`]: json(index([d1]), {
        'content-type': 'application/vnd.oci.image.index.v1+json',
        link: `</v2/a/b/referrers/${subject}?page=2>; rel="next"`,
      }),
      [`GET /v2/a/b/referrers/${subject}?page=2`]: json(index([d2]), { 'content-type': 'application/vnd.oci.image.index.v1+json' }),
      [`GET /v2/a/b/referrers/${subject}?artifactType=application%2Fx-sbom`]: json(index([d1, d2]), {
        'content-type': 'application/vnd.oci.image.index.v1+json',
      }),
    });
    const repo = registry(f.host).repository('a/b');
    const s = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 100 };
    expect(await repo.referrers(s)).toEqual([d1, d2]);
    expect(await repo.referrers(s, 'application/x-sbom')).toEqual([d2]);
    expect(f.seen.every((x) => !x.url.includes('/manifests/'))).toBe(true);
  });

  it("learns once per registry that it has no API: another repository's listing goes to the tag schema at once", async () => {
    const subject = `sha256:${'a'.repeat(64)}`;
    const tag = `sha256-${'a'.repeat(64)}`;
    const d1 = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 10, artifactType: 'application/x-sig' };
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [d1] };
    const bytes = Buffer.from(JSON.stringify(index));
    const fallback: Handler = (_req, res) =>
      res.writeHead(200, { 'content-type': index.mediaType, 'docker-content-digest': sha256Digest(bytes), 'content-length': bytes.length }).end(bytes);
    const f = await fake('127.0.0.1', {
      // distribution 2.8.2's answer: no such route.
      [`GET /v2/a/b/referrers/${subject}`]: (_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found'),
      [`GET /v2/a/b/manifests/${tag}`]: fallback,
      [`GET /v2/c/d/manifests/${tag}`]: fallback,
    });
    const reg = registry(f.host);
    const s = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 100 };
    expect(await reg.repository('a/b').referrers(s)).toEqual([d1]);
    expect(await reg.repository('c/d').referrers(s)).toEqual([d1]);
    expect(f.seen.map((x) => `${x.method} ${x.url}`)).toEqual([
      `GET /v2/a/b/referrers/${subject}`,
      `GET /v2/a/b/manifests/${tag}`,
      `GET /v2/c/d/manifests/${tag}`,
    ]);
  });
});
