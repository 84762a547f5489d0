// The distribution commands against the embedded default registry: no server, no config,
// the same code paths as a remote registry (push, pull with semver, search, the store commands).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { PassThrough } from 'node:stream';
import { beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { formatBytes } from '../../src/cli/format.js';
import { describeWith } from '../helpers/prereq.js';
import { blobFiles, ebpm, ingestFiles, json, packageLayout, sandbox, storeRefs, writeConfig, type BuiltPackage, type Sandbox } from './helpers.js';

describeWith(['clang'], 'distribution commands with the embedded registry', () => {
  let sb: Sandbox;
  const pkgs: Record<string, BuiltPackage> = {};
  const objectSize = () => pkgs['1.2.0']!.objectSize;

  beforeAll(async () => {
    sb = sandbox();
    for (const v of ['1.10.0', '1.2.0', '1.2.5', '2.0.0-rc.1']) {
      pkgs[v] = await packageLayout(join(sb.root, 'src', v), { version: v, description: `Trace signals, release ${v}`, keywords: ['signal', 'tracepoint'] });
    }
  });

  it('pushes versions in any order, moving latest only to the highest stable one', async () => {
    let r = await ebpm(['push', pkgs['1.10.0']!.dir], sb.env);
    expect(r).toEqual({
      code: 0,
      err: '',
      out: `pushed local.invalid/sigsnoop:1.10.0 ${pkgs['1.10.0']!.digest} (3 blobs, ${pkgs['1.10.0']!.size} bytes)\ntags: 1.10.0, 1.10, 1, latest\n`,
    });
    for (const v of ['1.2.0', '1.2.5', '2.0.0-rc.1']) {
      r = await ebpm(['push', pkgs[v]!.dir], sb.env);
      // The object is already there: only the manifest and the config move.
      expect(r).toEqual({
        code: 0,
        err: '',
        out: `pushed local.invalid/sigsnoop:${v} ${pkgs[v]!.digest} (2 blobs, ${pkgs[v]!.size - objectSize()} bytes)\ntags: ${v}${v === '2.0.0-rc.1' ? '' : ', 1.2'}\n`,
      });
    }
    expect(
      JSON.parse(readFileSync(join(sb.registryDir, 'sigsnoop', '_layout', 'index.json'), 'utf8'))
        .manifests.map((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'])
        .sort(),
    ).toEqual(['1', '1.10', '1.10.0', '1.2', '1.2.0', '1.2.5', '2.0.0-rc.1', 'latest']);
  });

  it('refuses to replace a pushed version unless forced, and re-pushing the same content is a no-op', async () => {
    const other = await packageLayout(join(sb.root, 'src', 'other-1.2.0'), { version: '1.2.0', description: 'something else' });
    const refused = await ebpm(['push', other.dir], sb.env);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(
      `error: push ${other.dir}: local.invalid/sigsnoop:1.2.0 already holds ${pkgs['1.2.0']!.digest}\nhint: bump the version in ebpm.json and rebuild, or pass --force to replace it\n`,
    );
    expect(await ebpm(['push', pkgs['1.2.0']!.dir], sb.env)).toEqual({
      code: 0,
      err: '',
      out: `local.invalid/sigsnoop:1.2.0 is up to date (${pkgs['1.2.0']!.digest})\n`,
    });
    const forced = await json<{ digest: string; tags: string[] }>(['push', other.dir, '--force'], sb.env);
    expect([forced.digest, forced.tags]).toEqual([other.digest, ['1.2.0']]);
    const back = await json<{ digest: string }>(['push', pkgs['1.2.0']!.dir, '--force'], sb.env);
    expect(back.digest).toBe(pkgs['1.2.0']!.digest);
  });

  it('pulls a semver range to the highest matching version, byte-exact into the store', async () => {
    const r = await ebpm(['pull', 'sigsnoop@1.2'], sb.env);
    const p = pkgs['1.2.5']!;
    expect(r).toEqual({ code: 0, err: '', out: `pulled local.invalid/sigsnoop:1.2.5 ${p.digest} (3 blobs, ${p.size} bytes)\n` });
    for (const [digest, bytes] of p.blobs)
      expect(Buffer.from(readFileSync(join(sb.store, 'blobs', 'sha256', digest.slice(7)))).equals(Buffer.from(bytes))).toBe(true);
    expect(storeRefs(sb.store)).toEqual(['local.invalid/sigsnoop:1.2.5']);
    // Pinned and stored: answered by the store.
    expect((await ebpm(['pull', 'sigsnoop:1.2.5'], sb.env)).out).toBe(`local.invalid/sigsnoop:1.2.5 ${p.digest} (stored)\n`);
    // A range re-resolves, finds the same digest, moves nothing.
    expect((await ebpm(['pull', 'sigsnoop@~1.2.1'], sb.env)).out).toBe(`local.invalid/sigsnoop:1.2.5 ${p.digest} (up to date)\n`);
  });

  it('resolves a bare name to latest, and pre-releases only when asked', async () => {
    expect((await ebpm(['pull', 'sigsnoop'], sb.env)).out).toBe(
      `pulled local.invalid/sigsnoop:latest ${pkgs['1.10.0']!.digest} (2 blobs, ${pkgs['1.10.0']!.size - objectSize()} bytes)\n`,
    );
    const none = await ebpm(['pull', 'sigsnoop@2'], sb.env);
    expect(none.code).toBe(1);
    expect(none.err).toBe(
      'error: pull sigsnoop@2: resolve local.invalid/sigsnoop@2: local.invalid/sigsnoop: no version matches 2\nhint: versions there: 1.2.0, 1.2.5, 1.10.0, 2.0.0-rc.1 (pre-releases need --prerelease)\n',
    );
    expect((await json<{ reference: string }>(['pull', 'sigsnoop@2', '--prerelease'], sb.env)).reference).toBe('local.invalid/sigsnoop:2.0.0-rc.1');
    expect((await json<{ reference: string }>(['pull', 'sigsnoop@>=2.0.0-rc.0'], sb.env)).reference).toBe('local.invalid/sigsnoop:2.0.0-rc.1');
  });

  it('lists, tags, removes and prunes what the store holds', async () => {
    const listed = await json<{ reference: string; name: string; version: string; digest: string; size: number; pulledAt: string }[]>(['ls'], sb.env);
    expect(listed.map((e) => [e.reference, e.name, e.version, e.digest, e.size])).toEqual([
      ['local.invalid/sigsnoop:1.2.5', 'sigsnoop', '1.2.5', pkgs['1.2.5']!.digest, pkgs['1.2.5']!.size],
      ['local.invalid/sigsnoop:2.0.0-rc.1', 'sigsnoop', '2.0.0-rc.1', pkgs['2.0.0-rc.1']!.digest, pkgs['2.0.0-rc.1']!.size],
      ['local.invalid/sigsnoop:latest', 'sigsnoop', '1.10.0', pkgs['1.10.0']!.digest, pkgs['1.10.0']!.size],
    ]);
    expect(listed.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.pulledAt))).toBe(true);
    // Ages against an injected clock: test/cli/store-commands.test.ts.
    const table = (await ebpm(['ls'], sb.env)).out.split('\n');
    expect(table[0]).toBe('REFERENCE                          NAME      VERSION     DIGEST               SIZE     PULLED');
    expect(table[1]).toMatch(
      new RegExp(
        `^local\\.invalid/sigsnoop:1\\.2\\.5 {7}sigsnoop  1\\.2\\.5       ${pkgs['1.2.5']!.digest.slice(0, 19)}  ${formatBytes(pkgs['1.2.5']!.size).replace('.', '\\.')}  (just now|\\d+ [a-z]+ ago)$`,
      ),
    );

    expect(await ebpm(['tag', 'sigsnoop:1.2.5', 'tools/snoop:stable'], sb.env)).toEqual({
      code: 0,
      err: '',
      out: `tagged local.invalid/tools/snoop:stable ${pkgs['1.2.5']!.digest}\n`,
    });
    // Still used by the new name: nothing to reclaim.
    expect((await ebpm(['rm', 'sigsnoop:1.2.5'], sb.env)).out).toBe(
      `removed local.invalid/sigsnoop:1.2.5 ${pkgs['1.2.5']!.digest} (0 blobs, 0 bytes reclaimed)\n`,
    );
    const p = pkgs['1.2.5']!;
    expect((await ebpm(['rm', 'tools/snoop:stable'], sb.env)).out).toBe(
      `removed local.invalid/tools/snoop:stable ${p.digest} (2 blobs, ${p.size - objectSize()} bytes reclaimed)\n`,
    );
    expect((await ebpm(['prune'], sb.env)).out).toBe('pruned 0 blobs, 0 bytes reclaimed\n');
    const gone = await ebpm(['rm', 'sigsnoop:1.2.5'], sb.env);
    expect([gone.code, gone.err]).toEqual([
      1,
      'error: rm sigsnoop:1.2.5: local.invalid/sigsnoop:1.2.5: not in the local store\nhint: see what is stored with `ebpm ls`, or pull it first\n',
    ]);
    expect(ingestFiles(sb.store)).toEqual([]);
  });

  it('searches the index push keeps, then answers from the cache', async () => {
    const first = await json<{ hits: { name: string; version: string; reference: string }[]; sources: { source: string; packages: number }[] }>(
      ['search', 'signal'],
      sb.env,
    );
    expect(first.hits.map((h) => [h.name, h.version, h.reference])).toEqual([['sigsnoop', '1.10.0', 'local.invalid/sigsnoop']]);
    expect(first.sources).toEqual([{ location: 'local.invalid', source: 'index', packages: 1 }]);
    const again = await json<{ sources: { source: string }[] }>(['search', 'sig'], sb.env);
    expect(again.sources[0]!.source).toBe('cache');
    expect((await ebpm(['search', 'nothing-like-this'], sb.env)).out).toBe('no packages match "nothing-like-this" in local.invalid\n');
    expect((await ebpm(['search', 'signal'], sb.env)).out).toBe(
      'NAME      VERSION  DESCRIPTION                    REFERENCE\nsigsnoop  1.10.0   Trace signals, release 1.10.0  local.invalid/sigsnoop\n',
    );
  });

  it('pushes and pulls several packages in one run, indexing them all', async () => {
    const many = await Promise.all(
      ['alpha', 'beta', 'gamma'].map((name) => packageLayout(join(sb.root, 'many', name), { name, version: '1.0.0', description: `${name} tool` })),
    );
    const pushed = await ebpm(['push', ...many.map((p) => p.dir)], sb.env);
    expect(pushed).toEqual({
      code: 0,
      err: '',
      out: many
        .map((p, i) => `pushed local.invalid/${['alpha', 'beta', 'gamma'][i]}:1.0.0 ${p.digest} (3 blobs, ${p.size} bytes)\ntags: 1.0.0, 1.0, 1, latest\n`)
        .join(''),
    });
    const index = await json<{ hits: { name: string }[] }>(['search', 'a', '--refresh'], sb.env);
    expect(index.hits.map((h) => h.name)).toEqual(['alpha', 'beta', 'gamma', 'sigsnoop']);
    const pulled = await ebpm(['pull', 'gamma', 'nosuch', 'alpha'], sb.env);
    expect(pulled.code).toBe(1);
    // The object is already stored (sigsnoop's): the manifest and config move.
    const moved = (p: BuiltPackage) => `(2 blobs, ${p.size - p.objectSize} bytes)`;
    expect(pulled.out).toBe(
      `pulled local.invalid/gamma:latest ${many[2]!.digest} ${moved(many[2]!)}\npulled local.invalid/alpha:latest ${many[0]!.digest} ${moved(many[0]!)}\n`,
    );
    expect(pulled.err.split('\n')[0]).toBe('error: pull nosuch: resolve local.invalid/nosuch: local.invalid: repository nosuch not found');
  });

  it('exports stored packages and imports them into another store', async () => {
    const file = join(sb.root, 'out.tar');
    expect(await ebpm(['export', 'sigsnoop', file], sb.env)).toEqual({
      code: 0,
      err: '',
      out: `exported local.invalid/sigsnoop:latest ${pkgs['1.10.0']!.digest}\nwrote ${file}\n`,
    });
    const other = sandbox();
    expect(await ebpm(['import', file], other.env)).toEqual({ code: 0, err: '', out: `imported local.invalid/sigsnoop:latest ${pkgs['1.10.0']!.digest}\n` });
    expect(blobFiles(other.store)).toEqual([...pkgs['1.10.0']!.blobs.keys()].sort());
  });

  it('refuses archives whose entries escape the layout, leaving the store as it was', async () => {
    for (const [name, header] of [
      ['traversal', { name: '../escape', type: 'file' as const }],
      ['symlink', { name: 'blobs/sha256/x', type: 'symlink' as const, linkname: '/etc/passwd' }],
    ] as const) {
      const pack = tar.pack();
      if (header.type === 'file') pack.entry({ ...header, size: 2 }, 'hi');
      else pack.entry({ ...header, size: 0 });
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack) chunks.push(c as Buffer);
      const file = join(sb.root, `${name}.tar`);
      writeFileSync(file, Buffer.concat(chunks));
      const before = storeRefs(sb.store);
      const r = await ebpm(['import', file], sb.env);
      expect(r.code).toBe(1);
      expect(r.err.split('\n')[0]).toBe(
        `error: import ${file}: entry ${JSON.stringify(header.name)}: ${name === 'traversal' ? 'path escapes the layout' : 'symlink entries are not allowed'}`,
      );
      expect(storeRefs(sb.store)).toEqual(before);
      expect(existsSync(join(sb.root, 'escape'))).toBe(false);
    }
  });

  it('shows progress bars on a terminal, and plain lines under NO_COLOR', async () => {
    const pushOnTerminal = async (env: Record<string, string>) => {
      const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 100, rows: 30 });
      let out = '';
      stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await main(['push', pkgs['1.2.0']!.dir], { stdout, stderr: new PassThrough(), env, cwd: sb.root });
      return { code, out };
    };
    const pushed = `pushed local.invalid/sigsnoop:1.2.0 ${pkgs['1.2.0']!.digest} (3 blobs, ${pkgs['1.2.0']!.size} bytes)\ntags: 1.2.0, 1.2, 1, latest\n`;
    const live = await pushOnTerminal(sandbox().env);
    expect(live.code).toBe(0);
    expect(live.out).toContain(`pushing local.invalid/sigsnoop:1.2.0`);
    expect(live.out).toContain('████████████████████████');
    expect(live.out).toContain(pushed);
    expect(await pushOnTerminal(sandbox({ NO_COLOR: '1' }).env)).toEqual({ code: 0, out: pushed });
  });

  it('answers bad input with one line, a hint and its exit code', async () => {
    const cases: [string[], number, string][] = [
      [
        ['pull', 'Bad/Name'],
        2,
        'error: pull Bad/Name: invalid reference "Bad/Name": bad name "Bad/Name"\nhint: names are lower-case letters and digits, separated by ".", "_", "__", "-" or "/"\n',
      ],
      [['pull', 'sigsnoop', '--pull', 'sometimes'], 2, 'error: --pull "sometimes": not a pull policy\nhint: use --pull always, missing or never\n'],
      [
        ['pull', 'nosuch:1.0.0', '--pull', 'never'],
        1,
        `error: pull nosuch:1.0.0: local.invalid/nosuch:1.0.0: not in the local store (${sb.store})\nhint: pull it first (ebpm pull), or run with --pull missing; root and users have separate stores (EBPM_STORE picks one)\n`,
      ],
      [
        ['pull', 'nosuch'],
        1,
        'error: pull nosuch: resolve local.invalid/nosuch: local.invalid: repository nosuch not found\nhint: no such repository on local.invalid; check the name, or push to create it\n',
      ],
      [
        ['push', join(sb.root, 'missing')],
        1,
        `error: push ${join(sb.root, 'missing')}: no such file or directory, nor a stored package\nhint: run ebpm push in a package directory, or give the path of one, of a built layout, or a reference \`ebpm ls\` lists\n`,
      ],
      [
        ['push', pkgs['1.2.0']!.dir, '--to', 'x/ebpm-index'],
        1,
        `error: push ${pkgs['1.2.0']!.dir}: push to local.invalid/x/ebpm-index: "ebpm-index" is reserved for the search index\nhint: give the package another name\n`,
      ],
      [['prune', 'extra'], 2, 'error: prune: takes no arguments\nhint: usage: ebpm prune [--json]\n'],
      [
        ['login', 'local.invalid', '-u', 'a', '-p', 'b'],
        2,
        'error: login local.invalid: the embedded registry takes no credentials\nhint: log in to a registry server, e.g. ebpm login ghcr.io -u <user>\n',
      ],
    ];
    for (const [args, code, err] of cases) {
      const r = await ebpm(args, sb.env);
      expect({ args, code: r.code, err: r.err, out: r.out }).toEqual({ args, code, err, out: '' });
    }
    writeConfig(sb, { defaultRegistry: 'not a host', insecure: 'x', colour: true });
    const bad = await ebpm(['ls'], sb.env);
    expect([bad.code, bad.err]).toEqual([
      1,
      `error: config ${sb.env.EBPM_CONFIG}: colour: unknown field; defaultRegistry: not host[:port]; insecure: not an array\nhint: fix the file: fields are defaultRegistry, defaultNamespace, insecure [hosts], registries [host/namespace]\n`,
    ]);
    writeConfig(sb, {});
  });

  it('fails with --json as one JSON object on stdout, with the same exit codes', async () => {
    const missing = join(sb.root, 'missing');
    const noRepository = {
      code: 'NOT_FOUND',
      message: 'pull nosuch: resolve local.invalid/nosuch: local.invalid: repository nosuch not found',
      hint: 'no such repository on local.invalid; check the name, or push to create it',
    };
    const cases: [string[], number, { code: string; message: string; hint?: string }][] = [
      [['pull', 'nosuch'], 1, noRepository],
      // One of several failing: the successes are not printed as a second document.
      [['pull', 'gamma', 'nosuch'], 1, noRepository],
      [
        ['pull', 'sigsnoop', '--pull', 'sometimes'],
        2,
        { code: 'USAGE', message: '--pull "sometimes": not a pull policy', hint: 'use --pull always, missing or never' },
      ],
      [
        ['push', missing],
        1,
        {
          code: 'NOT_FOUND',
          message: `push ${missing}: no such file or directory, nor a stored package`,
          hint: 'run ebpm push in a package directory, or give the path of one, of a built layout, or a reference `ebpm ls` lists',
        },
      ],
      [['prune', 'extra'], 2, { code: 'USAGE', message: 'prune: takes no arguments', hint: 'usage: ebpm prune [--json]' }],
      [
        ['rm', 'nosuch:1.0.0'],
        1,
        {
          code: 'NOT_STORED',
          message: 'rm nosuch:1.0.0: local.invalid/nosuch:1.0.0: not in the local store',
          hint: 'see what is stored with `ebpm ls`, or pull it first',
        },
      ],
      [
        ['tag', 'nosuch:1.0.0', 'other'],
        1,
        {
          code: 'NOT_STORED',
          message: 'tag nosuch:1.0.0: local.invalid/nosuch:1.0.0: not in the local store',
          hint: 'see what is stored with `ebpm ls`, or pull it first',
        },
      ],
      [
        ['search'],
        2,
        {
          code: 'USAGE',
          message: 'search: expected one search term',
          hint: 'usage: ebpm search <term> [--refresh] [--no-trunc] [--json] [--verbose]',
        },
      ],
      [
        ['verify', 'a', 'b'],
        2,
        {
          code: 'USAGE',
          message: 'verify: expected at most one reference',
          hint: 'usage: ebpm verify <reference> [--key <cosign.pub>]... [--certificate-identity[-regexp] <san> --certificate-oidc-issuer[-regexp] <issuer> --trusted-root <trusted_root.json>] [--list] [--json] | ebpm verify [--json]',
        },
      ],
    ];
    for (const [args, code, error] of cases) {
      const r = await ebpm([...args, '--json'], sb.env);
      expect({ args, code: r.code, out: JSON.parse(r.out) as unknown, lines: r.out.split('\n').length }).toEqual({ args, code, out: { error }, lines: 2 });
      expect(r.err.split('\n')[0]).toBe(`error: ${error.message}`);
    }
  });
});
