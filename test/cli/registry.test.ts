// The distribution commands against a real docker-registry 2.8.2: semver over its unsorted tag
// list, the request budget of re-pulls, search with and without the index, auth flows with the
// Docker config and a credential helper, skopeo interop, offline use, and remote inspect.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copy } from '../../src/content/copy.js';
import { Registry } from '../../src/registry/client.js';
import { readIndexArtifact, writeIndexArtifact } from '../../src/services/search-index.js';
import { OciLayout } from '../../src/store/layout.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { blobFiles, ebpm, json, packageLayout, sandbox, writeConfig, type BuiltPackage, type Sandbox } from './helpers.js';

/** The registry requests in `--verbose` output, as `METHOD path`, leaving out signature lookups (the trust policy's). */
function requests(err: string): string[] {
  return err
    .split('\n')
    .filter((l) => l.startsWith('> '))
    .map((l) =>
      l
        .split(' ')
        .slice(1, 3)
        .join(' ')
        .replace(/^(\w+) http:\/\/[^/]+/, '$1 '),
    )
    .filter((l) => !/sha256-[0-9a-f]{64}|\/referrers\//.test(l));
}

describeWith(['registry', 'clang', 'skopeo'], 'distribution commands against docker-registry 2.8.2', () => {
  let reg: RunningRegistry;
  let sb: Sandbox;
  const pkgs: Record<string, BuiltPackage> = {};

  beforeAll(async () => {
    reg = await startRegistry();
    sb = sandbox({ EBPM_REGISTRY: `${reg.host}/ebpm` });
    for (const v of ['2.0.0-rc.1', '1.2.0', '1.10.0', '1.2.0+build.7', '1.2.5']) {
      pkgs[v] = await packageLayout(join(sb.root, 'src', v), { version: v, description: `Trace signals ${v}`, keywords: ['signal'] });
    }
  });
  afterAll(() => reg?.stop());

  it('pushes out of order; latest follows the highest stable version; ranges resolve over the unsorted tag list', async () => {
    for (const v of ['2.0.0-rc.1', '1.2.0', '1.10.0', '1.2.0+build.7', '1.2.5']) {
      const r = await json<{ reference: string; tags: string[] }>(['push', pkgs[v]!.dir], sb.env);
      expect(r.reference).toBe(`${reg.host}/ebpm/sigsnoop:${v.replace('+', '_')}`);
      const moved: Record<string, string[]> = {
        '1.2.0': ['1.2', '1', 'latest'],
        '1.10.0': ['1.10', '1', 'latest'],
        '1.2.0+build.7': ['1.2'],
        '1.2.5': ['1.2'],
      };
      expect(r.tags).toEqual([v.replace('+', '_'), ...(moved[v] ?? [])]);
    }
    const repo = new Registry(reg.host).repository('ebpm/sigsnoop');
    expect(await repo.tags()).toEqual(['1', '1.10', '1.10.0', '1.2', '1.2.0', '1.2.0_build.7', '1.2.5', '2.0.0-rc.1', 'latest']);
    expect((await repo.resolve('latest')).digest).toBe(pkgs['1.10.0']!.digest);

    const p = pkgs['1.2.5']!;
    expect(await ebpm(['pull', 'sigsnoop@1.2'], sb.env)).toEqual({
      code: 0,
      err: '',
      out: `pulled ${reg.host}/ebpm/sigsnoop:1.2.5 ${p.digest} (3 blobs, ${p.size} bytes)\n`,
    });
    for (const [digest, bytes] of p.blobs) expect(readFileSync(join(sb.store, 'blobs', 'sha256', digest.slice(7))).equals(Buffer.from(bytes))).toBe(true);
    const picks: [string, string][] = [
      ['sigsnoop@<1.2.5', '1.2.0_build.7'],
      ['sigsnoop@^1', '1.10.0'],
      ['sigsnoop@~1.2.0', '1.2.5'],
      ['sigsnoop:1.2.0+build.7', '1.2.0_build.7'],
      ['sigsnoop@>=2.0.0-rc.0', '2.0.0-rc.1'],
      [`${reg.host}/ebpm/sigsnoop@${pkgs['1.2.0']!.digest}`, ''],
    ];
    for (const [input, tag] of picks) {
      const r = await json<{ reference: string }>(['pull', input], sb.env);
      expect(r.reference).toBe(tag === '' ? `${reg.host}/ebpm/sigsnoop@${pkgs['1.2.0']!.digest}` : `${reg.host}/ebpm/sigsnoop:${tag}`);
    }
  });

  it('re-pulls a stored package with no request when pinned, and one manifest request for latest', async () => {
    const pinned = await ebpm(['pull', 'sigsnoop:1.2.5', '--verbose'], sb.env);
    expect([pinned.out, pinned.err]).toEqual([`${reg.host}/ebpm/sigsnoop:1.2.5 ${pkgs['1.2.5']!.digest} (stored)\n`, '']);
    await ebpm(['pull', 'sigsnoop'], sb.env);
    const again = await ebpm(['pull', 'sigsnoop', '--verbose'], sb.env);
    expect(again.out).toBe(`${reg.host}/ebpm/sigsnoop:latest ${pkgs['1.10.0']!.digest} (up to date)\n`);
    expect(requests(again.err)).toEqual(['HEAD /v2/ebpm/sigsnoop/manifests/latest']);
  });

  it('searches through the index push maintains: one manifest, one blob and the catalog cold, nothing warm, a HEAD and the catalog when stale', async () => {
    const cold = await ebpm(['search', 'signal', '--verbose', '--json'], sb.env);
    // The catalog, asked beside the index, names what the index does not cover (nested namespaces).
    expect(requests(cold.err).sort()).toEqual([
      'GET /v2/_catalog?n=1000',
      expect.stringMatching(/^GET \/v2\/ebpm\/ebpm-index\/blobs\/sha256:[0-9a-f]{64}$/),
      'GET /v2/ebpm/ebpm-index/manifests/latest',
    ]);
    const hits = JSON.parse(cold.out) as { hits: { name: string; version: string; description: string; reference: string }[] };
    expect(hits.hits).toEqual([
      { name: 'sigsnoop', version: '1.10.0', description: 'Trace signals 1.10.0', keywords: ['signal'], reference: `${reg.host}/ebpm/sigsnoop` },
    ]);
    const warm = await ebpm(['search', 'sigsnoop', '--verbose'], sb.env);
    expect(warm).toEqual({
      code: 0,
      err: '',
      out: `NAME      VERSION  DESCRIPTION           REFERENCE\nsigsnoop  1.10.0   Trace signals 1.10.0  ${reg.host}/ebpm/sigsnoop\n`,
    });
    const stale = await ebpm(['search', 'sigsnoop', '--verbose', '--refresh', '--json'], sb.env);
    expect(requests(stale.err).sort()).toEqual(['GET /v2/_catalog?n=1000', 'HEAD /v2/ebpm/ebpm-index/manifests/latest']);
    expect((JSON.parse(stale.out) as { sources: unknown[] }).sources).toEqual([{ location: `${reg.host}/ebpm`, source: 'checked', packages: 1 }]);
  });

  it('walks the catalog of a registry without an index; a push rebuilds a damaged index', async () => {
    // Pushed with the library: no index in the `bare` namespace.
    const src = await OciLayout.open(pkgs['1.2.5']!.dir);
    await copy(src, '1.2.5', new Registry(reg.host).repository('bare/sigsnoop'), '1.2.5');
    const other = sandbox();
    writeConfig(other, { defaultRegistry: reg.host, registries: [`${reg.host}/bare`] });
    const walked = await json<{ hits: { name: string; version: string; reference: string }[]; sources: unknown[] }>(['search', 'trace'], other.env);
    expect(walked.hits.map((h) => [h.name, h.version, h.reference])).toEqual([['sigsnoop', '1.2.5', `${reg.host}/bare/sigsnoop`]]);
    expect(walked.sources).toEqual([{ location: `${reg.host}/bare`, source: 'walk', packages: 1 }]);
    const indexRepo = new Registry(reg.host).repository('bare/ebpm-index');
    await expect(indexRepo.tags()).rejects.toThrowWithCode('NOT_FOUND');

    const broken = { name: 'gone', repository: 'bare/gone', version: '1.0.0', description: '', keywords: 'signal' as unknown as string[] };
    await writeIndexArtifact(indexRepo, [broken]);
    const refused = await ebpm(['search', 'trace', '--refresh'], other.env);
    expect(refused).toEqual({
      code: 1,
      out: '',
      err:
        `error: search ${reg.host}/bare: search index: packages[0].keywords: not an array of strings\n` +
        'hint: the index artifact is damaged; the next `ebpm push` to this namespace rebuilds it from the registry\n',
    });
    const pushed = await ebpm(['push', pkgs['1.10.0']!.dir, '--to', `${reg.host}/bare/sigsnoop`], other.env);
    expect(pushed.code).toBe(0);
    const rebuilt = await readIndexArtifact(indexRepo);
    expect(rebuilt?.entries.map((e) => [e.repository, e.version])).toEqual([['bare/sigsnoop', '1.10.0']]);
  });

  it('copies byte-identically with skopeo both ways', async () => {
    const out = join(sb.root, 'skopeo-layout');
    execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/ebpm/sigsnoop:1.2.5`, `oci:${out}:1.2.5`], { stdio: 'ignore' });
    expect(blobFiles(out)).toEqual([...pkgs['1.2.5']!.blobs.keys()].sort());
    for (const [digest, bytes] of pkgs['1.2.5']!.blobs)
      expect(readFileSync(join(out, 'blobs', 'sha256', digest.slice(7))).equals(Buffer.from(bytes))).toBe(true);
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${pkgs['1.10.0']!.dir}:1.10.0`, `docker://${reg.host}/skopeo/sigsnoop:1.10.0`], {
      stdio: 'ignore',
    });
    const r = await ebpm(['pull', `${reg.host}/skopeo/sigsnoop:1.10.0`], sb.env);
    expect(r.out).toBe(`pulled ${reg.host}/skopeo/sigsnoop:1.10.0 ${pkgs['1.10.0']!.digest} (0 blobs, 0 bytes)\n`);
  });

  it('inspects a remote reference without storing it', async () => {
    const r = await ebpm(['inspect', 'sigsnoop@1.2'], sb.env);
    expect(r.out.split('\n').slice(0, 3)).toEqual([
      'sigsnoop@1.2.5 (ebpm) - Trace signals 1.2.5',
      `digest: ${pkgs['1.2.5']!.digest}`,
      `size: ${pkgs['1.2.5']!.size} bytes`,
    ]);
  });

  it('reports deleting missing content as NOT_FOUND, keeping the registry code', async () => {
    const repo = new Registry(reg.host).repository('ebpm/sigsnoop');
    const missing = { mediaType: 'application/octet-stream', digest: `sha256:${'0'.repeat(64)}`, size: 1 };
    const e = await repo.delete(missing).then(
      () => undefined,
      (x: unknown) => x as { code: string; data: Record<string, unknown> },
    );
    expect([e?.code, e?.data.registryCode]).toEqual(['NOT_FOUND', 'BLOB_UNKNOWN']);
    const m = await repo.delete({ ...missing, mediaType: 'application/vnd.oci.image.manifest.v1+json' }).then(
      () => undefined,
      (x: unknown) => x as { code: string; data: Record<string, unknown> },
    );
    expect([m?.code, m?.data.registryCode]).toEqual(['NOT_FOUND', 'MANIFEST_UNKNOWN']);
  });

  it('falls back to the store when the registry is unreachable, unless --pull always', async () => {
    const proxy = await startFaultProxy(reg.url);
    const off = sandbox({ EBPM_REGISTRY: `${proxy.host}/ebpm` });
    expect((await ebpm(['pull', 'sigsnoop'], off.env)).code).toBe(0);
    await proxy.stop();
    expect(await ebpm(['pull', 'sigsnoop'], off.env)).toEqual({
      code: 0,
      err: '',
      out: `${proxy.host}/ebpm/sigsnoop:latest ${pkgs['1.10.0']!.digest} (stored; registry unreachable)\n`,
    });
    const always = await ebpm(['pull', 'sigsnoop', '--pull', 'always'], off.env);
    expect(always.code).toBe(1);
    expect(always.err.split('\n')[0]).toMatch(
      new RegExp(
        `^error: pull sigsnoop: resolve ${proxy.host}/ebpm/sigsnoop: resolve ebpm/sigsnoop:latest: ${proxy.host}: connection failed \\(ECONNREFUSED\\)$`,
      ),
    );
    expect((await ebpm(['pull', 'sigsnoop@1.9', '--pull', 'missing'], off.env)).code).toBe(1);
  });

  it('searches the registries that answer, warns of each other one, and falls back to a stale cache', async () => {
    const proxy = await startFaultProxy(reg.url);
    const other = sandbox();
    const dead = '127.0.0.1:1/ebpm';
    writeConfig(other, { defaultRegistry: reg.host, registries: [`${proxy.host}/ebpm`, dead, `${reg.host}/ebpm`] });
    const deadLine = `search ${dead}: fetch ebpm/ebpm-index:latest: 127.0.0.1:1: connection failed (ECONNREFUSED)`;
    const searching = Date.now();
    const first = await ebpm(['search', 'signal', '--json'], other.env);
    const searched = Date.now();
    expect([first.code, first.err]).toEqual([0, `warning: ${deadLine}; its packages are left out\n`]);
    const hit = (host: string) => ({
      name: 'sigsnoop',
      version: '1.10.0',
      description: 'Trace signals 1.10.0',
      keywords: ['signal'],
      reference: `${host}/ebpm/sigsnoop`,
    });
    expect(JSON.parse(first.out)).toEqual({
      hits: [hit(proxy.host), hit(reg.host)],
      sources: [
        { location: `${proxy.host}/ebpm`, source: 'index', packages: 1 },
        { location: `${reg.host}/ebpm`, source: 'index', packages: 1 },
      ],
      failed: [{ location: dead, code: 'REGISTRY_UNREACHABLE', message: deadLine }],
    });
    await proxy.stop();
    const stale = await ebpm(['search', 'signal', '--refresh', '--json'], other.env);
    const cachedAt = (JSON.parse(stale.out) as { failed: { cachedAt: string }[] }).failed[0]!.cachedAt;
    // The cache is the first search's (made while it ran), not this one's.
    expect(Date.parse(cachedAt)).toBeGreaterThanOrEqual(searching);
    expect(Date.parse(cachedAt)).toBeLessThanOrEqual(searched);
    // With a cache the index is checked (HEAD), without one read (GET).
    const proxyLine = (op: 'resolve' | 'fetch') => `search ${proxy.host}/ebpm: ${op} ebpm/ebpm-index:latest: ${proxy.host}: connection failed (ECONNREFUSED)`;
    expect([stale.code, stale.err]).toEqual([
      0,
      `warning: ${proxyLine('resolve')}; showing its index as cached at ${cachedAt} (stale)\nwarning: ${deadLine}; its packages are left out\n`,
    ]);
    expect(JSON.parse(stale.out)).toEqual({
      hits: [hit(proxy.host), hit(reg.host)],
      sources: [
        { location: `${proxy.host}/ebpm`, source: 'stale', packages: 1 },
        { location: `${reg.host}/ebpm`, source: 'checked', packages: 1 },
      ],
      failed: [
        { location: `${proxy.host}/ebpm`, code: 'REGISTRY_UNREACHABLE', message: proxyLine('resolve'), cachedAt },
        { location: dead, code: 'REGISTRY_UNREACHABLE', message: deadLine },
      ],
    });
    // None answers (and no cache): the search fails, naming each.
    const none = sandbox();
    writeConfig(none, { defaultRegistry: reg.host, registries: [`${proxy.host}/ebpm`, dead] });
    const failed = await ebpm(['search', 'signal'], none.env);
    expect(failed).toEqual({ code: 1, out: '', err: `error: ${proxyLine('fetch')}; ${deadLine}\nhint: check that ${proxy.host} is reachable\n` });
  });

  describeWith(['registry'], 'auth', () => {
    it('logs in with Basic auth, stores the credentials in the Docker config, pushes, pulls and logs out', async () => {
      const secured = await startRegistry({ auth: 'htpasswd' });
      try {
        const a = sandbox({ EBPM_REGISTRY: `${secured.host}/ebpm` });
        const denied = await ebpm(['push', pkgs['1.2.5']!.dir], a.env);
        expect([denied.code, denied.err.split('\n')[1]]).toEqual([
          1,
          `hint: check \`ebpm login ${secured.host}\` and that this account may access the repository`,
        ]);
        const wrong = await ebpm(['login', secured.host, '-u', 'alice', '-p', 'nope'], a.env);
        expect([wrong.code, wrong.err.split('\n')[1]]).toEqual([1, `error: ${secured.host}: unauthorized: authentication required`]);
        expect(await ebpm(['login', secured.host, '-u', 'alice', '-p', 'wonderland'], a.env)).toEqual({
          code: 0,
          err: 'warning: a password given with -p shows in ps and the shell history; use --password-stdin\n',
          out: `logged in to ${secured.host} (credentials in ${join(a.env.DOCKER_CONFIG!, 'config.json')})\n`,
        });
        expect(JSON.parse(readFileSync(join(a.env.DOCKER_CONFIG!, 'config.json'), 'utf8'))).toEqual({
          auths: { [secured.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } },
        });
        expect((await ebpm(['push', pkgs['1.2.5']!.dir], a.env)).code).toBe(0);
        expect((await json<{ digest: string }>(['pull', 'sigsnoop@1'], a.env)).digest).toBe(pkgs['1.2.5']!.digest);
        expect(await ebpm(['logout', secured.host], a.env)).toEqual({ code: 0, err: '', out: `logged out of ${secured.host}\n` });
        expect(await ebpm(['logout', secured.host], a.env)).toEqual({ code: 0, err: '', out: `not logged in to ${secured.host}\n` });
        expect((await ebpm(['pull', 'sigsnoop@1', '--pull', 'always'], a.env)).code).toBe(1);
      } finally {
        await secured.stop();
      }
    });

    it('keeps credentials in a credential helper and uses them through the token flow', async () => {
      const secured = await startRegistry({ auth: 'token' });
      try {
        const a = sandbox({ EBPM_REGISTRY: `${secured.host}/ebpm` });
        // A docker-credential helper speaking the protocol over a JSON file.
        const bin = join(a.root, 'bin');
        mkdirSync(bin);
        const helper = join(bin, 'docker-credential-ebpmtest');
        writeFileSync(
          helper,
          `#!/usr/bin/env python3
import json, os, sys
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'creds.json')
db = json.load(open(path)) if os.path.exists(path) else {}
action, data = sys.argv[1], sys.stdin.read().strip()
if action == 'store':
    c = json.loads(data); db[c['ServerURL']] = [c['Username'], c['Secret']]
elif action == 'get':
    if data not in db: print('credentials not found in native keychain'); sys.exit(1)
    print(json.dumps({'ServerURL': data, 'Username': db[data][0], 'Secret': db[data][1]}))
elif action == 'erase':
    if data not in db: print('credentials not found in native keychain'); sys.exit(1)
    del db[data]
json.dump(db, open(path, 'w'))
`,
        );
        chmodSync(helper, 0o755);
        mkdirSync(a.env.DOCKER_CONFIG!, { recursive: true });
        writeFileSync(join(a.env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ credsStore: 'ebpmtest' }));
        const env = { ...a.env, PATH: `${bin}:${a.env.PATH}` };
        expect(await ebpm(['login', secured.host, '-u', 'alice', '-p', 'wonderland'], env)).toEqual({
          code: 0,
          err: 'warning: a password given with -p shows in ps and the shell history; use --password-stdin\n',
          out: `logged in to ${secured.host} (credentials in docker-credential-ebpmtest)\n`,
        });
        expect(JSON.parse(readFileSync(join(bin, 'creds.json'), 'utf8'))).toEqual({ [secured.host]: ['alice', 'wonderland'] });
        expect((await ebpm(['push', pkgs['1.2.0']!.dir], env)).code).toBe(0);
        expect((await json<{ reference: string }>(['pull', 'sigsnoop@1.2'], env)).reference).toBe(`${secured.host}/ebpm/sigsnoop:1.2.0`);
        expect(secured.tokens!.requests.some((r) => r.user === 'alice' && r.scopes.includes('repository:ebpm/sigsnoop:pull'))).toBe(true);
        expect((await ebpm(['logout', secured.host], env)).out).toBe(`logged out of ${secured.host}\n`);
        expect(JSON.parse(readFileSync(join(bin, 'creds.json'), 'utf8'))).toEqual({});
      } finally {
        await secured.stop();
      }
    });
  });
});
