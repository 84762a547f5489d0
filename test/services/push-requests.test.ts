// The request budget of a first push against a real docker-registry 2.8.2, counted at a proxy in
// front of it: every blob is checked, then uploaded with POST and one PUT; each manifest that
// takes a tag (the package's, the search index's) is PUT once, under the tag, never first by
// digest; the floating tags follow.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openContext } from '../../src/services/context.js';
import { push } from '../../src/services/push.js';
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
});
