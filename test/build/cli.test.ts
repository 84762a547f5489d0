import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { deflateSync } from 'node:zlib';
import { beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { cliEnv } from '../helpers/cli.js';
import { exampleObject, REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

function io(cwd: string) {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  return { io: { stdout: out, stderr: err, env: cliEnv(cwd, { SOURCE_DATE_EPOCH: '1700000000' }), cwd }, out: () => o, err: () => e };
}

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'ebpm build / ebpm inspect', () => {
  let root: string;
  let built: { digest: string; size: number };
  beforeAll(async () => {
    root = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'cli-'));
    cpSync(join(REPO, 'examples', 'opensnoop'), join(root, 'opensnoop'), { recursive: true });
    const t = io(root);
    expect(await main(['build', 'opensnoop', '--json'], t.io)).toBe(0);
    built = JSON.parse(t.out());
  });

  it('build --json reports the layout, digest, tags and metadata', () => {
    expect(built).toMatchObject({
      out: join(root, 'opensnoop', 'out'),
      tags: ['2.0.0', 'latest'],
      created: '2023-11-14T22:13:20Z',
      metadata: { name: 'opensnoop', version: '2.0.0' },
    });
  });

  it('inspect --json of the layout and of the directory agree with the build', async () => {
    for (const target of ['opensnoop/out', 'opensnoop/out:2.0.0', 'opensnoop']) {
      const t = io(root);
      expect(await main(['inspect', target, '--json'], t.io)).toBe(0);
      const r = JSON.parse(t.out());
      expect(r).toMatchObject({ source: target, format: 'ebpm', digest: built.digest, size: built.size });
      const params = r.metadata.objects[0].parameters.map((p: { flag: { long: string }; type: string; default: unknown }) => [p.flag.long, p.type, p.default]);
      expect(params).toEqual([
        ['pid', 'pid_t', 0],
        ['uid', 'uid_t', 4294967295],
        ['failed', 'bool', false],
      ]);
    }
  });

  it('inspect prints a readable summary', async () => {
    const t = io(root);
    expect(await main(['inspect', 'opensnoop/out'], t.io)).toBe(0);
    const text = t.out();
    expect(text.split('\n').slice(0, 4)).toEqual([
      'opensnoop@2.0.0 (ebpm) - Trace openat(2) calls: process, user, flags, path and result',
      `digest: ${built.digest}`,
      `size: ${built.size} bytes`,
      'license: GPL',
    ]);
    expect(text).toContain('    trace_openat_enter: tracepoint syscalls/sys_enter_openat [tracepoint/syscalls/sys_enter_openat]\n');
    expect(text).toContain('    --uid, -u  uid_t = 4294967295  Trace only this user ID (4294967295, the largest uid_t: every user)\n');
    expect(text).toContain('  events on events: struct event (296 bytes)\n    +0 ts: __u64 (8)\n');
    expect(text).toContain('    +40 fname: char[255] (255)\n');
    expect(text).toContain('  kernel BTF: required\n');
  });

  it('inspects a loose .bpf.o and an eunomia package.json', async () => {
    const elf = await exampleObject('sigsnoop');
    writeFileSync(join(root, 'sigsnoop.bpf.o'), elf);
    let t = io(root);
    expect(await main(['inspect', 'sigsnoop.bpf.o', '--json'], t.io)).toBe(0);
    let r = JSON.parse(t.out());
    expect(r).toMatchObject({ format: 'bpf-object', size: elf.length, metadata: { name: 'sigsnoop', version: '0.0.0' } });
    expect(r.metadata.objects[0].programs).toEqual([
      { name: 'sig_trace', section: 'tracepoint/signal/signal_generate', type: 'tracepoint', attach: 'signal/signal_generate' },
    ]);

    const pkg = {
      bpf_object: deflateSync(elf).toString('base64'),
      bpf_object_size: elf.length,
      meta: {
        bpf_skel: {
          obj_name: 'sigsnoop_bpf',
          doc: { version: '0.3.0', brief: 'signals' },
          data_sections: [
            { name: '.rodata', variables: [{ name: 'filtered_pid', type: 'pid_t', description: 'filter by pid', cmdarg: { short: 'p', long: 'pid' } }] },
          ],
          maps: [{ name: 'events', ident: 'events' }],
        },
      },
    };
    writeFileSync(join(root, 'package.json'), JSON.stringify(pkg));
    t = io(root);
    expect(await main(['inspect', 'package.json', '--json'], t.io)).toBe(0);
    r = JSON.parse(t.out());
    expect(r).toMatchObject({ format: 'eunomia', metadata: { name: 'sigsnoop', version: '0.3.0', description: 'signals' } });
    expect(r.metadata.objects[0].parameters[0]).toMatchObject({ name: 'filtered_pid', description: 'filter by pid', flag: { long: 'pid', short: 'p' } });
  });

  it('tags a pre-release with its version only: latest follows stable versions', async () => {
    cpSync(join(REPO, 'examples', 'opensnoop'), join(root, 'rc'), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(root, 'rc', 'ebpm.json'), 'utf8'));
    writeFileSync(join(root, 'rc', 'ebpm.json'), JSON.stringify({ ...manifest, version: '2.1.0-rc.1' }));
    const t = io(root);
    expect(await main(['build', 'rc', '--json'], t.io)).toBe(0);
    const r = JSON.parse(t.out());
    expect(r.tags).toEqual(['2.1.0-rc.1']);
    const index = JSON.parse(readFileSync(join(root, 'rc', 'out', 'index.json'), 'utf8'));
    expect(
      index.manifests.map((m: { digest: string; annotations: Record<string, string> }) => [m.digest, m.annotations['org.opencontainers.image.ref.name']]),
    ).toEqual([[r.digest, '2.1.0-rc.1']]);
    const i = io(root);
    expect(await main(['inspect', 'rc/out', '--json'], i.io)).toBe(0);
    expect(JSON.parse(i.out())).toMatchObject({ digest: r.digest, metadata: { version: '2.1.0-rc.1' } });
  });

  it('builds a package with map-in-map, an initialised prog array and a bloom filter', async () => {
    mkdirSync(join(root, 'maps'));
    cpSync(join(REPO, 'test', 'bpf', 'fixtures', 'maps.bpf.c'), join(root, 'maps', 'maps.bpf.c'));
    writeFileSync(join(root, 'maps', 'ebpm.json'), JSON.stringify({ name: 'maps', version: '1.0.0', license: 'GPL' }));
    const t = io(root);
    expect(await main(['build', 'maps'], t.io)).toBe(0);
    const i = io(root);
    expect(await main(['inspect', 'maps/out'], i.io)).toBe(0);
    expect(i.out()).toContain(
      [
        '  maps:',
        '    inner_a: array key 4 value 8 max 1',
        '    inner_b: array key 4 value 8 max 1',
        '    outer_array: array_of_maps key 4 value 4 max 4',
        '    jumps: prog_array key 4 value 4 max 3',
        '    seen: bloom_filter key 0 value 4 max 64',
        '    outer_hash: hash_of_maps key 8 value 4 max 8',
        '',
      ].join('\n'),
    );
  });

  it('fails with one typed line and a hint', async () => {
    const t = io(root);
    expect(await main(['inspect', './nowhere'], t.io)).toBe(1);
    expect(t.err()).toBe(
      'error: inspect ./nowhere: no such file or directory\nhint: give a package directory, an OCI layout, a .bpf.o, a .wasm or an eunomia package.json\n',
    );
    const u = io(root);
    expect(await main(['inspect'], u.io)).toBe(2);
    expect(u.err()).toContain('error: inspect: expected one path\n');
  });
});
