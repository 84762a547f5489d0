/**
 * ecc tool directories (a `foo.bpf.c` and its `foo.h`, no ebpm.json) build, inspect and run as
 * they are. The fixtures under fixtures/ are this project's own, written in ecc's style.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { headerStructs } from '../../src/build/header.js';
import { inferredManifest } from '../../src/build/sources.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { readEunomiaPackage } from '../../src/package/foreign.js';
import { cliEnv, runEbpm, sandboxDir, spawnEbpm } from '../helpers/cli.js';
import { untimed } from '../run/spawn.js';
import { describeWith } from '../helpers/prereq.js';

const FIXTURES = new URL('fixtures', import.meta.url).pathname;

const note = (dir: string, name: string) =>
  `note: no ebpm.json in ${dir}: built as ${name}@0.0.0; add an ebpm.json with {"name": …, "version": …} to name and version it\n`;

describe('ecc conventions, pure', () => {
  it('headerStructs lists defined structs once, in order, outside comments', () => {
    const h = [
      '/* struct old { int x; }; */',
      '// struct older {',
      'struct b_rec { int x; };',
      'typedef struct a_rec {',
      '  struct b_rec inner;',
      '} a_rec_t;',
      'struct b_rec *pointer_only;',
      'struct fwd;',
      'struct b_rec { int y; };',
    ].join('\n');
    expect(headerStructs(h)).toEqual(['b_rec', 'a_rec']);
  });

  it('inferredManifest names the package after its one source, else its directory', () => {
    expect(inferredManifest('/x/tools', ['Exec_Watch.bpf.c'])).toMatchObject({ name: 'exec_watch', version: '0.0.0', cflags: [], source: true });
    expect(inferredManifest('/x/My Tools', ['a.bpf.c', 'b.bpf.c'])).toMatchObject({ name: 'my-tools', version: '0.0.0' });
    expect(() => inferredManifest('/x/+++', [])).toThrowWithCode('MANIFEST_INVALID', '/x/+++: no ebpm.json, and "+++" makes no package name');
  });
});

describeWith(['clang', 'btf', 'bpftool'], 'ecc tool directories', () => {
  let root: string;
  let env: Record<string, string>;
  const copy = (name: string) => {
    const dir = join(root, name);
    cpSync(join(FIXTURES, name), dir, { recursive: true });
    return dir;
  };
  beforeAll(() => {
    root = sandboxDir('ecc-');
    env = cliEnv(root);
  });

  it('build without ebpm.json names the package after its source, at 0.0.0, with a note', async () => {
    const dir = copy('execwatch');
    const r = await runEbpm(['build', dir, '--json'], { env, cwd: root });
    expect(r.stderr).toBe(note(dir, 'execwatch'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ tags: ['0.0.0', 'latest'], metadata: { name: 'execwatch', version: '0.0.0' } });
  });

  it('the event type is the header struct of the record size the program reserves', async () => {
    const r = await runEbpm(['inspect', join(root, 'execwatch', 'out'), '--json'], { env, cwd: root });
    expect(r.code).toBe(0);
    const obj = JSON.parse(r.stdout).metadata.objects[0];
    expect(obj.exports.map((e: { map: string; type: { name: string; size: number } }) => [e.map, e.type.name, e.type.size])).toEqual([
      ['notes', 'exec_note', 28],
    ]);
    const text = await runEbpm(['inspect', join(root, 'execwatch', 'out')], { env, cwd: root });
    expect(text.stdout).toContain(
      [
        '  events on notes: struct exec_note (28 bytes)',
        '    +0 pid: int (4)',
        '    +4 ppid: int (4)',
        '    +8 uid: unsigned int (4)',
        '    +12 comm: char[16] (16)',
      ].join('\n'),
    );
  });

  it('<asm/types.h> comes from the multiarch include directory; a perf event array takes its struct too', async () => {
    const dir = copy('asmtypes');
    const r = await runEbpm(['build', dir], { env, cwd: root });
    expect(r.stderr).toBe(note(dir, 'asmtypes'));
    expect(r.code).toBe(0);
    const i = await runEbpm(['inspect', join(dir, 'out'), '--json'], { env, cwd: root });
    const exports = JSON.parse(i.stdout).metadata.objects[0].exports;
    expect(exports.map((e: { map: string; type: { name: string } }) => [e.map, e.type.name])).toEqual([['writes', 'write_seen']]);
  });

  it('an unknown doc tag is one warning, and the build succeeds', async () => {
    const dir = copy('oddtag');
    const r = await runEbpm(['build', dir], { env, cwd: root });
    expect(r.stderr).toBe(`warning: oddtag.bpf.c:6: unknown doc tag @intepreter: ignored\n${note(dir, 'oddtag')}`);
    expect(r.code).toBe(0);
  });

  it('run and inspect of the directory, which build it on the fly, print the same warning and note', async () => {
    const dir = join(root, 'oddtag');
    const lines = `warning: oddtag.bpf.c:6: unknown doc tag @intepreter: ignored\n${note(dir, 'oddtag')}`;
    for (const args of [
      ['inspect', dir],
      ['inspect', dir, '--json'],
      ['run', dir, '--help'],
    ]) {
      const r = await runEbpm(args, { env, cwd: root });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(lines);
    }
    // A built layout is no build: nothing to tell.
    const r = await runEbpm(['inspect', join(dir, 'out')], { env, cwd: root });
    expect(r.stderr).toBe('');
  });

  it("an ecc package.json keeps a program's @tchook as its default target", async () => {
    const src = join(FIXTURES, 'tcpass', 'tcpass.bpf.c');
    const elf = await compileBpf(src, join(mkdtempSync(join(root, 'obj-')), 'tcpass.bpf.o'), { env });
    const json = (prog: object) =>
      JSON.stringify({
        bpf_object: deflateSync(elf).toString('base64'),
        bpf_object_size: elf.length,
        meta: { bpf_skel: { obj_name: 'tcpass_bpf', progs: [{ name: 'count_ingress', attach: 'tc', link: false, ...prog }] } },
      });
    const target = (prog: object) => readEunomiaPackage(json(prog), 'package.json').metadata.objects[0]!.programs[0]!.defaultTarget;
    expect(target({ tchook: { ifindex: 5, attach_point: 'BPF_TC_EGRESS' }, tcopts: { handle: 1, priority: 3 } })).toEqual({
      ifindex: 5,
      direction: 'egress',
      priority: 3,
    });
    expect(target({ tchook: { ifindex: -2 } })).toEqual({ ifindex: 1, direction: 'ingress' });
    // @ifindex is xdp's: a tc program takes no target from it.
    expect(target({ ifindex: 4 })).toBeUndefined();
    expect(target({})).toBeUndefined();
  });

  it('globals named with a leading _ are no flags', async () => {
    const dir = copy('dummyglobal');
    expect((await runEbpm(['build', dir], { env, cwd: root })).code).toBe(0);
    const i = await runEbpm(['inspect', join(dir, 'out'), '--json'], { env, cwd: root });
    const params = JSON.parse(i.stdout).metadata.objects[0].parameters;
    expect(params.map((p: { name: string; flag: { long: string } }) => [p.name, p.flag.long])).toEqual([['only_uid', 'only-uid']]);
    // The directory itself, built in memory, is inspected the same way.
    const d = await runEbpm(['inspect', dir, '--json'], { env, cwd: root });
    expect(d.code).toBe(0);
    expect(JSON.parse(d.stdout).metadata.objects[0].parameters).toEqual(params);
  });
});

