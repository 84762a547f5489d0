// The check-then-load race (issue 11, item 2): a writer flips the tag a run resolved, between the
// trust decision and the load, from a signed package to an unsigned one. The flip is made
// deterministic by doing it when the run first asks for the trust policy, which is after the
// tag was resolved and before anything is admitted or loaded. What runs must be the signed
// package the policy admitted, and the unsigned one must be refused whenever it is resolved.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { copyGraph } from '../../src/content/copy.js';
import { ANNOTATION_REF_NAME, type Descriptor } from '../../src/core/oci.js';
import { type Context, openContext } from '../../src/services/context.js';
import { referenceSource } from '../../src/services/pull.js';
import { localSource, type ResolveOptions } from '../../src/services/run-source.js';
import { signPackage, storedRepository } from '../../src/services/sign.js';
import type { SigningKey } from '../../src/sign/keys.js';
import { OciLayout } from '../../src/store/layout.js';
import { packageLayout } from '../cli/helpers.js';
import { describeWith } from '../helpers/prereq.js';
import { plainKey, tempDir, writePolicy } from './fixtures.js';

/** `retag` rewrites index.json in place, as a racing writer would: `ref` names `to` from now on. */
function retag(layoutDir: string, ref: string, to: Descriptor): void {
  const path = join(layoutDir, 'index.json');
  const index = JSON.parse(readFileSync(path, 'utf8')) as { manifests: Descriptor[] };
  const entry = index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === ref)!;
  Object.assign(entry, { mediaType: to.mediaType, digest: to.digest, size: to.size });
  writeFileSync(path, JSON.stringify(index));
}

/** `racing` is `ctx` with a writer that runs `flip` when the run first asks for the trust policy. */
function racing(ctx: Context, flip: () => void): { ctx: Context; flips: () => number } {
  let flips = 0;
  return {
    ctx: {
      ...ctx,
      trustPolicy: () => {
        if (flips++ === 0) flip();
        return ctx.trustPolicy();
      },
    },
    flips: () => flips,
  };
}

describeWith(['clang'], 'the trust decision and the load see one package', () => {
  let key: SigningKey;
  let policy = '';
  let env: Record<string, string> = {};
  beforeAll(async () => {
    const k = await plainKey();
    key = k.key;
    const home = tempDir('race-');
    policy = writePolicy(home, { trusted: k.publicPem }, { '*': { require: 'require-signature', keys: ['trusted'] } }).path;
    env = { HOME: home, EBPM_STORE: join(home, 'store'), EBPM_LOCAL_REGISTRY: join(home, 'registry'), EBPM_TRUST_POLICY: policy };
  });

  const plain = (d: { digest: string; size: number; mediaType: string }): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });

  it('runs the signed package a layout tag named when admitted, though the tag names an unsigned one by the load', async () => {
    const dir = tempDir('race-layout-');
    await packageLayout(dir, { version: '1.0.0' });
    await packageLayout(dir, { version: '1.0.1' });
    const layout = await OciLayout.open(dir, { create: false });
    const [signed, unsigned] = [plain(await layout.resolve('1.0.0')), plain(await layout.resolve('1.0.1'))];
    await layout.tag(signed, 'latest');
    await signPackage(layout, signed, key, { format: 'legacy', repository: 'sigsnoop' });
    const ctx = await openContext(env);
    const race = racing(ctx, () => retag(dir, 'latest', unsigned));
    const opts: ResolveOptions = { pull: 'never', env, cwd: '/', context: async () => race.ctx, trustPolicy: () => race.ctx.trustPolicy() };

    const pkg = await localSource().resolve(dir, opts);
    expect(race.flips()).toBe(1);
    expect((await layout.resolve('latest')).digest).toBe(unsigned.digest);
    expect([pkg?.metadata.version, pkg?.trust?.decision.reason, pkg?.trust?.decision.allow]).toEqual(['1.0.0', 'signed', true]);

    // Resolved now, the tag names the unsigned package: refused before anything of it is read.
    await expect(localSource().resolve(dir, { ...opts, context: async () => ctx, trustPolicy: () => ctx.trustPolicy() })).rejects.toMatchObject({
      code: 'TRUST_REFUSED',
      message: `refused ${dir}@${unsigned.digest}: not signed (require-signature by the default scope in ${policy})`,
    });
  });

  it('runs the signed package a stored tag named when admitted, though the store names an unsigned one by the load', async () => {
    const src = await OciLayout.open(tempDir('race-src-'));
    await packageLayout(src.root, { version: '1.0.0' });
    await packageLayout(src.root, { version: '1.0.1' });
    const [signed, unsigned] = [plain(await src.resolve('1.0.0')), plain(await src.resolve('1.0.1'))];
    const ctx = await openContext(env);
    const store = await ctx.store();
    const repository = 'local.invalid/sigsnoop';
    for (const [d, tag] of [
      [signed, '1.0.0'],
      [unsigned, '1.0.1'],
    ] as const) {
      await copyGraph(src, store, d);
      await store.tag(d, `${repository}:${tag}`);
    }
    await signPackage(storedRepository(store, repository), signed, key, { format: 'legacy', repository });
    const race = racing(ctx, () => retag(store.root, `${repository}:1.0.0`, unsigned));
    const opts: ResolveOptions = { pull: 'never', env, cwd: '/', context: async () => race.ctx, trustPolicy: () => race.ctx.trustPolicy() };

    const pkg = await referenceSource(opts.context).resolve('sigsnoop:1.0.0', opts);
    expect(race.flips()).toBe(1);
    expect((await store.resolve(`${repository}:1.0.0`)).digest).toBe(unsigned.digest);
    expect([pkg?.metadata.version, pkg?.trust?.decision.reason, pkg?.trust?.decision.allow]).toEqual(['1.0.0', 'signed', true]);

    await expect(referenceSource(async () => ctx).resolve('sigsnoop:1.0.0', { ...opts, context: async () => ctx })).rejects.toMatchObject({
      code: 'TRUST_REFUSED',
      message: `pull sigsnoop:1.0.0: refused ${repository}@${unsigned.digest}: not signed (require-signature by the default scope in ${policy})`,
    });
  });
});
