import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { copy, copyGraph } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { sha256Digest } from '../../src/core/digest.js';
import { MEDIA_TYPE_IMAGE_MANIFEST } from '../../src/core/oci.js';
import { describeWith } from '../helpers/prereq.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { artifact, bytesOf, collect, registry, rejection, type Artifact } from './fixtures.js';

// Faults injected between the client and a real registry. The registry holds one artifact,
// tagged 1.0, with a 1 MiB layer; every test scripts the proxy for the requests it breaks.
describeWith(['registry'], 'registry client under network faults', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let a: Artifact;
  const NAME = 'ebpm/faults';
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    a = await artifact(bytesOf(1 << 20, 'faults'));
    await copy(a.store, a.manifest.digest, registry(reg.host).repository(NAME), '1.0');
  });
  afterEach(() => proxy.reset());
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });
  const repo = (opts = {}) => registry(proxy.host, opts).repository(NAME);
  const blobGets = () => proxy.log.filter((l) => l.method === 'GET' && l.path.includes('/blobs/'));

  it('resumes a blob download cut mid-body with Range and ends byte-exact', async () => {
    proxy.add({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'drop', afterBytes: 300_000 } });
    const got = await collect(await repo().fetch(a.layer));
    expect(got.equals(a.layerBytes)).toBe(true);
    expect(blobGets().map((l) => [l.fault, l.headers.range])).toEqual([
      ['drop', undefined],
      [undefined, 'bytes=300000-'],
    ]);
  });

  it('resumes twice, then gives up with a bounded number of attempts', async () => {
    proxy.add({ method: 'GET', path: /\/blobs\//, times: 2, fault: { kind: 'drop', afterBytes: 1000 } });
    expect((await collect(await repo().fetch(a.layer))).equals(a.layerBytes)).toBe(true);
    expect(blobGets().map((l) => l.headers.range)).toEqual([undefined, 'bytes=1000-', 'bytes=2000-']);
    proxy.reset();
    proxy.add({ method: 'GET', path: /\/blobs\//, times: Infinity, fault: { kind: 'drop', afterBytes: 10 } });
    const e = await rejection(collect(await repo({ downloadResumes: 2 }).fetch(a.layer)));
    expect(e.code).toBe('REGISTRY_UNREACHABLE');
    expect(blobGets()).toHaveLength(3);
  });

  it('retries 500s on idempotent requests, a bounded number of times', async () => {
    proxy.add({ method: 'HEAD', path: /\/manifests\/1\.0$/, times: 2, fault: { kind: 'status', status: 500 } });
    expect((await repo().resolve('1.0')).digest).toBe(a.manifest.digest);
    expect(proxy.log.map((l) => l.fault)).toEqual(['status', 'status', undefined]);
    proxy.reset();
    proxy.add({ method: 'HEAD', path: /\/manifests\//, times: Infinity, fault: { kind: 'status', status: 503 } });
    const e = await rejection(repo().resolve('1.0'));
    // A HEAD answer has no body: the code comes from the status.
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toBe(`resolve ${NAME}:1.0: ${proxy.host}: unavailable (status 503)`);
    expect(proxy.log).toHaveLength(3);
  });

  it('never repeats a non-idempotent request in the retry stage', async () => {
    proxy.add({ method: 'POST', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 500 } });
    const res = await registry(proxy.host).send({
      method: 'POST',
      url: new URL(`${proxy.url}/v2/${NAME}/blobs/uploads/`),
      headers: { 'content-length': '0' },
      body: new Uint8Array(0),
    });
    await res.body.dump();
    expect([res.status, proxy.log.map((l) => `${l.method} ${l.fault}`)]).toEqual([500, ['POST status']]);
  });

  const uploads = () => proxy.log.filter((l) => l.path.includes('/blobs/uploads/')).map((l) => `${l.method} ${l.fault ?? ''}`.trim());

  it('uploads a blob again in a new session, read again from its source, after a 5xx or a broken connection', async () => {
    // Into the repository that holds the config already: the only upload is the layer's.
    const b = await artifact(bytesOf(300_000, 'upload-retry'));
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 500 } });
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'reset', afterBytes: 100_000 } });
    await copyGraph(b.store, repo(), b.manifest);
    expect(uploads()).toEqual(['POST', 'PUT status', 'DELETE', 'POST', 'PUT reset', 'DELETE', 'POST', 'PUT']);
    const direct = registry(reg.host).repository(NAME);
    expect((await collect(await direct.fetch(b.layer))).equals(b.layerBytes)).toBe(true);
    expect(await direct.exists(b.manifest)).toBe(true);
  });

  it('does not upload again what it cannot read again, nor after the content itself failed', async () => {
    const b = await artifact(bytesOf(1000, 'once'));
    // Not read yet when the session failed: tried again.
    proxy.add({ method: 'POST', path: /\/blobs\/uploads\/$/, fault: { kind: 'status', status: 500 } });
    await repo().push(b.layer, [b.layerBytes]);
    expect(uploads()).toEqual(['POST status', 'POST', 'PUT']);
    proxy.reset();
    const c = await artifact(bytesOf(1000, 'read once'));
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 500 } });
    const once = await rejection(repo().push(c.layer, [c.layerBytes]));
    expect([once.code, once.data?.registryCode, uploads()]).toEqual(['REGISTRY_ERROR', 'UNKNOWN', ['POST', 'PUT status', 'DELETE']]);
    proxy.reset();
    const lying = await rejection(repo().push(c.layer, [bytesOf(1000, 'other')]));
    // The only chunk fails its check before the PUT sends anything; the session is given up, once.
    expect([lying.code, uploads()]).toEqual(['DIGEST_MISMATCH', ['POST', 'DELETE']]);
    expect(await repo().exists(c.layer)).toBe(false);
  });

  it('restarts a chunked upload from byte 0 in a new session when a chunk fails', async () => {
    const b = await artifact(bytesOf(300_000, 'restart'));
    const chunked = { chunkThreshold: 100_000, chunkSize: 100_000 };
    // The second PATCH of the first session fails: that session is cancelled, a new one starts
    // and sends all three chunks again (2.8.2 would append a re-sent chunk twice).
    proxy.add({ method: 'PATCH', fault: { kind: 'pass' } });
    proxy.add({ method: 'PATCH', fault: { kind: 'status', status: 500 } });
    await repo(chunked).push(b.layer, [b.layerBytes]);
    expect(proxy.log.filter((l) => ['POST', 'PATCH', 'DELETE', 'PUT'].includes(l.method)).map((l) => `${l.method} ${l.fault ?? ''}`.trim())).toEqual([
      'POST',
      'PATCH pass',
      'PATCH status',
      'DELETE',
      'POST',
      'PATCH',
      'PATCH',
      'PATCH',
      'PUT',
    ]);
    expect((await collect(await repo().fetch(b.layer))).equals(b.layerBytes)).toBe(true);
    // A chunk that always fails ends the push after the bounded restarts.
    proxy.reset();
    const c = await artifact(bytesOf(300_000, 'restart-fail'));
    proxy.add({ method: 'PATCH', times: Infinity, fault: { kind: 'status', status: 503 } });
    const e = await rejection(repo({ ...chunked, uploadRestarts: 1 }).push(c.layer, [c.layerBytes]));
    expect([e.code, e.data?.registryCode]).toEqual(['REGISTRY_ERROR', 'UNKNOWN']);
    expect(proxy.log.filter((l) => l.method === 'POST')).toHaveLength(2);
    expect(await repo().exists(c.layer)).toBe(false);
  });

  it('retries a manifest PUT (idempotent) after a 502', async () => {
    const b = await artifact(bytesOf(500, 'put-502'));
    proxy.add({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 502 } });
    const other = registry(proxy.host).repository('ebpm/faults-put');
    await copy(b.store, b.manifest.digest, other, '3.0');
    // The root goes once, under its tag (no PUT by digest first), and is kept by digest too.
    expect(proxy.log.filter((l) => l.method === 'PUT' && l.path.includes('/manifests/')).map((l) => `${l.fault ?? 'ok'} ${l.path.split('/').pop()}`)).toEqual([
      'status 3.0',
      'ok 3.0',
    ]);
    expect((await other.resolve('3.0')).digest).toBe(b.manifest.digest);
    expect((await other.resolve(b.manifest.digest)).digest).toBe(b.manifest.digest);
  });

  it('waits as long as Retry-After says on 429, but not beyond its budget', async () => {
    proxy.add({
      method: 'GET',
      path: /\/tags\/list/,
      fault: { kind: 'status', status: 429, retryAfter: '1', body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }) },
    });
    expect(await repo().tags()).toEqual(['1.0']);
    const [limited, retried] = proxy.log.filter((l) => l.path.includes('/tags/list'));
    expect([limited!.fault, retried!.fault]).toEqual(['status', undefined]);
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(1000);
    proxy.reset();
    proxy.add({
      method: 'GET',
      path: /\/tags\/list/,
      fault: { kind: 'status', status: 429, retryAfter: '3600', body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }) },
    });
    const e = await rejection(repo().tags());
    expect(e.code).toBe('TOOMANYREQUESTS');
    expect(e.message).toBe(`list tags of ${NAME}: ${proxy.host}: toomanyrequests: slow down`);
    expect(e.hint).toBe('the registry rate-limits this client; wait a while and try again');
    expect(e.data?.retryAfter).toBe('3600');
    expect(proxy.log).toHaveLength(1);
  });

  it('rejects a truncated blob with SIZE_MISMATCH and stores nothing', async () => {
    proxy.add({ method: 'GET', path: new RegExp(a.layer.digest), fault: { kind: 'truncate', bytes: 4096 } });
    const back = new MemoryStore();
    const e = await rejection(copy(repo(), '1.0', back, 'x'));
    expect(e.code).toBe('SIZE_MISMATCH');
    expect(await back.exists(a.layer)).toBe(false);
    expect(await back.exists(a.manifest)).toBe(false);
    expect(await back.tags()).toEqual([]);
  });

  it('rejects a corrupted blob with DIGEST_MISMATCH and stores nothing', async () => {
    proxy.add({ method: 'GET', path: new RegExp(a.layer.digest), fault: { kind: 'corrupt', offset: 777 } });
    const back = new MemoryStore();
    const e = await rejection(copy(repo(), '1.0', back, 'x'));
    expect(e.code).toBe('DIGEST_MISMATCH');
    expect(await back.exists(a.layer)).toBe(false);
    expect(await back.tags()).toEqual([]);
  });

  it('times out on a registry that stalls before answering', async () => {
    proxy.add({ method: 'HEAD', times: Infinity, fault: { kind: 'stall', ms: 5_000 } });
    const e = await rejection(repo({ timeouts: { headersMs: 150 }, retry: { attempts: 2, baseDelayMs: 1 } }).resolve('1.0'));
    expect(e.code).toBe('TIMEOUT');
    expect(e.message).toBe(`resolve ${NAME}:1.0: ${proxy.host}: no response in time`);
    expect(proxy.log).toHaveLength(2);
  });

  it('resumes a blob whose body stalls', async () => {
    proxy.add({ method: 'GET', path: /\/blobs\//, fault: { kind: 'stall', ms: 5_000, phase: 'body' } });
    const got = await collect(await repo({ timeouts: { bodyMs: 150 } }).fetch(a.layer));
    expect(got.equals(a.layerBytes)).toBe(true);
    expect(blobGets().map((l) => l.headers.range)).toEqual([undefined, undefined]);
  });

  it('refuses a manifest served with the wrong media type', async () => {
    proxy.add({ method: 'GET', path: /\/manifests\/1\.0$/, fault: { kind: 'rewrite', headers: { 'content-type': 'text/html' } } });
    const e = await rejection(repo().fetchReference('1.0'));
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.message).toBe(`fetch ${NAME}:1.0: ${proxy.host}: manifest served as "text/html"`);
  });

  it('refuses a manifest over 4 MiB without reading it all', async () => {
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
    proxy.add({ method: 'GET', path: /\/manifests\/1\.0$/, fault: { kind: 'rewrite', body: huge, dropHeaders: ['docker-content-digest'] } });
    const e = await rejection(repo().fetchReference('1.0'));
    expect(e.code).toBe('MANIFEST_TOO_LARGE');
    expect(e.message).toBe(`fetch ${NAME}:1.0: ${proxy.host}: manifest ${NAME}:1.0 is over the 4194304-byte limit`);
  });

  it('refuses manifest bytes that do not match the digest the registry claims', async () => {
    const other = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config: a.layer, layers: [] }));
    proxy.add({ method: 'GET', path: /\/manifests\//, times: 2, fault: { kind: 'rewrite', body: other } });
    await expect(repo().fetchReference('1.0')).rejects.toThrowWithCode('DIGEST_MISMATCH');
    const back = new MemoryStore();
    await expect(copy(repo(), '1.0', back, 'x')).rejects.toThrowWithCode('DIGEST_MISMATCH');
    expect(await back.exists(a.manifest)).toBe(false);
  });

  it('refuses a malformed manifest from a consistently lying server and stores nothing', async () => {
    const bad = Buffer.from('{"schemaVersion":2,"layers":[{"digest":"nope"}]}');
    const badDigest = sha256Digest(bad);
    proxy.add({
      method: 'HEAD',
      path: /\/manifests\/1\.0$/,
      fault: { kind: 'rewrite', headers: { 'docker-content-digest': badDigest, 'content-length': String(bad.length) } },
    });
    proxy.add({
      method: 'GET',
      path: new RegExp(`/manifests/${badDigest}$`),
      fault: { kind: 'rewrite', status: 200, body: bad, headers: { 'content-type': MEDIA_TYPE_IMAGE_MANIFEST, 'docker-content-digest': badDigest } },
    });
    const back = new MemoryStore();
    const e = await rejection(copy(repo(), '1.0', back, 'x'));
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.data?.fields).toEqual(['config: missing', 'layers[0].mediaType: missing', 'layers[0].digest: not a digest', 'layers[0].size: missing']);
    expect(await back.tags()).toEqual([]);
  });

  it('reads the text/plain 404 of an unknown route as not found, naming what was asked', async () => {
    proxy.add({ method: 'GET', path: /\/tags\/list/, fault: { kind: 'status', status: 404, contentType: 'text/plain', body: '404 page not found\n' } });
    const e = await rejection(repo().tags());
    expect([e.code, e.data?.registryCode]).toEqual(['NOT_FOUND', undefined]);
    expect(e.message).toBe(`list tags of ${NAME}: ${proxy.host}: repository ${NAME} not found`);
  });
});