describeWith(['root', 'btf', 'clang', 'bpftool', 'native'], 'ecc tool directories on the kernel', () => {
  let root: string;
  let env: Record<string, string>;
  beforeAll(() => {
    root = sandboxDir('ecc-run-');
    env = cliEnv(root);
  });

  it('run decodes the header struct: an exec of /bin/true by this test', async () => {
    const dir = join(root, 'execwatch');
    cpSync(join(FIXTURES, 'execwatch'), dir, { recursive: true });
    const run = spawnEbpm(['run', dir, '--json', '--max-events', '1', '--parent-pid', String(process.pid)], { env, cwd: root });
    await run.waitFor(/attached on_exec/);
    const child: ChildProcess = spawn('/bin/true');
    await new Promise((resolve) => child.on('exit', resolve));
    const r = await run.exited();
    expect(r.code).toBe(0);
    expect(untimed(JSON.parse(r.stdout) as Record<string, unknown>)).toEqual({ pid: child.pid, ppid: process.pid, uid: 0, comm: 'true' });
  });

  /** Runs `fn` with a network namespace of this test's own: lo is interface 1, a veth pair 2 and 3. */
  async function withNetns(fn: (ns: string, dev: string) => Promise<void>): Promise<void> {
    const ns = `ebpm-ecc-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      execFileSync('ip', ['-n', ns, 'link', 'add', 'ecc-a', 'type', 'veth', 'peer', 'name', 'ecc-b']);
      const links = JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show'], { encoding: 'utf8' })) as { ifindex: number; ifname: string }[];
      const dev = links.find((l) => l.ifindex === 2)!.ifname;
      expect(['ecc-a', 'ecc-b']).toContain(dev);
      await fn(ns, dev);
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  }

  it('a tc program attaches to its @tchook interface without --attach, and detaches', async () => {
    const dir = join(root, 'tcpass');
    cpSync(join(FIXTURES, 'tcpass'), dir, { recursive: true });
    const i = await runEbpm(['inspect', dir], { env, cwd: root });
    expect(i.stdout).toContain('    count_ingress: sched_cls [tc] default target: interface 2 (ingress, priority 7)\n');
    await withNetns(async (ns, dev) => {
      const filters = () => execFileSync('tc', ['-n', ns, 'filter', 'show', 'dev', dev, 'ingress'], { encoding: 'utf8' });
      const run = spawnEbpm(['run', dir], { env, cwd: root, prefix: ['ip', 'netns', 'exec', ns] });
      await run.waitFor(/attached/);
      expect(run.stderr()).toBe(`${note(dir, 'tcpass')}tcpass 0.0.0: attached count_ingress (tc on ${dev}:ingress)\n`);
      expect(filters()).toMatch(/^filter protocol all pref 7 bpf chain 0 handle 0x1 count_ingress:\[\d+\] direct-action /m);
      run.child.kill('SIGINT');
      const r = await run.exited();
      expect(r.code).toBe(130);
      expect(filters()).toBe('');
    });
  });

  it('an xdp program attaches to its @ifindex interface without --attach, and detaches', async () => {
    const dir = join(root, 'xdppass');
    cpSync(join(FIXTURES, 'xdppass'), dir, { recursive: true });
    await withNetns(async (ns, dev) => {
      const xdp = () =>
        (JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', dev], { encoding: 'utf8' }))[0].xdp?.prog?.name as string | undefined) ?? null;
      const run = spawnEbpm(['run', dir], { env, cwd: root, prefix: ['ip', 'netns', 'exec', ns] });
      await run.waitFor(/attached/);
      expect(run.stderr()).toBe(`${note(dir, 'xdppass')}xdppass 0.0.0: attached pass_all (xdp on ${dev})\n`);
      expect(xdp()).toBe('pass_all');
      run.child.kill('SIGINT');
      expect((await run.exited()).code).toBe(130);
      expect(xdp()).toBe(null);
    });
  });
});
