// The registry in memory that `ebpm push`'s start-up snapshot pushes its sample to while it is
// built (src/cli/snapshot-registry.ts): a push to it asks what a push to docker-registry 2.8.2
// asks, gets the same answers, and ends the same, so the code the snapshot compiles is the code
// a real push runs. Then what it refuses: a blob whose bytes are not its digest.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openContext } from '../../src/services/context.js';
import { push } from '../../src/services/push.js';
import { memoryRegistry } from '../../src/cli/snapshot-registry.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { packageLayout, sandbox } from './helpers.js';

/** The exchanges `--verbose` logs, as `status method path`, with hosts, upload sessions and query strings left out, sorted. */
function exchanges(lines: readonly string[]): string[] {
  return lines
    .flatMap((l) => {
      const m = /^< (\d+) (\w+) \w+:\/\/[^/]+(\/[^ ?]*)/.exec(l);
      return m === null ? [] : [`${m[1]} ${m[2]} ${m[3]!.replace(/\/blobs\/uploads\/[^/]+$/, '/blobs/uploads/<session>')}`];
    })
    .sort();
}

describeWith(['registry', 'clang'], "the push snapshot's registry in memory", () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('is asked and answers as docker-registry is, for a first push and for the same push again', async () => {
    const sb = sandbox();
    const pkg = await packageLayout(join(sb.root, 'src'), { version: '1.2.0' });
    const pushed = async (registry: string, wire?: ReturnType<typeof memoryRegistry>) => {
      const lines: string[] = [];
      const ctx = await openContext({ ...sb.env, EBPM_REGISTRY: `${registry}/warm` }, { debug: (l) => lines.push(l), ...(wire ? { wire } : {}) });
      const first = await push(ctx, { path: pkg.dir });
      const firstLines = exchanges(lines.splice(0));
      const again = await push(ctx, { path: pkg.dir });
      // Once the version tag is known to hold the package, the push stops: how many of the blob
      // checks it sent beside that one were answered by then is the machine's timing.
      const againLines = exchanges(lines).filter((e) => !/^200 HEAD \S+\/blobs\//.test(e));
      return { first: { ...first, reference: first.reference.replace(registry, '<host>') }, again: again.unchanged, exchanges: [firstLines, againLines] };
    };
    const real = await pushed(reg.host);
    const inMemory = await pushed('registry.invalid', memoryRegistry());
    expect(inMemory).toEqual(real);
    expect(real.first).toEqual({
      reference: '<host>/warm/sigsnoop:1.2.0',
      name: 'sigsnoop',
      version: '1.2.0',
      digest: pkg.digest,
      tags: ['1.2.0', '1.2', '1', 'latest'],
      unchanged: false,
      blobs: pkg.blobs.size,
      bytes: pkg.size,
    });
    expect(real.again).toBe(true);
    // The first push uploads each blob but the manifest, which it PUTs under each of its tags.
    const first = real.exchanges[0]!;
    expect(first.filter((e) => e === '201 PUT /v2/warm/sigsnoop/blobs/uploads/<session>')).toHaveLength(pkg.blobs.size - 1);
    expect(first.filter((e) => e.startsWith('201 PUT /v2/warm/sigsnoop/manifests/'))).toHaveLength(4);
  });

  it('refuses a blob whose bytes are not its digest, as a registry does', async () => {
    const send = memoryRegistry();
    const url = (path: string) => new URL(`https://registry.invalid/v2/warm/x/${path}`);
    const session = await send({ method: 'POST', url: url('blobs/uploads/') });
    expect([session.status, session.headers.location]).toEqual([202, '/v2/warm/x/blobs/uploads/1']);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const put = await send({ method: 'PUT', url: new URL(`${url('blobs/uploads/1')}?digest=${wrong}`), body: new Uint8Array([1, 2, 3]) });
    expect(put.status).toBe(400);
    expect((await send({ method: 'HEAD', url: url(`blobs/${wrong}`) })).status).toBe(404);
  });
});
