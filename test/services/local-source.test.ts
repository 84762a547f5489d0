// src/services/local-source.ts: one way from a path to a package, and one tag rule for a
// layout, the same for inspect, run and push.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openContext } from '../../src/services/context.js';
import { inspectPath } from '../../src/services/inspect.js';
import { isLocalPath, openLocal, pickLayoutTag } from '../../src/services/local-source.js';
import { push } from '../../src/services/push.js';
import { localSource } from '../../src/services/run-source.js';
import { signPackage } from '../../src/services/sign.js';
import { OciLayout } from '../../src/store/layout.js';
import { ebpm, packageLayout, sandbox } from '../cli/helpers.js';
import { describeWith } from '../helpers/prereq.js';
import { plainKey } from '../sign-e2e/fixtures.js';

const SIG = `sha256-${'a'.repeat(64)}.sig`;

describe('pickLayoutTag', () => {
  it('takes latest, else the only package tag; side tags do not count', () => {
    expect(pickLayoutTag('/l', ['1.0.0', 'latest', SIG])).toBe('latest');
    expect(pickLayoutTag('/l', ['1.0.0', SIG, `sha256-${'b'.repeat(64)}`, `ghcr.io/x/y:${SIG}`])).toBe('1.0.0');
  });

  it('refuses no package tag, and several without latest, listing them', () => {
    expect(() => pickLayoutTag('/l', [SIG])).toThrow(expect.objectContaining({ code: 'NOT_FOUND', message: 'the layout has no package tag' }));
    expect(() => pickLayoutTag('/l', ['1.0.0', '1.1.0', SIG])).toThrow(
      expect.objectContaining({ code: 'USAGE', message: 'the layout has several tags (1.0.0, 1.1.0) and no latest', hint: 'name one: /l:1.0.0' }),
    );
  });
});

describe('isLocalPath', () => {
  const sb = sandbox();
  mkdirSync(join(sb.root, 'dir'));
  writeFileSync(join(sb.root, 'file.bpf.o'), 'x');

  it('tells existing paths, dir:tag and paths written as paths from references', async () => {
    const cases = ['dir', 'dir:1.0.0', 'file.bpf.o', './absent', '/absent', '..', 'sigsnoop', 'sigsnoop:1.0.0', 'ghcr.io/x/y@1.2', 'file.bpf.o:1.0.0'];
    const answers = await Promise.all(cases.map((c) => isLocalPath(sb.root, c)));
    expect(Object.fromEntries(cases.map((c, i) => [c, answers[i]]))).toEqual({
      dir: true,
      'dir:1.0.0': true,
      'file.bpf.o': true,
      './absent': true,
      '/absent': true,
      '..': true,
      sigsnoop: false,
      'sigsnoop:1.0.0': false,
      'ghcr.io/x/y@1.2': false,
      // A tag only follows a directory.
      'file.bpf.o:1.0.0': false,
    });
    expect(await openLocal('sigsnoop', sb.root)).toBeUndefined();
  });
});

describeWith(['clang'], 'one tag rule for inspect, run and push', () => {
  const sb = sandbox();
  const dir = join(sb.root, 'layout');
  beforeAll(async () => {
    await packageLayout(dir, { version: '1.0.0' });
    await packageLayout(dir, { version: '1.1.0' });
  });

  it('refuses a layout with several package tags and no latest, the same way in all three', async () => {
    const ctx = await openContext(sb.env);
    const opts = { pull: 'never' as const, env: sb.env, cwd: sb.root, context: async () => ctx, trustPolicy: () => ctx.trustPolicy() };
    const why = { code: 'USAGE', hint: `name one: ${dir}:1.0.0` };
    const several = 'the layout has several tags (1.0.0, 1.1.0) and no latest';
    await expect(inspectPath('layout', sb.root, sb.env)).rejects.toMatchObject({ ...why, message: `inspect layout: ${several}` });
    await expect(localSource().resolve('layout', opts)).rejects.toMatchObject({ ...why, message: `layout: ${several}` });
    await expect(push(ctx, { path: dir })).rejects.toMatchObject({ ...why, message: `push ${dir}: ${several}` });
  });

  it('exits 2 with the tags listed, from the command line of each', async () => {
    const line = (verb: string) => `error: ${verb}${dir}: the layout has several tags (1.0.0, 1.1.0) and no latest\nhint: name one: ${dir}:1.0.0\n`;
    expect(await ebpm(['inspect', dir], sb.env)).toEqual({ code: 2, out: '', err: line('inspect ') });
    expect(await ebpm(['run', dir], sb.env)).toEqual({ code: 2, out: '', err: line('') });
    expect(await ebpm(['push', dir], sb.env)).toEqual({ code: 2, out: '', err: line('push ') });
  });

  it('takes the only package tag beside a signature tag, the same way in all three', async () => {
    const one = join(sb.root, 'one');
    const pkg = await packageLayout(one, { version: '2.0.0' });
    const layout = await OciLayout.open(one, { create: false });
    const d = await layout.resolve('2.0.0');
    await signPackage(layout, { mediaType: d.mediaType, digest: d.digest, size: d.size }, (await plainKey()).key, { format: 'legacy', repository: 'sigsnoop' });
    expect(await layout.tags()).toEqual(['2.0.0', `sha256-${pkg.digest.slice(7)}.sig`]);
    const ctx = await openContext(sb.env);
    const opts = { pull: 'never' as const, env: sb.env, cwd: sb.root, context: async () => ctx, trustPolicy: () => ctx.trustPolicy() };
    expect((await inspectPath('one', sb.root, sb.env)).digest).toBe(pkg.digest);
    expect((await localSource().resolve('one', opts))?.metadata.version).toBe('2.0.0');
    expect(await push(ctx, { path: one })).toMatchObject({ reference: 'local.invalid/sigsnoop:2.0.0', digest: pkg.digest });
  });
});
