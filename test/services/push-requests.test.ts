// The request budget of a first push against a real docker-registry 2.8.2, counted at a proxy in
// front of it: every blob is checked, then uploaded with POST and one PUT; each manifest that
// takes a tag (the package's, the search index's) is PUT once, under the tag, never first by
// digest; the floating tags follow. The search index is drafted while the package uploads, so
// after the version tag only one HEAD and one manifest PUT are left of it, unless someone wrote
// the index meanwhile: then it is read and merged again, and nobody's entry is lost. The
// registry is asked about a package's blobs beside its manifest and its version tag, not after
// them; nothing is written before the version is known to be new.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openContext } from '../../src/services/context.js';
import { push } from '../../src/services/push.js';
import { readIndexArtifact } from '../../src/services/search-index.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { packageLayout, sandbox } from '../cli/helpers.js';

describeWith(['registry', 'clang'], 'push request budget', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  /** Holds the request `method path` until `repository` was asked about each of `blobs` (a HEAD). */
  const holdUntilAsked = (method: string, path: RegExp, repository: string, blobs: readonly string[]) =>
    proxy.add({
      method,
      path,
      fault: {
        kind: 'before',
        action: async () => void (await Promise.all(blobs.map((d) => proxy.requested('HEAD', new RegExp(`/${repository}/blobs/${d}$`))))),
      },
    });

  it('PUTs each tagged manifest once, under its tag, and is pulled back by digest', async () => {
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/ebpm` });
    const pkg = await packageLayout(join(sb.root, 'src'), { version: '1.2.0' });
    const result = await push(await openContext(sb.env), { path: pkg.dir, destination: 'ebpm/budget' });
    expect([result.digest, result.tags, result.unchanged]).toEqual([pkg.digest, ['1.2.0', '1.2', '1', 'latest'], false]);
    const requests = proxy.log.map((l) => `${l.method} ${l.path}`);
    expect(requests.filter((r) => r.startsWith('PUT ') && r.includes('/manifests/')).sort()).toEqual(
      [
        'PUT /v2/ebpm/budget/manifests/1.2.0',
        'PUT /v2/ebpm/budget/manifests/1.2',
        'PUT /v2/ebpm/budget/manifests/1',
        'PUT /v2/ebpm/budget/manifests/latest',
        'PUT /v2/ebpm/ebpm-index/manifests/latest',
      ].sort(),
    );
    // The version tag goes before the floating ones.
    expect(requests.indexOf('PUT /v2/ebpm/budget/manifests/1.2.0')).toBeLessThan(requests.indexOf('PUT /v2/ebpm/budget/manifests/latest'));
    const blobs = requests.filter((r) => r.includes('/budget/blobs/'));
    const uploads = blobs.filter((r) => r.startsWith('PUT ')).length;
    expect([blobs.filter((r) => r.startsWith('HEAD ')).length, blobs.filter((r) => r.startsWith('POST ')).length]).toEqual([uploads, uploads]);
    // Stored by its tag, the manifest is there by digest too.
    const byDigest = await fetch(`${reg.url}/v2/ebpm/budget/manifests/${pkg.digest}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect([byDigest.status, byDigest.headers.get('docker-content-digest')]).toEqual([200, pkg.digest]);
  });

  it('asks about the blobs beside the manifest: each blob HEAD goes out before the manifest HEAD is answered', async () => {
    proxy.reset();
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/ahead` });
    const pkg = await packageLayout(join(sb.root, 'src'), { name: 'early', version: '1.0.0' });
    const children = [...pkg.blobs.keys()].filter((d) => d !== pkg.digest);
    // The manifest's check is answered only once every blob was asked about: a push that asks
    // about them after that answer never gets that far, and the test fails on its timeout.
    holdUntilAsked('HEAD', new RegExp(`^/v2/ahead/early/manifests/${pkg.digest}$`), 'ahead/early', children);
    const result = await push(await openContext(sb.env), { path: pkg.dir, destination: 'ahead/early' });
    expect(result.digest).toBe(pkg.digest);
    const requests = proxy.log.map((l) => `${l.method} ${l.path}`);
    expect(requests.filter((r) => r.startsWith('HEAD /v2/ahead/early/blobs/')).sort()).toEqual(children.map((d) => `HEAD /v2/ahead/early/blobs/${d}`).sort());
    expect(requests.filter((r) => r.startsWith('PUT /v2/ahead/early/blobs/')).length).toBe(children.length);
  });

  it('checks the version tag and the blobs at once, and writes nothing for a version already there', async () => {
    proxy.reset();
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/gated` });
    const pkg = await packageLayout(join(sb.root, 'src'), { name: 'gated', version: '1.0.0' });
    const children = [...pkg.blobs.keys()].filter((d) => d !== pkg.digest);
    // The tag list is answered only once every blob was asked about: a push that checks its
    // blobs only after its version never gets that far, and the test fails on its timeout.
    holdUntilAsked('GET', /^\/v2\/gated\/gated\/tags\/list/, 'gated/gated', children);
    await push(await openContext(sb.env), { path: pkg.dir, destination: 'gated/gated' });
    // Again, the same content: nothing of the package is written. Other content under that version: refused, nothing written.
    const other = await packageLayout(join(sb.root, 'other'), { name: 'gated', version: '1.0.0', payload: new Uint8Array([1, 2, 3]) });
    const writes = () =>
      proxy.log.filter((l) => l.path.startsWith('/v2/gated/gated/') && (l.method === 'POST' || l.method === 'PUT')).map((l) => `${l.method} ${l.path}`);
    proxy.reset();
    const again = await push(await openContext(sb.env), { path: pkg.dir, destination: 'gated/gated' });
    expect([again.unchanged, writes()]).toEqual([true, []]);
    proxy.reset();
    const refused = await push(await openContext(sb.env), { path: other.dir, destination: 'gated/gated' }).catch((e: unknown) => e);
    expect([(refused as { code?: string }).code, writes()]).toEqual(['VERSION_EXISTS', []]);
  });

  it('drafts the search index while the package uploads: a HEAD and a manifest PUT are left after it', async () => {
    proxy.reset();
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/draft` });
    const pkg = await packageLayout(join(sb.root, 'src'), { name: 'drafted', version: '1.0.0' });
    // The package's object waits until the index's layer has gone up: a push that wrote the index
    // only after its packages never gets that far, and the test fails on its timeout.
    proxy.add({
      method: 'PUT',
      path: /^\/v2\/draft\/drafted\/blobs\/uploads\//,
      times: Infinity,
      fault: { kind: 'before', action: () => proxy.requested('PUT', /\/ebpm-index\/blobs\/uploads\//) },
    });
    await push(await openContext(sb.env), { path: pkg.dir, destination: 'draft/drafted' });
    const requests = proxy.log.map((l) => `${l.method} ${l.path.replace(/\?.*/, '')}`);
    const tagged = requests.indexOf('PUT /v2/draft/drafted/manifests/1.0.0');
    expect(requests.slice(tagged).filter((r) => r.includes('/draft/ebpm-index/'))).toEqual([
      'HEAD /v2/draft/ebpm-index/manifests/latest',
      'PUT /v2/draft/ebpm-index/manifests/latest',
    ]);
    const index = await readIndexArtifact((await (await openContext(sb.env)).registry(reg.host)).repository('draft/ebpm-index'));
    expect(index?.entries.map((e) => `${e.repository}:${e.version}`)).toEqual(['draft/drafted:1.0.0']);
  });

  it('reads and merges the index again when another push wrote it meanwhile', async () => {
    proxy.reset();
    const sb = sandbox({ EBPM_REGISTRY: `${proxy.host}/race` });
    const direct = sandbox({ EBPM_REGISTRY: `${reg.host}/race` });
    const ours = await packageLayout(join(sb.root, 'ours'), { name: 'ours', version: '1.0.0' });
    const theirs = await packageLayout(join(direct.root, 'theirs'), { name: 'theirs', version: '2.0.0' });
    // Just before our version tag, another client pushes into the namespace, straight to the registry.
    proxy.add({
      method: 'PUT',
      path: '/v2/race/ours/manifests/1.0.0',
      fault: {
        kind: 'before',
        action: async () => {
          await push(await openContext(direct.env), { path: theirs.dir, destination: 'race/theirs' });
        },
      },
    });
    await push(await openContext(sb.env), { path: ours.dir, destination: 'race/ours' });
    const repo = (await (await openContext(direct.env)).registry(reg.host)).repository('race/ebpm-index');
    const index = await readIndexArtifact(repo);
    expect(index?.entries.map((e) => `${e.repository}:${e.version}`).sort()).toEqual(['race/ours:1.0.0', 'race/theirs:2.0.0']);
  });
});
