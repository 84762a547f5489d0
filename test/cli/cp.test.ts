// `ebpm cp` between two real docker-registries and from the store: the package and what is
// attached to it (a cosign .sig signature, a sigstore bundle referrer) arrive byte for byte, so
// `ebpm verify` passes at the destination; versions stay immutable there without --force.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

describeWith(['registry', 'clang'], 'ebpm cp', () => {
  let a: RunningRegistry;
  let b: RunningRegistry;
  let sb: Sandbox;
  let env: Record<string, string>;
  let pkg: BuiltPackage;
  let other: BuiltPackage;
  let fingerprint: string;
  const cli = (args: string[]) => runEbpm(args, { env, cwd: sb.root });

  beforeAll(async () => {
    [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    sb = sandbox({ EBPM_REGISTRY: `${a.host}/ebpm`, EBPM_PASSWORD: '' });
    env = sb.env;
    pkg = await packageLayout(join(sb.root, 'src', '1.2.0'), { version: '1.2.0' });
    other = await packageLayout(join(sb.root, 'src', '1.3.0'), { version: '1.3.0' });
    fingerprint = (JSON.parse((await cli(['keygen', '--json'])).stdout) as { fingerprint: string }).fingerprint;
    expect((await cli(['push', pkg.dir, '--sign', '--key', 'cosign.key'])).code).toBe(0);
    expect((await cli(['sign', 'sigsnoop:1.2.0', '--key', 'cosign.key', '--bundle'])).code).toBe(0);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('copies registry to registry with the signature and the bundle, keeping the tag', async () => {
    expect(await cli(['cp', `${a.host}/ebpm/sigsnoop:1.2.0`, `${b.host}/mirror/sigsnoop`])).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: [
        `copied ${a.host}/ebpm/sigsnoop:1.2.0 to ${b.host}/mirror/sigsnoop:1.2.0 ${pkg.digest} (3 blobs, ${pkg.size} bytes)`,
        'attached: 2 signatures',
        '',
      ].join('\n'),
    });
    const verified = await cli(['verify', `${b.host}/mirror/sigsnoop:1.2.0`, '--key', 'cosign.pub']);
    expect(verified).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: [
        `verified ${b.host}/mirror/sigsnoop@${pkg.digest} (from the registry)`,
        `  signed by cosign (key ${fingerprint}), legacy signature`,
        `  signed by cosign (key ${fingerprint}), bundle signature`,
        '',
      ].join('\n'),
    });
    // Again: nothing to send.
    expect(await cli(['cp', `${a.host}/ebpm/sigsnoop:1.2.0`, `${b.host}/mirror/sigsnoop`])).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: `${b.host}/mirror/sigsnoop:1.2.0 is up to date (${pkg.digest})\nattached: 2 signatures\n`,
    });
  });

  it('copies from the store, under a name only the store knows, to a new tag', async () => {
    expect((await cli(['pull', 'sigsnoop:1.2.0'])).code).toBe(0);
    expect((await cli(['tag', 'sigsnoop:1.2.0', 'offline.invalid/x/sigsnoop:1.2.0'])).code).toBe(0);
    expect(await cli(['cp', 'offline.invalid/x/sigsnoop:1.2.0', `${b.host}/stored/sigsnoop:stable`])).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: `copied offline.invalid/x/sigsnoop:1.2.0 (from the store) to ${b.host}/stored/sigsnoop:stable ${pkg.digest} (3 blobs, ${pkg.size} bytes)\nattached: 2 signatures\n`,
    });
  });

  it('keeps a version at the destination unless --force, and needs a tag for a digest', async () => {
    expect((await cli(['push', other.dir])).code).toBe(0);
    expect(await cli(['cp', 'sigsnoop:1.3.0', `${b.host}/mirror/sigsnoop:1.2.0`])).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: cp sigsnoop:1.3.0: ${b.host}/mirror/sigsnoop:1.2.0 already holds ${pkg.digest}\nhint: versions are immutable; pass --force to replace it, or copy to another tag\n`,
    });
    const forced = await cli(['cp', 'sigsnoop:1.3.0', `${b.host}/mirror/sigsnoop:1.2.0`, '--force', '--json']);
    expect(JSON.parse(forced.stdout)).toEqual({
      source: `${a.host}/ebpm/sigsnoop:1.3.0`,
      from: 'registry',
      destination: `${b.host}/mirror/sigsnoop:1.2.0`,
      digest: other.digest,
      unchanged: false,
      blobs: 2,
      bytes: other.size - other.objectSize,
      attached: { legacy: 0, bundles: 0, referrers: 0, tags: [], skipped: 0 },
    });
    expect(await cli(['cp', `sigsnoop@${pkg.digest}`, `${b.host}/mirror/sigsnoop`])).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: `error: cp sigsnoop@${pkg.digest}: ${b.host}/mirror/sigsnoop: name a tag for the copy\nhint: the source is named by its digest; give ${b.host}/mirror/sigsnoop:TAG\n`,
    });
  });

  it('pushes a package the store holds under a name given with ebpm tag, with its signatures and extra tags', async () => {
    expect((await cli(['tag', 'sigsnoop:1.2.0', `${b.host}/team/sigsnoop:1.2.0`])).code).toBe(0);
    expect(await cli(['push', `${b.host}/team/sigsnoop:1.2.0`, '--tag', 'stable', '--tag', 'edge'])).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: `pushed ${b.host}/team/sigsnoop:1.2.0 ${pkg.digest} (3 blobs, ${pkg.size} bytes)\ntags: 1.2.0, 1.2, 1, latest, stable, edge\n`,
    });
    expect((await cli(['verify', `${b.host}/team/sigsnoop:stable`, '--key', 'cosign.pub'])).stdout).toBe(
      [
        `verified ${b.host}/team/sigsnoop@${pkg.digest} (from the registry)`,
        `  signed by cosign (key ${fingerprint}), legacy signature`,
        `  signed by cosign (key ${fingerprint}), bundle signature`,
        '',
      ].join('\n'),
    );
    const versions = await cli(['versions', `${b.host}/team/sigsnoop`, '--json']);
    expect((JSON.parse(versions.stdout) as { versions: { tag: string; tags: string[] }[] }).versions.map((v) => [v.tag, v.tags])).toEqual([
      ['1.2.0', ['1', '1.2', 'edge', 'latest', 'stable']],
      ['1', []],
      ['1.2', []],
      ['edge', []],
      ['latest', []],
      ['stable', []],
    ]);
  });

  it('refuses a --tag that is a version or no tag, and a name neither on disk nor stored', async () => {
    expect(await cli(['push', pkg.dir, '--tag', '2.0.0'])).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: 'error: push: --tag 2.0.0: a version\nhint: the version tag comes from the package metadata; --tag adds names such as stable\n',
    });
    expect((await cli(['push', pkg.dir, '--tag=-x'])).stderr).toBe(
      'error: push: --tag "-x": not a tag\nhint: tags are up to 128 of [A-Za-z0-9_.-] and do not start with "." or "-"\n',
    );
    expect(await cli(['push', 'nosuch:1.0.0'])).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: push ${join(sb.root, 'nosuch:1.0.0')}: no such file or directory, nor a stored package\nhint: run ebpm push in a package directory, or give the path of one, of a built layout, or a reference \`ebpm ls\` lists\n`,
    });
  });
});
