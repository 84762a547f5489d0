// `ebpm verify` against docker-registry 2.8.2: a rotten blob is removed with the manifests above
// it, so that pulling the package again is an ordinary copy; with the registry gone, the store is
// left consistent and the failure said in one line. A pull over a graph that lost a blob outside
// ebpm recovers the same way instead of failing with GRAPH_INCOMPLETE.
import { chmodSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { bytesOf } from '../registry/fixtures.js';
import { blobFiles, ebpm, json, packageLayout, sandbox, storeRefs, type BuiltPackage } from './helpers.js';

const PAYLOAD = 64 * 1024;

describeWith(['registry', 'clang'], 'store repair', () => {
  let reg: RunningRegistry;
  let pkg: BuiltPackage;
  let payload: string;

  beforeAll(async () => {
    reg = await startRegistry();
    const pub = sandbox({ EBPM_REGISTRY: `${reg.host}/ebpm` });
    pkg = await packageLayout(join(pub.root, 'pkg'), { version: '1.0.0', payload: bytesOf(PAYLOAD, 'repair') });
    payload = [...pkg.blobs].find(([, b]) => b.byteLength === PAYLOAD)![0];
    expect((await ebpm(['push', pkg.dir], pub.env)).code).toBe(0);
  });
  afterAll(() => reg?.stop());

  /** A store that pulled the package through its own proxy (stopping it takes the registry away). */
  const pulled = async () => {
    const proxy = await startFaultProxy(reg.url);
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/ebpm` });
    expect((await ebpm(['pull', 'sigsnoop:1.0.0'], sb.env)).code).toBe(0);
    return { proxy, sb, ref: `${proxy.host}/ebpm/sigsnoop:1.0.0` };
  };
  const blobPath = (store: string, digest: string) => join(store, 'blobs', 'sha256', digest.slice(7));
  const rot = (store: string, digest: string) => {
    const path = blobPath(store, digest);
    const bytes = readFileSync(path);
    bytes[100]! ^= 0xff;
    chmodSync(path, 0o644);
    writeFileSync(path, bytes);
  };
  const expectExact = (store: string) => {
    expect(blobFiles(store)).toEqual([...pkg.blobs.keys()].sort());
    for (const [digest, bytes] of pkg.blobs) expect(readFileSync(blobPath(store, digest)).equals(Buffer.from(bytes))).toBe(true);
  };
  const clean = { corruptBlobs: [], brokenManifests: [], droppedEntries: [], repaired: [], unrepaired: [] };
  const verdict = (r: Record<string, unknown>) => ({
    corruptBlobs: r.corruptBlobs,
    brokenManifests: r.brokenManifests,
    droppedEntries: r.droppedEntries,
    repaired: r.repaired,
    unrepaired: r.unrepaired,
  });

  it('removes a rotten layer and the manifest above it, then pulls the package again byte-exact', async () => {
    const { proxy, sb, ref } = await pulled();
    try {
      rot(sb.store, payload);
      const r = await json<Record<string, unknown>>(['verify'], sb.env);
      expect([r.verifiedBlobs, verdict(r)]).toEqual([
        pkg.blobs.size - 1,
        {
          corruptBlobs: [payload],
          brokenManifests: [pkg.digest],
          droppedEntries: [{ ref, digest: pkg.digest, missing: payload }],
          repaired: [ref],
          unrepaired: [],
        },
      ]);
      const listed = await json<{ reference: string; digest: string; size: number }[]>(['ls'], sb.env);
      expect(listed.map((e) => [e.reference, e.digest, e.size])).toEqual([[ref, pkg.digest, pkg.size]]);
      expectExact(sb.store);

      rot(sb.store, payload);
      expect(await ebpm(['verify'], sb.env)).toEqual({
        code: 0,
        err: '',
        out: `verified ${pkg.blobs.size - 1} blobs in ${sb.store}\nremoved corrupt blob ${payload}\npulled again ${ref}\n`,
      });
      expectExact(sb.store);
      const again = await json<Record<string, unknown>>(['verify'], sb.env);
      expect([again.verifiedBlobs, verdict(again)]).toEqual([pkg.blobs.size, clean]);
    } finally {
      await proxy.stop();
    }
  });

  it('says in one line what it could not repair with the registry gone, and leaves the store consistent', async () => {
    const { proxy, sb, ref } = await pulled();
    await proxy.stop();
    rot(sb.store, payload);
    expect(await ebpm(['verify'], sb.env)).toEqual({
      code: 1,
      err: '',
      out: `verified ${pkg.blobs.size - 1} blobs in ${sb.store}\nremoved corrupt blob ${payload}\ncould not repair ${ref}: registry unreachable\n`,
    });
    // The manifest went with its layer: no entry, no manifest whose graph is incomplete.
    expect(storeRefs(sb.store)).toEqual([]);
    expect(blobFiles(sb.store)).toEqual([...pkg.blobs.keys()].filter((d) => d !== payload && d !== pkg.digest).sort());
    expect(await ebpm(['ls', '--json'], sb.env)).toEqual({ code: 0, err: '', out: '[]\n' });
    const again = await json<Record<string, unknown>>(['verify'], sb.env);
    expect([again.verifiedBlobs, verdict(again)]).toEqual([pkg.blobs.size - 2, clean]);
  });

  it('recovers a pull over a manifest whose layer was lost outside ebpm', async () => {
    const { proxy, sb, ref } = await pulled();
    try {
      // What an older `ebpm verify` left: the entry dropped, the manifest kept, its layer gone.
      unlinkSync(blobPath(sb.store, payload));
      const index = JSON.parse(readFileSync(join(sb.store, 'index.json'), 'utf8')) as { manifests: unknown[] };
      writeFileSync(join(sb.store, 'index.json'), JSON.stringify({ ...index, manifests: [] }));
      const manifestSize = pkg.blobs.get(pkg.digest)!.byteLength;
      expect(await ebpm(['pull', 'sigsnoop:1.0.0'], sb.env)).toEqual({
        code: 0,
        err: '',
        out: `pulled ${ref} ${pkg.digest} (2 blobs, ${manifestSize + PAYLOAD} bytes)\n`,
      });
      expect(storeRefs(sb.store)).toEqual([ref]);
      expectExact(sb.store);
    } finally {
      await proxy.stop();
    }
  });
});
