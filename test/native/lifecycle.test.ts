// Real kernel: load failures, attach targets, map operations, closing and leaks.
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hasKprobes } from '../../src/kernel/features.js';
import { BpfObject } from '../../src/kernel/loader.js';
import { loadNative } from '../../src/kernel/native.js';
import { describeWith } from '../helpers/prereq.js';
import { exampleObject } from '../helpers/objects.js';
import { fixtureObject, kernelHolds, programIds, u32, veth } from './support.js';

const code = (c: string) => expect.objectContaining({ code: c });

/** One end of a veth pair of this file's own (tests in other files attach to lo at the same time). */
let VETH = '';

/** The kinds of `dev`'s qdiscs, as `tc qdisc show` lists them. */
function qdiscs(dev: string): string[] {
  return execFileSync('tc', ['qdisc', 'show', 'dev', dev], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[1]!);
}

describeWith(['root', 'btf', 'clang', 'native'], 'object lifecycle on the real kernel', () => {
  beforeAll(async () => {
    VETH = veth(`ebpm${process.pid % 100_000}l`);
    await Promise.all([exampleObject('runqlat'), exampleObject('bootstrap'), exampleObject('opensnoop'), fixtureObject('broken'), fixtureObject('attach')]);
  });
  afterAll(() => execFileSync('ip', ['link', 'del', VETH]));

  it('runqlat: hists fills under scheduler load and iterates by batch and by key', async () => {
    using obj = BpfObject.open(await exampleObject('runqlat'), { name: 'runqlat' });
    obj.load();
    expect(obj.attachAll().map((l) => l.program)).toEqual(['sched_wakeup', 'sched_wakeup_new', 'sched_switch']);
    // Each spawnSync sleeps in waitpid until the child exits, which wakes it: a wakeup, then a switch.
    for (let i = 0; i < 5; i++) spawnSync('/bin/true');
    const hists = obj.map('hists');
    expect({ key: hists.keySize, value: hists.valueSize, type: hists.type }).toEqual({ key: 4, value: 26 * 4 + 16, type: 'hash' });
    const entries = [...hists.entries()];
    expect(entries.map(([k]) => new DataView(k.buffer, k.byteOffset).getUint32(0, true))).toEqual([0]);
    const slots = new Uint32Array(entries[0]![1].slice(0, 104).buffer);
    expect(slots.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect([...hists.keys()]).toEqual([u32(0)]);
  });

  it('a verifier rejection is VERIFIER_REJECTED with the verdict and the whole log', async () => {
    using obj = BpfObject.open(await fixtureObject('broken'), { name: 'broken' });
    obj.selectPrograms(['out_of_bounds']);
    expect(obj.programs().map((p) => [p.name, p.autoload])).toEqual([
      ['out_of_bounds', true],
      ['bogus_helper', false],
    ]);
    let err: unknown;
    try {
      obj.load();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'VERIFIER_REJECTED',
      message:
        'load broken: program out_of_bounds: verifier rejected: invalid access to map value, value_size=8 off=8 size=8; R0 min value is outside of the allowed memory range',
      data: { program: 'out_of_bounds', errnoCode: 'EACCES' },
    });
    expect((err as { data: { log: string } }).data.log).toContain('8: (79) r6 = *(u64 *)(r0 +8)');
    expect(() => obj.load()).toThrow(code('WRONG_PHASE'));
    expect(() => obj.attach('out_of_bounds')).toThrow(code('WRONG_PHASE'));
  });

  it('a helper the kernel lacks is KERNEL_UNSUPPORTED naming it', async () => {
    using obj = BpfObject.open(await fixtureObject('broken'), { name: 'broken' });
    obj.selectPrograms(['bogus_helper']);
    expect(() => obj.load()).toThrowWithCode('KERNEL_UNSUPPORTED', 'load broken: program bogus_helper: helper #9999 is not supported by this kernel');
    expect(() => obj.selectPrograms(['nope'])).toThrow(code('WRONG_PHASE'));
  });

  it('missing BTF for CO-RE is KERNEL_NO_BTF', async () => {
    using obj = BpfObject.open(await exampleObject('bootstrap'), { name: 'bootstrap', btfPath: '/nonexistent/vmlinux' });
    expect(() => obj.load()).toThrowWithCode('KERNEL_NO_BTF', 'load bootstrap: no usable kernel BTF at /nonexistent/vmlinux');
  });

  it('attach errors: a missing tracepoint, a missing kernel function, a section that needs a target', async () => {
    using obj = BpfObject.open(await exampleObject('opensnoop'), { name: 'opensnoop' });
    obj.load();
    const prog = obj.programs()[0]!.name;
    expect(() => obj.attach(prog, { kind: 'tracepoint', category: 'signal', name: 'foo' })).toThrowWithCode(
      'KERNEL_NO_TRACEPOINT',
      `attach ${prog}: tracepoint signal/foo does not exist`,
    );
    using fixture = BpfObject.open(await fixtureObject('attach'), { name: 'attach' });
    fixture.load();
    expect(() => fixture.attach('ebpm_xdp_pass')).toThrow(code('ATTACH_NEEDS_TARGET'));
    // Without kprobes (this kernel) that is the refusal, whatever the function; with them, the function is missing.
    expect(() => fixture.attach('ebpm_kprobe', { kind: 'kprobe', function: 'ebpm_no_such_function' })).toThrow(
      code(hasKprobes() ? 'ATTACH_TARGET_NOT_FOUND' : 'KERNEL_UNSUPPORTED'),
    );
    expect(() => fixture.attach('nope')).toThrow(code('NO_SUCH_PROGRAM'));
  });

  // this test kernel has CONFIG_KPROBES off, so kprobe targets are covered by the error test only
  it('attaches to explicit targets: xdp and tc on a veth of its own, uprobe, cgroup', async () => {
    using obj = BpfObject.open(await fixtureObject('attach'), { name: 'attach' });
    obj.load();
    const ids = programIds(obj);
    const links = [
      obj.attach('ebpm_xdp_pass', { kind: 'xdp', interface: VETH }),
      obj.attach('ebpm_tc_pass', { kind: 'tc', interface: VETH, direction: 'ingress' }),
      obj.attach('ebpm_uprobe', { kind: 'uprobe', binary: '/lib/x86_64-linux-gnu/libc.so.6', symbol: 'getpid' }),
      obj.attach('ebpm_cgroup_skb', { kind: 'cgroup', path: '/sys/fs/cgroup/unified' }),
    ];
    // every kind but tc (a netlink filter) is a kernel link
    expect(kernelHolds(ids).links).toBe(3);
    const hits = obj.map('hits');
    expect(hits.valueSize).toBe(8 * loadNative().possibleCpus());
    spawnSync('sh', ['-c', 'echo $$']); // dash calls getpid() through libc
    const perCpu = new BigUint64Array(hits.lookup(u32(0))!.slice().buffer);
    expect(perCpu.reduce((a, b) => a + b, 0n) > 0n).toBe(true);
    for (const l of links) l.close();
    links[0]!.close(); // twice: harmless
    expect(kernelHolds(ids).links).toBe(0);
    expect(qdiscs(VETH)).toEqual([]);
  });

  it('tc: removes the clsact qdisc it created once its last filter is gone, also after a failed attach', async () => {
    using obj = BpfObject.open(await fixtureObject('attach'), { name: 'attach' });
    obj.load();
    const ingress = obj.attach('ebpm_tc_pass', { kind: 'tc', interface: VETH, direction: 'ingress' });
    const egress = obj.attach('ebpm_tc_pass', { kind: 'tc', interface: VETH, direction: 'egress' });
    expect(qdiscs(VETH)).toEqual(['clsact']);
    ingress.close(); // the egress filter still needs the qdisc
    expect(qdiscs(VETH)).toEqual(['clsact']);
    egress.close();
    expect(qdiscs(VETH)).toEqual([]);
    // an xdp program is no tc classifier: the kernel refuses the filter after the qdisc was made
    expect(() => obj.attach('ebpm_xdp_pass', { kind: 'tc', interface: VETH, direction: 'ingress' })).toThrow(
      expect.objectContaining({ code: 'KERNEL_ERROR', message: 'attach ebpm_xdp_pass: invalid argument' }),
    );
    expect(qdiscs(VETH)).toEqual([]);
  });

  it('tc: leaves a clsact qdisc it found', async () => {
    using obj = BpfObject.open(await fixtureObject('attach'), { name: 'attach' });
    obj.load();
    execFileSync('tc', ['qdisc', 'add', 'dev', VETH, 'clsact']);
    obj.attach('ebpm_tc_pass', { kind: 'tc', interface: VETH, direction: 'ingress' }).close();
    expect(qdiscs(VETH)).toEqual(['clsact']);
    execFileSync('tc', ['qdisc', 'del', 'dev', VETH, 'clsact']);
  });

  it('map operations check sizes, report absence, and round-trip', async () => {
    using obj = BpfObject.open(await exampleObject('bootstrap'), { name: 'bootstrap' });
    obj.load();
    const m = obj.map('exec_start');
    expect(() => m.lookup(new Uint8Array(2))).toThrowWithCode('MAP_SIZE_MISMATCH', 'map exec_start: key has 2 bytes, map wants 4');
    expect(() => m.update(u32(1), new Uint8Array(4))).toThrow(code('MAP_SIZE_MISMATCH'));
    // the addon checks again against the kernel's sizes, whatever the caller claims
    expect(() => loadNative().mapLookup(m.fd, new Uint8Array(2), 0)).toThrowWithCode(
      'EINVAL',
      'map exec_start: key has 2 bytes, map wants 4: Invalid argument',
    );
    const key = u32(0x7fff_fff0);
    // numbers outside int64_t are refused before any conversion (a Wasm guest's u64 flags reach here)
    for (const flags of [2 ** 64 - 1, 2 ** 63, -(2 ** 63) - 4096, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.5]) {
      expect(() => loadNative().mapLookup(m.fd, key, flags), String(flags)).toThrow(
        expect.objectContaining({ code: 'EINVAL', errno: 22, message: 'flags must be an integer from -2^63 to 2^63-1' }),
      );
    }
    expect(() => m.delete(key, 2n ** 64n - 1n)).toThrow(
      expect.objectContaining({ code: 'KERNEL_ERROR', message: 'map exec_start: delete: flags must be an integer from -2^63 to 2^63-1' }),
    );
    // -2^63 is in range: it reaches the kernel, which knows no such flag
    expect(() => loadNative().mapLookup(m.fd, key, -(2 ** 63))).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: 'map exec_start: lookup: Invalid argument' }),
    );
    expect(m.lookup(key)).toBeUndefined();
    m.update(key, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'noexist');
    expect(() => m.update(key, new Uint8Array(8), 'noexist')).toThrow(code('KERNEL_ERROR'));
    expect(m.lookup(key)).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(m.delete(key)).toBe(true);
    expect(m.delete(key)).toBe(false);
    expect(() => obj.map('nope')).toThrow(code('NO_SUCH_MAP'));
    expect(() => obj.setGlobal('.rodata', new Uint8Array(1))).toThrow(code('WRONG_PHASE'));
    obj.close();
    expect(() => m.lookup(key)).toThrow(code('CLOSED'));
  });

  it('globals: size-checked before load, unknown sections are NOT_FOUND', async () => {
    using obj = BpfObject.open(await exampleObject('bootstrap'), { name: 'bootstrap' });
    expect(obj.global('.rodata')).toEqual(new Uint8Array(8));
    expect(() => obj.setGlobal('.rodata', new Uint8Array(4))).toThrowWithCode('GLOBAL_SIZE_MISMATCH', 'bootstrap: set .rodata: has 8 bytes, got 4');
    expect(() => obj.global('.nope')).toThrow(code('NOT_FOUND'));
    expect(() => BpfObject.open(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0]), { name: 'junk' })).toThrow(code('BAD_OBJECT'));
  });

  it('map sizes: set before load and created so, unknown maps NOT_FOUND, after load WRONG_PHASE', async () => {
    using obj = BpfObject.open(await exampleObject('opensnoop'), { name: 'opensnoop' });
    obj.setMapSize('start', { maxEntries: 77 });
    expect(() => obj.setMapSize('nope', { maxEntries: 1 })).toThrowWithCode('NOT_FOUND', 'opensnoop: size map nope: no such file or directory');
    expect(obj.maps().find((m) => m.name === 'start')).toMatchObject({ maxEntries: 77, valueSize: 16 });
    obj.load();
    expect(obj.map('start')).toMatchObject({ maxEntries: 77, valueSize: 16 });
    expect(() => obj.setMapSize('start', { maxEntries: 1 })).toThrowWithCode('WRONG_PHASE', 'opensnoop: size map start: already loaded');
  });

  it('closing releases every program and link, twice is harmless, and so does a throw mid-way', async () => {
    const elf = await exampleObject('bootstrap');
    const obj = BpfObject.open(elf, { name: 'bootstrap' });
    obj.load();
    obj.attachAll();
    obj.events('rb');
    const ids = programIds(obj);
    expect(kernelHolds(ids)).toEqual({ programs: ids, links: 2 });
    obj.close();
    obj.close();
    expect(obj.closed).toBe(true);
    expect(kernelHolds(ids)).toEqual({ programs: [], links: 0 });
    expect(() => obj.programs()).toThrow(code('CLOSED'));

    let thrownIds: number[] = [];
    expect(() => {
      using o = BpfObject.open(elf, { name: 'bootstrap' });
      o.load();
      o.attachAll();
      thrownIds = programIds(o);
      throw new Error('mid-way');
    }).toThrow('mid-way');
    expect(thrownIds).toHaveLength(2);
    expect(kernelHolds(thrownIds)).toEqual({ programs: [], links: 0 });
  });
});
