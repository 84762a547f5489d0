// The request budget of pull against a real docker-registry 2.8.2, counted at a proxy in front
// of it (signature lookups included): a first pull reads the signatures and the referrers
// listing once, for the trust check and the store alike, and asks for cosign's `.att` and
// `.sbom` tags, which travel with the package; a stored, pinned package costs nothing; re-pulling `latest` costs
// one manifest request, signed or not, while the recorded decision is current.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openContext, type Context } from '../../src/services/context.js';
import { pull } from '../../src/services/pull.js';
import { push } from '../../src/services/push.js';
import { signPackage } from '../../src/services/sign.js';
import { Registry } from '../../src/registry/client.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { packageLayout, sandbox } from '../cli/helpers.js';
import { plainKey, tempDir, writePolicy } from '../sign-e2e/fixtures.js';

describeWith(['registry', 'clang'], 'pull request budget', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let digest: string;

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    const sb = sandbox({ EBPM_REGISTRY: `${reg.host}/ebpm` });
    const pkg = await packageLayout(join(sb.root, 'src'), { version: '1.2.0' });
    digest = pkg.digest;
    for (const name of ['plain', 'signed']) await push(await openContext(sb.env), { path: pkg.dir, destination: `ebpm/${name}` });
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  /** Pulls `reference` through the proxy and returns the result and the requests it made, as `METHOD path`. */
  const counted = async (ctx: Context, reference: string, policy: 'missing' | 'always' = 'missing') => {
    proxy.reset();
    const result = await pull(ctx, { reference, policy });
    return { result, requests: proxy.log.map((l) => `${l.method} ${l.path.replaceAll(digest.slice(7), '<hex>')}`) };
  };
  const lookups = (repo: string) => [
    `GET /v2/ebpm/${repo}/manifests/sha256-<hex>`,
    `GET /v2/ebpm/${repo}/referrers/sha256:<hex>`,
    `HEAD /v2/ebpm/${repo}/manifests/sha256-<hex>.sig`,
    `HEAD /v2/ebpm/${repo}/manifests/sha256-<hex>.att`,
    `HEAD /v2/ebpm/${repo}/manifests/sha256-<hex>.sbom`,
  ];

  it('reads signatures once on a first pull, nothing for a stored pinned package, one request to re-pull latest', async () => {
    const ctx = await openContext(sandbox({ EBPM_REGISTRY: `${proxy.host}/ebpm` }).env);
    const first = await counted(ctx, 'plain:1.2.0');
    expect([first.result.from, first.result.blobs, first.result.trust.cached]).toEqual(['registry', 3, false]);
    const gets = first.requests.filter((r) => r.includes('/blobs/')).length;
    expect(first.requests.filter((r) => !r.includes('/blobs/')).sort()).toEqual(
      [...lookups('plain'), 'GET /v2/ebpm/plain/manifests/sha256:<hex>', 'HEAD /v2/ebpm/plain/manifests/1.2.0'].sort(),
    );
    expect(gets).toBe(2);

    const pinned = await counted(ctx, 'plain:1.2.0');
    expect([pinned.result.from, pinned.result.upToDate, pinned.result.trust.cached, pinned.requests]).toEqual(['store', true, true, []]);
    const always = await counted(ctx, 'plain:1.2.0', 'always');
    expect([always.result.upToDate, always.result.blobs, always.requests]).toEqual([true, 0, ['HEAD /v2/ebpm/plain/manifests/1.2.0']]);

    // `latest` is a new name for the stored digest: its signatures are looked up once more, then
    // never; the context's one repository already knows the registry has no referrers API.
    const named = await counted(ctx, 'plain');
    expect([named.result.upToDate, named.result.blobs, named.requests.sort()]).toEqual([
      false,
      0,
      ['HEAD /v2/ebpm/plain/manifests/latest', ...lookups('plain').filter((r) => !r.includes('/referrers/'))].sort(),
    ]);
    const again = await counted(ctx, 'plain');
    expect([again.result.upToDate, again.result.trust.cached, again.requests]).toEqual([true, true, ['HEAD /v2/ebpm/plain/manifests/latest']]);
  });

  it('re-pulls a package signed under require-signature with one manifest request', async () => {
    const alice = await plainKey();
    await signPackage(
      new Registry(reg.host).repository('ebpm/signed'),
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 0 },
      alice.key,
      { format: 'legacy', repository: `${proxy.host}/ebpm/signed` },
    );
    const policy = writePolicy(tempDir('policy-'), { alice: alice.publicPem }, { [`${proxy.host}/ebpm`]: { require: 'require-signature', keys: ['alice'] } });
    const ctx = await openContext(sandbox({ EBPM_REGISTRY: `${proxy.host}/ebpm`, EBPM_TRUST_POLICY: policy.path }).env);

    const first = await counted(ctx, 'signed');
    expect([first.result.trust.decision.reason, first.result.trust.cached, first.result.blobs]).toEqual(['signed', false, 3]);
    // The .sig manifest and its one layer are read once; the store takes them from the trust check.
    expect(first.requests.filter((r) => r.includes('sha256-<hex>') || r.includes('/referrers/')).sort()).toEqual([
      'GET /v2/ebpm/signed/manifests/sha256-<hex>',
      'GET /v2/ebpm/signed/referrers/sha256:<hex>',
      'HEAD /v2/ebpm/signed/manifests/sha256-<hex>.att',
      'HEAD /v2/ebpm/signed/manifests/sha256-<hex>.sbom',
      'HEAD /v2/ebpm/signed/manifests/sha256-<hex>.sig',
    ]);
    const again = await counted(ctx, 'signed');
    expect([again.result.upToDate, again.result.trust.cached, again.result.trust.decision.reason, again.requests]).toEqual([
      true,
      true,
      'signed',
      ['HEAD /v2/ebpm/signed/manifests/latest'],
    ]);
  });
});
