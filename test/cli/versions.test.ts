// `ebpm versions <name>` against a real docker-registry: the tag list in semver order, newest
// first, then the other tags; dates from the manifest's annotation or an image config; cosign's
// tags left out.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { shortDigest } from '../../src/core/digest.js';
import {
  descriptorFor,
  manifestBytes,
  MEDIA_TYPE_IMAGE_CONFIG,
  MEDIA_TYPE_IMAGE_LAYER,
  MEDIA_TYPE_IMAGE_MANIFEST,
  type ImageManifest,
} from '../../src/core/oci.js';
import { pushBytes, pushTagged } from '../../src/content/storage.js';
import { Registry } from '../../src/registry/client.js';
import { runEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

describeWith(['registry', 'clang'], 'ebpm versions', () => {
  let reg: RunningRegistry;
  let sb: Sandbox;
  const pkgs: Record<string, BuiltPackage> = {};
  let image: string;

  beforeAll(async () => {
    reg = await startRegistry();
    sb = sandbox({ EBPM_REGISTRY: `${reg.host}/ebpm` });
    const made: Record<string, string> = {
      '1.2.0': '2026-01-02T00:00:00Z',
      '1.10.0': '2026-03-04T00:00:00Z',
      '1.2.0+build.7': '2026-02-03T00:00:00Z',
      '2.0.0-rc.1': '2026-04-05T00:00:00Z',
    };
    for (const [v, created] of Object.entries(made)) {
      pkgs[v] = await packageLayout(join(sb.root, 'src', v), { version: v, created });
      const pushed = await runEbpm(['push', pkgs[v]!.dir], { env: sb.env });
      expect(pushed.code).toBe(0);
    }
    const repo = new Registry(reg.host).repository('ebpm/sigsnoop');
    await repo.tag({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: pkgs['2.0.0-rc.1']!.digest, size: 0 }, 'nightly');
    // A container image beside the packages: its date is its config's, and a cosign tag names no version.
    const config = await pushBytes(
      repo,
      MEDIA_TYPE_IMAGE_CONFIG,
      new TextEncoder().encode('{"created":"2025-06-01T12:00:00Z","architecture":"amd64","os":"linux"}'),
    );
    const layer = await pushBytes(repo, MEDIA_TYPE_IMAGE_LAYER, new Uint8Array(10));
    const m: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config, layers: [layer] };
    const bytes = manifestBytes(m);
    const desc = descriptorFor(MEDIA_TYPE_IMAGE_MANIFEST, bytes);
    await pushTagged(repo, desc, [bytes], 'base');
    await pushTagged(repo, desc, [bytes], `sha256-${pkgs['1.10.0']!.digest.slice(7)}.sig`);
    image = desc.digest;
  });
  afterAll(() => reg?.stop());

  it('lists versions newest first, then the other tags, with dates and the tags beside each version', async () => {
    const d = (v: string) => shortDigest(pkgs[v]!.digest);
    const r = await runEbpm(['versions', 'sigsnoop'], { env: sb.env });
    expect(r).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: [
        'VERSION        CREATED               DIGEST               TAGS',
        `2.0.0-rc.1     2026-04-05T00:00:00Z  ${d('2.0.0-rc.1')}  nightly`,
        `1.10.0         2026-03-04T00:00:00Z  ${d('1.10.0')}  1, 1.10, latest`,
        `1.2.0+build.7  2026-02-03T00:00:00Z  ${d('1.2.0+build.7')}  1.2`,
        `1.2.0          2026-01-02T00:00:00Z  ${d('1.2.0')}`,
        `1              2026-03-04T00:00:00Z  ${d('1.10.0')}`,
        `1.10           2026-03-04T00:00:00Z  ${d('1.10.0')}`,
        `1.2            2026-02-03T00:00:00Z  ${d('1.2.0+build.7')}`,
        `base           2025-06-01T12:00:00Z  ${shortDigest(image)}`,
        `latest         2026-03-04T00:00:00Z  ${d('1.10.0')}`,
        `nightly        2026-04-05T00:00:00Z  ${d('2.0.0-rc.1')}`,
        '',
      ].join('\n'),
    });
  });

  it('prints the rows as JSON', async () => {
    const r = await runEbpm(['versions', `${reg.host}/ebpm/sigsnoop`, '--json'], { env: sb.env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { repository: string; versions: unknown[] };
    expect(out.repository).toBe(`${reg.host}/ebpm/sigsnoop`);
    expect(out.versions.slice(2, 3)).toEqual([
      {
        kind: 'version',
        tag: '1.2.0_build.7',
        version: '1.2.0+build.7',
        digest: pkgs['1.2.0+build.7']!.digest,
        created: '2026-02-03T00:00:00Z',
        tags: ['1.2'],
      },
    ]);
    expect(out.versions.slice(-3)).toEqual([
      { kind: 'tag', tag: 'base', version: null, digest: image, created: '2025-06-01T12:00:00Z', tags: [] },
      { kind: 'tag', tag: 'latest', version: '1.10.0', digest: pkgs['1.10.0']!.digest, created: '2026-03-04T00:00:00Z', tags: [] },
      { kind: 'tag', tag: 'nightly', version: '2.0.0-rc.1', digest: pkgs['2.0.0-rc.1']!.digest, created: '2026-04-05T00:00:00Z', tags: [] },
    ]);
  });

  it('refuses a tag or range, and names a repository the registry lacks', async () => {
    expect(await runEbpm(['versions', 'sigsnoop@1.2'], { env: sb.env })).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: `error: versions sigsnoop@1.2: give a package name, not a tag, version or digest\nhint: ebpm versions ${reg.host}/ebpm/sigsnoop\n`,
    });
    expect(await runEbpm(['versions', 'nosuch'], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: [
        `error: versions nosuch: list tags of ebpm/nosuch: ${reg.host}: repository ebpm/nosuch not found: repository name not known to registry`,
        `hint: no such repository on ${reg.host}; check the name, or push to create it`,
        '',
      ].join('\n'),
    });
  });

  it('pulls name@latest as the highest release by semver, whatever the latest tag says, pre-releases never', async () => {
    // The `latest` tag moved back by hand: @latest reads the versions, not the tag.
    await new Registry(reg.host).repository('ebpm/sigsnoop').tag({ mediaType: MEDIA_TYPE_IMAGE_MANIFEST, digest: pkgs['1.2.0']!.digest, size: 0 }, 'latest');
    const newest = `${reg.host}/ebpm/sigsnoop:1.10.0 ${pkgs['1.10.0']!.digest}`;
    expect(await runEbpm(['pull', 'sigsnoop@latest'], { env: sb.env })).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: `pulled ${newest} (3 blobs, ${pkgs['1.10.0']!.size} bytes)\n`,
    });
    expect((await runEbpm(['pull', 'sigsnoop@latest', '--prerelease'], { env: sb.env })).stdout).toBe(`${newest} (up to date)\n`);
    const beta = await packageLayout(join(sb.root, 'src', 'beta'), { name: 'beta', version: '3.0.0-beta.1' });
    expect((await runEbpm(['push', beta.dir], { env: sb.env })).code).toBe(0);
    expect(await runEbpm(['pull', 'beta@latest'], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: pull beta@latest: resolve ${reg.host}/ebpm/beta@latest: ${reg.host}/ebpm/beta: no release for @latest\nhint: versions there: 3.0.0-beta.1 (@latest takes no pre-release; name one)\n`,
    });
  });
});
