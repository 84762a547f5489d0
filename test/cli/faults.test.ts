// Pulls and pushes through a fault-injecting proxy in front of docker-registry 2.8.2: every pull
// ends with the exact package or with a one-line error, and the store is left clean either way
// (no reference to a partial graph, no temp files); a push survives a failed blob upload.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy, type Rule } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { bytesOf } from '../registry/fixtures.js';
import { ebpm, ingestFiles, packageLayout, sandbox, storeRefs, type BuiltPackage } from './helpers.js';

const PAYLOAD = 256 * 1024;

describeWith(['registry', 'clang'], 'pulls through faults', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let pkg: BuiltPackage;
  let payloadDigest: string;

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    const pub = sandbox({ EBPM_REGISTRY: `${reg.host}/ebpm` });
    pkg = await packageLayout(join(pub.root, 'pkg'), { version: '1.0.0', payload: bytesOf(PAYLOAD, 'faults') });
    payloadDigest = [...pkg.blobs].find(([, b]) => b.byteLength === PAYLOAD)![0];
    expect((await ebpm(['push', pkg.dir], pub.env)).code).toBe(0);
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });
  beforeEach(() => proxy.reset());

  const pullWith = async (rules: Rule[], env: Record<string, string> = {}) => {
    for (const r of rules) proxy.add(r);
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/ebpm`, EBPM_HTTP_TIMEOUT_MS: '400', ...env });
    const r = await ebpm(['pull', 'sigsnoop@1'], sb.env);
    return { ...r, sb };
  };
  const payloadPath = new RegExp(`/blobs/${'sha256:'}`);

  const expectExact = (sb: { store: string }) => {
    expect(storeRefs(sb.store)).toEqual([`${proxy.host}/ebpm/sigsnoop:1.0.0`]);
    for (const [digest, bytes] of pkg.blobs) expect(readFileSync(join(sb.store, 'blobs', 'sha256', digest.slice(7))).equals(Buffer.from(bytes))).toBe(true);
    expect(ingestFiles(sb.store)).toEqual([]);
  };
  const expectClean = (sb: { store: string }) => {
    expect(storeRefs(sb.store)).toEqual([]);
    expect(ingestFiles(sb.store)).toEqual([]);
  };

  it('resumes a dropped connection', async () => {
    const r = await pullWith([{ method: 'GET', path: `/v2/ebpm/sigsnoop/blobs/${payloadDigest}`, fault: { kind: 'drop', afterBytes: 4096 } }]);
    expect([r.code, r.out]).toEqual([0, `pulled ${proxy.host}/ebpm/sigsnoop:1.0.0 ${pkg.digest} (4 blobs, ${pkg.size} bytes)\n`]);
    expectExact(r.sb);
    // How much of the 4096 bytes counts depends on whether the store read them before the drop
    // (undici discards what nobody read): a Range from what was received, or a plain GET when
    // nothing was. The exact offset is test/registry/resume.test.ts's.
    const payload = proxy.log.filter((l) => l.path.includes(payloadDigest));
    expect(payload.map((l) => l.fault ?? null)).toEqual(['drop', null]);
    expect(payload[0]!.headers.range).toBeUndefined();
    const range = payload[1]!.headers.range;
    if (range !== undefined) {
      const from = Number(/^bytes=(\d+)-$/.exec(range)?.[1]);
      expect(from).toBeGreaterThan(0);
      expect(from).toBeLessThanOrEqual(4096);
    }
  });

  it('retries a 500 and honours 429 Retry-After', async () => {
    const r = await pullWith([
      { method: 'GET', path: payloadPath, fault: { kind: 'status', status: 500 } },
      { method: 'HEAD', path: /manifests\/1\.0\.0/, fault: { kind: 'status', status: 429, retryAfter: '1' } },
    ]);
    expect(r.code).toBe(0);
    // Retry-After as the registry saw it: the HEAD after the 429 came a second later or more.
    const [limited, retried] = proxy.log.filter((l) => l.method === 'HEAD' && /manifests\/1\.0\.0/.test(l.path));
    expect([limited!.fault, retried!.fault]).toEqual(['status', undefined]);
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(1000);
    expectExact(r.sb);
  });

  it('refuses a truncated body in one line, then pulls cleanly; recovers from a stalled body', async () => {
    const truncated = await pullWith([{ method: 'GET', path: `/v2/ebpm/sigsnoop/blobs/${payloadDigest}`, fault: { kind: 'truncate', bytes: 1000 } }]);
    expect([truncated.code, truncated.err]).toEqual([
      1,
      `error: pull sigsnoop@1: source: fetch ${payloadDigest}: ${proxy.host}: blob ${payloadDigest} served as 1000 bytes, expected ${PAYLOAD}\nhint: the registry served other content than asked for; nothing of it was kept\n`,
    ]);
    expect(ingestFiles(truncated.sb.store)).toEqual([]);
    expect(storeRefs(truncated.sb.store)).toEqual([]);
    expect((await ebpm(['pull', 'sigsnoop@1'], truncated.sb.env)).code).toBe(0);
    expectExact(truncated.sb);
    proxy.reset();
    const stalled = await pullWith([{ method: 'GET', path: `/v2/ebpm/sigsnoop/blobs/${payloadDigest}`, fault: { kind: 'stall', ms: 3000, phase: 'body' } }]);
    expect([stalled.code, stalled.err]).toEqual([0, '']);
    expectExact(stalled.sb);
  });

  it('pushes through a 500 and a connection cut during the blob upload, byte-exact', async () => {
    const upload = new RegExp(`/blobs/uploads/.*digest=sha256%3A${payloadDigest.slice(7)}`);
    proxy.add({ method: 'PUT', path: upload, fault: { kind: 'status', status: 500 } });
    proxy.add({ method: 'PUT', path: upload, fault: { kind: 'reset', afterBytes: 64 * 1024 } });
    const pushed = await ebpm(['push', pkg.dir], sandbox({ EBPM_REGISTRY: `${proxy.host}/pushed` }).env);
    expect(pushed).toEqual({
      code: 0,
      err: '',
      out: `pushed ${proxy.host}/pushed/sigsnoop:1.0.0 ${pkg.digest} (4 blobs, ${pkg.size} bytes)\ntags: 1.0.0, 1.0, 1, latest\n`,
    });
    expect(proxy.log.filter((l) => upload.test(l.path)).map((l) => `${l.method} ${l.fault ?? ''}`.trim())).toEqual(['PUT status', 'PUT reset', 'PUT']);
    // What the registry holds, read past the proxy.
    const check = sandbox({ EBPM_REGISTRY: `${reg.host}/pushed` });
    expect((await ebpm(['pull', 'sigsnoop:1.0.0'], check.env)).code).toBe(0);
    for (const [digest, bytes] of pkg.blobs) expect(readFileSync(join(check.store, 'blobs', 'sha256', digest.slice(7))).equals(Buffer.from(bytes))).toBe(true);
  });

  it('fails with one line and a clean store when the fault persists', async () => {
    const failing = await pullWith([
      { method: 'GET', path: `/v2/ebpm/sigsnoop/blobs/${payloadDigest}`, times: Infinity, fault: { kind: 'status', status: 500 } },
    ]);
    expect(failing.code).toBe(1);
    expect(failing.err).toBe(
      `error: pull sigsnoop@1: source: fetch ${payloadDigest}: ${proxy.host}: registry error UNKNOWN: injected fault\nhint: the registry failed; try again later\n`,
    );
    expectClean(failing.sb);
    proxy.reset();
    const corrupt = await pullWith([
      { method: 'GET', path: `/v2/ebpm/sigsnoop/blobs/${payloadDigest}`, times: Infinity, fault: { kind: 'corrupt', offset: 100 } },
    ]);
    expect([corrupt.code, corrupt.err.split('\n')[1]]).toEqual([1, 'hint: the content was corrupted or replaced; nothing of it was kept']);
    expectClean(corrupt.sb);
  });
});
