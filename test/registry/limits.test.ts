// What a hostile registry can cost is bounded: blob and manifest sizes (declared and sent), listings (pages and
// entries), the graph of a pull, and time (a deadline per request and per pull). Every server here
// never finishes on its own: the limit is the only way out, so nothing depends on timing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { copyGraph } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { pushBytes } from '../../src/content/storage.js';
import { sha256Digest } from '../../src/core/digest.js';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, manifestBytes, MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, type Descriptor } from '../../src/core/oci.js';
import { hostileServers, type HostileServer } from '../helpers/hostile-server.js';
import { blobFiles, ebpm, sandbox, storeRefs, type Sandbox } from '../cli/helpers.js';
import { collect, registry, rejection } from './fixtures.js';

const serve = hostileServers();
const requests = (s: HostileServer) => s.seen.map((r) => `${r.method} ${r.url}`);

const GIB = 1024 ** 3;
const layer = (size: number, seed = 'layer'): Descriptor => ({ mediaType: 'application/octet-stream', digest: sha256Digest(Buffer.from(seed)), size });

it('refuses a blob declaring 10 GiB before asking for a byte of it', async () => {
  const s = await serve((_req, res) => res.writeHead(418).end());
  const big = layer(10 * GIB);
  const e = await rejection(registry(s.host).repository('a/b').fetch(big));
  expect([e.code, e.message, e.hint]).toEqual([
    'BLOB_TOO_LARGE',
    `fetch ${big.digest}: ${s.host}: blob ${big.digest} declares ${10 * GIB} bytes, over the ${GIB}-byte limit`,
    'a package this large is broken or hostile; if you trust it, raise EBPM_MAX_BLOB_BYTES',
  ]);
  expect(s.seen).toEqual([]);
});

it('takes the blob limit from the options', async () => {
  const s = await serve((_req, res) => res.writeHead(418).end());
  const e = await rejection(registry(s.host, { maxBlobBytes: 100 }).repository('a/b').fetch(layer(101)));
  expect([e.code, e.data?.limit]).toEqual(['BLOB_TOO_LARGE', 100]);
  expect(s.seen).toEqual([]);
});

it('fails a blob sent beyond its declared size while it streams, from a server that never ends', async () => {
  const s = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(64 * 1024, 1));
  });
  const desc = layer(100);
  const e = await rejection(registry(s.host).repository('a/b').fetch(desc).then(collect));
  expect([e.code, e.message]).toEqual(['SIZE_MISMATCH', `${desc.digest}: got more than 100 bytes, expected 100`]);
});

it('fails a pull whose manifest declares a 10 GiB layer before streaming it', async () => {
  const big = layer(10 * GIB);
  const m = manifestBytes({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    config: { mediaType: EMPTY_DESCRIPTOR.mediaType, digest: EMPTY_DESCRIPTOR.digest, size: 2 },
    layers: [big],
  });
  const root: Descriptor = { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: sha256Digest(m), size: m.byteLength };
  const s = await serve((req, res) => {
    if (req.url === `/v2/a/b/manifests/${root.digest}`) res.writeHead(200, { 'content-type': MEDIA_TYPE_IMAGE_MANIFEST }).end(m);
    else if (req.url === `/v2/a/b/blobs/${EMPTY_DESCRIPTOR.digest}`) res.writeHead(200).end(EMPTY_JSON);
    else res.writeHead(418).end();
  });
  const e = await rejection(copyGraph(registry(s.host).repository('a/b'), new MemoryStore(), root));
  expect([e.code, e.message]).toEqual([
    'BLOB_TOO_LARGE',
    `source: fetch ${big.digest}: ${s.host}: blob ${big.digest} declares ${10 * GIB} bytes, over the ${GIB}-byte limit`,
  ]);
  expect(requests(s).filter((r) => r.includes(big.digest))).toEqual([]);
});

