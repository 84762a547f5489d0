// The one attach-target vocabulary: one interface-name rule for `--attach` and the Wasm host,
// and one resolver from names to what the addon takes.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInterfaceName, parseTarget, resolveTarget } from '../../src/kernel/loader-targets.js';
import { ObjectBroker } from '../../src/runtime/broker.js';
import type { BrokerObject } from '../../src/runtime/protocol.js';
import { describeWith } from '../helpers/prereq.js';
import { fixtureObject, veth } from '../native/support.js';

describe('interface names', () => {
  it("follow Linux's dev_valid_name: 1 to 15 bytes, no / or : or space, not . or ..", () => {
    expect(['lo', 'eth0', 'veth-a.1', 'br_0', 'wlp0s20f3', 'a'.repeat(15), 'if@x', '...'].map(isInterfaceName)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['', 'a'.repeat(16), '.', '..', 'eth0:1', '../eth0', 'a/b', 'eth 0', 'eth\t0', 'eth\n', 'ethé'].map(isInterfaceName)).toEqual(
      new Array(11).fill(false),
    );
  });

  it('are the same rule for xdp and tc targets', () => {
    const xdp = { name: 'p', section: 'xdp', type: 'xdp' };
    const tc = { name: 'p', section: 'tc', type: 'sched_cls' };
    expect(parseTarget(xdp, 'if@x')).toEqual({ kind: 'xdp', interface: 'if@x' });
    expect(parseTarget(tc, 'if@x:ingress')).toEqual({ kind: 'tc', interface: 'if@x', direction: 'ingress' });
    expect(() => parseTarget(xdp, 'eth0:1')).toThrow(expect.objectContaining({ code: 'USAGE', message: 'run: --attach p=eth0:1: not an interface name' }));
    expect(() => parseTarget(tc, 'eth0:1:egress')).toThrow(
      expect.objectContaining({ code: 'USAGE', message: 'run: --attach p=eth0:1:egress: not INTERFACE:ingress or INTERFACE:egress' }),
    );
  });
});

describe('resolveTarget', () => {
  it('numbers xdp and tc interfaces and passes the other kinds as they are', () => {
    expect(resolveTarget({ kind: 'xdp', interface: 'lo' }, 'attach p')).toEqual({ kind: 'xdp', ifindex: 1 });
    expect(resolveTarget({ kind: 'tc', interface: 'lo', direction: 'egress', priority: 3 }, 'attach p')).toEqual({
      kind: 'tc',
      ifindex: 1,
      direction: 'egress',
      priority: 3,
    });
    const uprobe = { kind: 'uprobe', binary: '/bin/true', symbol: 'main', retprobe: false } as const;
    expect(resolveTarget(uprobe, 'attach p')).toEqual(uprobe);
    expect(resolveTarget({ kind: 'cgroup', path: '/sys/fs/cgroup' }, 'attach p')).toEqual({ kind: 'cgroup', path: '/sys/fs/cgroup' });
    expect(resolveTarget({ kind: 'tracepoint', category: 'a', name: 'b' }, 'attach p')).toEqual({ kind: 'tracepoint', category: 'a', name: 'b' });
  });

  it('refuses a missing interface and a name that is none, as ENODEV', () => {
    for (const name of ['ebpmnosuch0', '../../../etc', 'eth0:1']) {
      expect(() => resolveTarget({ kind: 'xdp', interface: name }, 'attach p')).toThrow(
        expect.objectContaining({
          code: 'ATTACH_TARGET_NOT_FOUND',
          message: `attach p: interface ${name} does not exist`,
          hint: '`ip link` lists the interfaces of this network namespace',
          data: { interface: name, errno: 19 },
        }),
      );
    }
  });
});

/** One end of a veth pair of this file's own: other test files attach xdp to lo at the same time. */
let VETH = '';

describeWith(['root', 'btf', 'clang', 'native'], "the Wasm host's backend on the kernel", () => {
  beforeAll(async () => {
    VETH = veth(`ebpm${process.pid % 100_000}t`);
    await fixtureObject('attach');
  });
  afterAll(() => execFileSync('ip', ['link', 'del', VETH]));

  it('attaches xdp to an interface by name through the same resolver, and refuses a missing one', async () => {
    const broker = new ObjectBroker(() => undefined);
    const guest = broker.tenant(undefined);
    try {
      const loaded = broker.serve(guest, { op: 'load', bytes: await fixtureObject('attach'), name: 'attach' });
      const object = loaded.ok ? (loaded.value as BrokerObject).id : -1;
      const xdp = () => (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', VETH], { encoding: 'utf8' })) as { xdp?: { mode: number } }[])[0]!.xdp;
      const link = broker.serve(guest, { op: 'attach', object, program: 'ebpm_xdp_pass', target: { kind: 'xdp', interface: VETH } });
      expect(xdp()?.mode).toBe(1); // XDP_ATTACHED_DRV: veth runs XDP in its driver
      expect(broker.serve(guest, { op: 'detach', link: link.ok ? (link.value as number) : -1 })).toEqual({ ok: true, value: null });
      expect(xdp()).toBeUndefined();
      expect(broker.serve(guest, { op: 'attach', object, program: 'ebpm_xdp_pass', target: { kind: 'xdp', interface: 'ebpmnosuch0' } })).toEqual({
        ok: false,
        error: {
          code: 'ATTACH_TARGET_NOT_FOUND',
          message: 'attach ebpm_xdp_pass: interface ebpmnosuch0 does not exist',
          hint: '`ip link` lists the interfaces of this network namespace',
          errno: 19,
        },
      });
    } finally {
      guest.release();
    }
  });
});
