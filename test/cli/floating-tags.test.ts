// Floating tags against a real docker-registry: a push moves `M.m`, `M` and `latest` to the
// highest stable version of each line, never to a pre-release, and `--no-floating-tags` keeps
// only `latest` moving.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Registry } from '../../src/registry/client.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { json, packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

describeWith(['registry', 'clang'], 'floating tags against docker-registry', () => {
  let reg: RunningRegistry;
  let sb: Sandbox;
  const pkgs: Record<string, BuiltPackage> = {};

  beforeAll(async () => {
    reg = await startRegistry();
    sb = sandbox({ EBPM_REGISTRY: `${reg.host}/float` });
    for (const v of ['1.2.3', '1.2.4', '1.3.0', '1.2.5', '1.4.0-rc.1', '2.0.0', '1.5.0']) {
      pkgs[v] = await packageLayout(join(sb.root, 'src', v), { version: v, description: `Trace signals ${v}` });
    }
  });
  afterAll(() => reg?.stop());

  /** The repository's tags, each with the version its digest is. */
  async function tagMap(): Promise<Record<string, string>> {
    const repo = new Registry(reg.host).repository('float/sigsnoop');
    const byDigest = new Map(Object.entries(pkgs).map(([v, p]) => [p.digest, v]));
    const out: Record<string, string> = {};
    for (const t of await repo.tags()) out[t] = byDigest.get((await repo.resolve(t)).digest) ?? '?';
    return out;
  }

  async function pushed(v: string, ...flags: string[]): Promise<string[]> {
    return (await json<{ tags: string[] }>(['push', pkgs[v]!.dir, ...flags], sb.env)).tags;
  }

  it('moves M.m, M and latest only to the highest stable version of their line', async () => {
    expect(await pushed('1.2.3')).toEqual(['1.2.3', '1.2', '1', 'latest']);
    expect(await pushed('1.2.4')).toEqual(['1.2.4', '1.2', '1', 'latest']);
    expect(await pushed('1.3.0')).toEqual(['1.3.0', '1.3', '1', 'latest']);
    expect(await pushed('1.2.5')).toEqual(['1.2.5', '1.2']);
    expect(await tagMap()).toEqual({
      '1': '1.3.0',
      '1.2': '1.2.5',
      '1.2.3': '1.2.3',
      '1.2.4': '1.2.4',
      '1.2.5': '1.2.5',
      '1.3': '1.3.0',
      '1.3.0': '1.3.0',
      latest: '1.3.0',
    });
    // A pre-release moves nothing; pushing the same version again moves nothing either.
    expect(await pushed('1.4.0-rc.1')).toEqual(['1.4.0-rc.1']);
    expect(await pushed('1.2.5')).toEqual([]);
  });

  it('--no-floating-tags moves latest only', async () => {
    expect(await pushed('2.0.0', '--no-floating-tags')).toEqual(['2.0.0', 'latest']);
    expect(await pushed('1.5.0', '--no-floating-tags')).toEqual(['1.5.0']);
    const tags = await tagMap();
    expect([tags['2'], tags['2.0'], tags['1'], tags['1.5'], tags.latest]).toEqual([undefined, undefined, '1.3.0', undefined, '2.0.0']);
  });
});