/** Pages of `perPage` fresh tags, each linking to another, without end. */
const endlessTags = (perPage: number) => {
  let page = 0;
  return serve((_req, res) => {
    page++;
    const tags = Array.from({ length: perPage }, (_, i) => `p${page}-${i}`);
    res.writeHead(200, { 'content-type': 'application/json', link: `</v2/a/b/tags/list?page=${page}>; rel="next"` }).end(JSON.stringify({ name: 'a/b', tags }));
  });
};

it('stops an endless tag listing at the entry limit', async () => {
  const s = await endlessTags(1000);
  const e = await rejection(registry(s.host, { maxEntries: 2500 }).repository('a/b').tags());
  expect([e.code, e.message]).toEqual(['TOO_MANY_ENTRIES', `list tags of a/b: ${s.host}: listing /v2/a/b/tags/list has more than 2500 entries`]);
  expect(s.seen).toHaveLength(3);
});

it('stops an endless tag listing at the page limit, by default after 100 pages', async () => {
  const s = await endlessTags(1);
  const e = await rejection(registry(s.host).repository('a/b').tags());
  expect([e.code, e.message]).toEqual(['TOO_MANY_PAGES', `list tags of a/b: ${s.host}: listing /v2/a/b/tags/list has more than 100 pages`]);
  expect(s.seen).toHaveLength(100);
});

it('stops an endless catalog at the entry limit', async () => {
  let page = 0;
  const s = await serve((_req, res) => {
    page++;
    const repositories = Array.from({ length: 600 }, (_, i) => `r${page}/n${i}`);
    res.writeHead(200, { 'content-type': 'application/json', link: `</v2/_catalog?page=${page}>; rel="next"` }).end(JSON.stringify({ repositories }));
  });
  const e = await rejection(registry(s.host, { maxEntries: 1000 }).catalog());
  expect([e.code, e.message]).toEqual(['TOO_MANY_ENTRIES', `${s.host}: listing /v2/_catalog has more than 1000 entries`]);
  expect(s.seen).toHaveLength(2);
});

it('ends a request whose body never finishes at the request deadline', async () => {
  const s = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"name":"a/b","tags":[');
  });
  const e = await rejection(
    registry(s.host, { timeouts: { requestMs: 100, headersMs: 600_000, bodyMs: 600_000 } })
      .repository('a/b')
      .tags(),
  );
  expect([e.code, e.message, e.hint]).toEqual([
    'DEADLINE_EXCEEDED',
    `list tags of a/b: ${s.host}: GET /v2/a/b/tags/list not done within 100 ms`,
    'the registry is too slow to answer in time; try again later, or raise EBPM_HTTP_DEADLINE_MS',
  ]);
  expect(s.seen).toHaveLength(1);
});

it('ends a request that never gets its headers at the request deadline, without retrying', async () => {
  const s = await serve(() => undefined);
  const e = await rejection(
    registry(s.host, { timeouts: { requestMs: 100, headersMs: 600_000, bodyMs: 600_000 } })
      .repository('a/b')
      .tags(),
  );
  expect([e.code, e.message]).toEqual(['DEADLINE_EXCEEDED', `list tags of a/b: ${s.host}: GET /v2/a/b/tags/list not done within 100 ms`]);
  expect(s.seen).toHaveLength(1);
});

it('ends a pull at its deadline, exit 1', async () => {
  const s = await serve(() => undefined);
  const r = await ebpm(['pull', `${s.host}/ebpm/sigsnoop@1`], sandbox({ EBPM_PULL_DEADLINE_MS: '200' }).env);
  expect([r.code, r.out, r.err]).toEqual([
    1,
    '',
    `error: pull ${s.host}/ebpm/sigsnoop@1: resolve ${s.host}/ebpm/sigsnoop@1: list tags of ebpm/sigsnoop: pull not done within 200 ms\nhint: the registry is too slow to pull from in time; try again later, or raise EBPM_PULL_DEADLINE_MS\n`,
  ]);
});

