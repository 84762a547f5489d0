import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { deflateSync } from 'node:zlib';
import { beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { exampleObject, REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

function io(cwd: string) {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  return { io: { stdout: out, stderr: err, env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' }, cwd }, out: () => o, err: () => e };
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
    expect(built).toMatchObject({ out: join(root, 'opensnoop', 'out'), tags: ['2.0.0', 'latest'], created: '2023-11-14T22:13:20Z', metadata: { name: 'opensnoop', version: '2.0.0' } });
  });

  it('inspect --json of the layout and of the directory agree with the build', async () => {
    for (const target of ['opensnoop/out', 'opensnoop/out:2.0.0', 'opensnoop']) {
      const t = io(root);
      expect(await main(['inspect', target, '--json'], t.io)).toBe(0);
      const r = JSON.parse(t.out());
      expect(r).toMatchObject({ source: target, format: 'ebpm', digest: built.digest, size: built.size });
      const params = r.metadata.objects[0].parameters.map((p: { flag: { long: string }; type: string; default: unknown }) => [p.flag.long, p.type, p.default]);
      expect(params).toEqual([['pid', 'pid_t', 0], ['uid', 'uid_t', 4294967295], ['failed', 'bool', false]]);
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
    expect(text).toContain('    --uid, -u  uid_t = 4294967295  Trace only this user ID (-1: every user)\n');
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
    expect(r.metadata.objects[0].programs).toEqual([{ name: 'sig_trace', section: 'tracepoint/signal/signal_generate', type: 'tracepoint', attach: 'signal/signal_generate' }]);

    const pkg = {
      bpf_object: deflateSync(elf).toString('base64'),
      bpf_object_size: elf.length,
      meta: {
        bpf_skel: {
          obj_name: 'sigsnoop_bpf',
          doc: { version: '0.3.0', brief: 'signals' },
          data_sections: [{ name: '.rodata', variables: [{ name: 'filtered_pid', type: 'pid_t', description: 'filter by pid', cmdarg: { short: 'p', long: 'pid' } }] }],
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

  it('fails with one typed line and a hint', async () => {
    const t = io(root);
    expect(await main(['inspect', './nowhere'], t.io)).toBe(1);
    expect(t.err()).toBe(`error: inspect ${join(root, 'nowhere')}: ${join(root, 'nowhere')}: no such file or directory\nhint: inspect takes a package directory, an OCI layout, a .bpf.o, a .wasm or an eunomia package.json\n`);
    const u = io(root);
    expect(await main(['inspect'], u.io)).toBe(2);
    expect(u.err()).toContain('error: inspect: expected one path\n');
  });
});
