// `sudo ebpm run <ref>`: root reads, without writing to it, what the invoking user pulled.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openContext } from '../../src/services/context.js';
import { referenceSource } from '../../src/services/pull.js';
import { OciLayout } from '../../src/store/layout.js';
import { blobFiles, ebpm, packageLayout, sandbox } from '../cli/helpers.js';
import { describeWith } from '../helpers/prereq.js';

describeWith(['clang'], 'the sudo user’s store', () => {
  it('serves a reference stored only in the user’s store, offline, and leaves root’s store empty', async () => {
    const user = sandbox();
    const pkg = await packageLayout(join(user.root, 'src'), { version: '1.2.0' });
    expect((await ebpm(['push', pkg.dir], user.env)).code).toBe(0);
    expect((await ebpm(['pull', 'sigsnoop@1.2'], user.env)).code).toBe(0);
    const root = sandbox({ EBPM_LOCAL_REGISTRY: join(user.root, 'no-registry') });
    const base = await openContext(root.env);
    const ctx = { ...base, userStore: () => OciLayout.open(user.store, { create: false }) };
    const resolved = await referenceSource(async () => ctx).resolve('sigsnoop:1.2.0', {
      pull: 'missing',
      env: root.env,
      cwd: root.root,
      context: async () => ctx,
      trustPolicy: () => ctx.trustPolicy(),
    });
    expect(resolved?.metadata.version).toBe('1.2.0');
    expect([...resolved!.objects.keys()]).toEqual(['sigsnoop.bpf.o']);
    expect(blobFiles(root.store)).toEqual([]);
    // Not in either store: the error names root's store.
    const missing = await referenceSource(async () => ctx)
      .resolve('other:1.0.0', { pull: 'never', env: root.env, cwd: root.root, context: async () => ctx, trustPolicy: () => ctx.trustPolicy() })
      .catch((e: unknown) => e as Error);
    expect((missing as Error).message).toBe(`pull other:1.0.0: local.invalid/other:1.0.0: not in the local store (${root.store})`);
  });
});