it.each(['0', '-5', '1.5', 'soon'])('refuses EBPM_MAX_BLOB_BYTES=%s', async (value) => {
  const r = await ebpm(['pull', '127.0.0.1:1/ebpm/sigsnoop@1'], sandbox({ EBPM_MAX_BLOB_BYTES: value }).env);
  expect([r.code, r.err]).toEqual([
    1,
    `error: EBPM_MAX_BLOB_BYTES=${JSON.stringify(value)}: not a positive whole number\nhint: give bytes, e.g. EBPM_MAX_BLOB_BYTES=1073741824, or unset it\n`,
  ]);
});

/** What a sandbox's store holds: its refs and blobs. */
const stored = (sb: Sandbox) => ({ refs: existsSync(join(sb.store, 'index.json')) ? storeRefs(sb.store) : [], blobs: blobFiles(sb.store) });
const LIMIT_HINT = 'a manifest is metadata, a few KiB; one this large is broken or hostile (EBPM_MAX_MANIFEST_BYTES sets the limit, at most 4 MiB)';

it('refuses a manifest whose size the registry declares over EBPM_MAX_MANIFEST_BYTES before asking for it', async () => {
  const m = Buffer.alloc(1001, 0x20);
  const s = await serve((req, res) => {
    if (req.method === 'HEAD' && req.url === '/v2/ebpm/big/manifests/1.0.0') {
      res.writeHead(200, { 'content-type': MEDIA_TYPE_IMAGE_MANIFEST, 'content-length': m.byteLength, 'docker-content-digest': sha256Digest(m) }).end();
    } else res.writeHead(418).end();
  });
  const sb = sandbox({ EBPM_MAX_MANIFEST_BYTES: '1000' });
  const r = await ebpm(['pull', `${s.host}/ebpm/big:1.0.0`], sb.env);
  expect([r.code, r.out, r.err]).toEqual([
    1,
    '',
    `error: pull ${s.host}/ebpm/big:1.0.0: resolve ${s.host}/ebpm/big:1.0.0: resolve ebpm/big:1.0.0: ${s.host}: manifest ebpm/big:1.0.0 is 1001 bytes, over the 1000-byte limit\nhint: ${LIMIT_HINT}\n`,
  ]);
  expect(requests(s)).toEqual(['HEAD /v2/ebpm/big/manifests/1.0.0']);
  expect(stored(sb)).toEqual({ refs: [], blobs: [] });
});

it('stops reading a manifest at EBPM_MAX_MANIFEST_BYTES, from a server that never ends it', async () => {
  const s = await serve((req, res) => {
    // No digest on the HEAD: the client must GET, and the body never ends.
    res.writeHead(200, { 'content-type': MEDIA_TYPE_IMAGE_MANIFEST });
    if (req.method === 'HEAD') res.end();
    else res.write(Buffer.alloc(64 * 1024, 0x20));
  });
  const sb = sandbox({ EBPM_MAX_MANIFEST_BYTES: '1000' });
  const r = await ebpm(['pull', `${s.host}/ebpm/big:1.0.0`, '--json'], sb.env);
  expect([r.code, JSON.parse(r.out)]).toEqual([
    1,
    {
      error: {
        code: 'MANIFEST_TOO_LARGE',
        message: `pull ${s.host}/ebpm/big:1.0.0: resolve ${s.host}/ebpm/big:1.0.0: resolve ebpm/big:1.0.0: ${s.host}: manifest ebpm/big:1.0.0 is over the 1000-byte limit`,
        hint: LIMIT_HINT,
      },
    },
  ]);
  expect(requests(s)).toEqual(['HEAD /v2/ebpm/big/manifests/1.0.0', 'GET /v2/ebpm/big/manifests/1.0.0']);
  expect(stored(sb)).toEqual({ refs: [], blobs: [] });
});

it('refuses a manifest an index declares over EBPM_MAX_MANIFEST_BYTES before asking for it', async () => {
  const child: Descriptor = { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: sha256Digest(Buffer.from('child')), size: 5000 };
  const index = manifestBytes({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [child] });
  const digest = sha256Digest(index);
  const s = await serve((req, res) => {
    if (req.url === '/v2/ebpm/big/manifests/1.0.0' || req.url === `/v2/ebpm/big/manifests/${digest}`) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE_IMAGE_INDEX, 'content-length': index.byteLength, 'docker-content-digest': digest });
      res.end(req.method === 'HEAD' ? undefined : index);
    } else res.writeHead(404).end();
  });
  const sb = sandbox({ EBPM_MAX_MANIFEST_BYTES: '1000' });
  const r = await ebpm(['pull', `${s.host}/ebpm/big:1.0.0`], sb.env);
  expect([r.code, r.err]).toEqual([
    1,
    `error: pull ${s.host}/ebpm/big:1.0.0: source: fetch ${child.digest}: ${s.host}: manifest ${child.digest} declares 5000 bytes, over the 1000-byte limit\nhint: ${LIMIT_HINT}\n`,
  ]);
  expect(requests(s).filter((q) => q.includes(child.digest))).toEqual([]);
  expect(stored(sb)).toEqual({ refs: [], blobs: [] });
});

it.each([
  ['0', 'not a positive whole number'],
  ['1.5', 'not a positive whole number'],
  ['4194305', 'over 4194304, the most ebpm accepts'],
])('refuses EBPM_MAX_MANIFEST_BYTES=%s', async (value, problem) => {
  const r = await ebpm(['pull', '127.0.0.1:1/ebpm/sigsnoop@1'], sandbox({ EBPM_MAX_MANIFEST_BYTES: value }).env);
  expect([r.code, r.err]).toEqual([
    1,
    `error: EBPM_MAX_MANIFEST_BYTES=${JSON.stringify(value)}: ${problem}\nhint: give bytes up to 4194304, e.g. EBPM_MAX_MANIFEST_BYTES=1048576, or unset it\n`,
  ]);
});

it('refuses a graph of more than 1000 descriptors before asking for any of them', async () => {
  const src = new MemoryStore();
  const children: Descriptor[] = [];
  for (let i = 0; i < 1001; i++) children.push(await pushBytes(src, MEDIA_TYPE_IMAGE_MANIFEST, Buffer.from(`{"schemaVersion":2,"n":${i}}`)));
  const index = await pushBytes(src, MEDIA_TYPE_IMAGE_INDEX, manifestBytes({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: children }));
  const asked: string[] = [];
  const counting = {
    exists: async () => false,
    fetch: async (d: Descriptor) => {
      asked.push(d.digest);
      return src.fetch(d);
    },
  };
  const dst = new MemoryStore();
  const e = await rejection(copyGraph(counting as unknown as MemoryStore, dst, index));
  expect([e.code, e.message]).toEqual(['GRAPH_TOO_LARGE', `${index.digest}: the graph holds more than 1000 descriptors (1002 so far)`]);
  expect(asked).toEqual([index.digest]);
  expect(await dst.exists(index)).toBe(false);
});

it('refuses a graph declaring more than maxBytes before asking for any child, and copies one within it', async () => {
  const src = new MemoryStore();
  const config = await pushBytes(src, 'application/vnd.oci.empty.v1+json', Buffer.from('{}'));
  const layer = await pushBytes(src, 'application/vnd.ebpm.test.layer.v1', Buffer.alloc(1000, 7));
  const m = await pushBytes(src, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config, layers: [layer] }));
  const asked: string[] = [];
  const counting = {
    exists: async () => false,
    fetch: async (d: Descriptor) => {
      asked.push(d.digest);
      return src.fetch(d);
    },
  };
  const dst = new MemoryStore();
  const e = await rejection(copyGraph(counting as unknown as MemoryStore, dst, m, { maxBytes: m.size + 1001 }));
  expect([e.code, e.message]).toEqual(['GRAPH_TOO_LARGE', `${m.digest}: the graph declares more than ${m.size + 1001} bytes (${m.size + 1002} so far)`]);
  expect(asked).toEqual([m.digest]);
  expect(await dst.exists(layer)).toBe(false);
  expect(await copyGraph(src, dst, m, { maxBytes: m.size + 1002 })).toMatchObject({ copied: 3, bytes: m.size + 1002 });
});
