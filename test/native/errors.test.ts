// No kernel needed: error classification, batch parsing and size checks against a fake addon.
import { describe, expect, it } from 'vitest';
import { parseBatch } from '../../src/kernel/events.js';
import { attachError, loadError, verifierSummary } from '../../src/kernel/loader-errors.js';
import { BpfMap } from '../../src/kernel/loader-map.js';
import type { BpfNative, KernelMapInfo } from '../../src/kernel/native.js';

function nativeErr(code: string, errno: number, message: string, extra: { log?: string; messages?: string[] } = {}): Error {
  return Object.assign(new Error(message), { code, errno }, extra);
}

const ctx = {
  object: 'demo',
  programs: [{ name: 'handle', section: 'lsm/file_open', type: 'lsm', autoload: true, fd: -1 }],
  maps: [{ name: 'events', section: '.maps', type: 'user_ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096, fd: -1 }],
};

describe('load and attach errors', () => {
  it('summarises a verifier log to its verdict', () => {
    const log =
      '0: R1=ctx() R10=fp0\n; return v[1]; @ x.c:22\n8: (79) r6 = *(u64 *)(r0 +8)\ninvalid access to map value\nR0 min value is outside\nprocessed 8 insns (limit 1000000)\n';
    expect(verifierSummary(log)).toBe('invalid access to map value; R0 min value is outside');
    expect(verifierSummary('only a line\n')).toBe('only a line');
  });

  it('classifies permission, BTF, map type, program type and anything else', () => {
    expect(loadError(nativeErr('EPERM', 1, 'load demo: Operation not permitted'), ctx)).toMatchObject({
      code: 'PERMISSION_DENIED',
      message: 'load demo: permission denied',
      hint: expect.stringContaining('CAP_BPF'),
    });
    expect(loadError(nativeErr('ESRCH', 3, 'load demo: No such process'), ctx)).toMatchObject({ code: 'KERNEL_NO_BTF' });
    expect(
      loadError(nativeErr('EINVAL', 22, 'load demo: Invalid argument', { messages: ["libbpf: map 'events': failed to create: Invalid argument(-22)"] }), ctx),
    ).toMatchObject({
      code: 'KERNEL_UNSUPPORTED',
      message: 'load demo: map events: map type user_ringbuf is not supported by this kernel',
      data: { feature: 'map type user_ringbuf' },
    });
    expect(
      loadError(
        nativeErr('EINVAL', 22, 'load demo: Invalid argument', { log: '', messages: ["libbpf: prog 'handle': BPF program load failed: Invalid argument"] }),
        ctx,
      ),
    ).toMatchObject({
      code: 'KERNEL_UNSUPPORTED',
      message: 'load demo: program handle: program type lsm is not supported by this kernel',
    });
    expect(loadError(nativeErr('E2BIG', 7, 'load demo: Argument list too long'), ctx)).toMatchObject({
      code: 'LOAD_FAILED',
      message: 'load demo: argument list too long',
      data: { errnoCode: 'E2BIG' },
    });
    expect(loadError(new TypeError('boom'), ctx)).toMatchObject({ code: 'INTERNAL' });
  });

  it('reads EPERM as root for a trampoline program type (lsm, fentry, freplace) as the kernel refusing the type, not a missing privilege', () => {
    const eperm = nativeErr('EPERM', 1, 'load demo: Operation not permitted', {
      messages: ["libbpf: prog 'handle': BPF program load failed: Operation not permitted"],
    });
    expect(loadError(eperm, { ...ctx, root: true })).toMatchObject({
      code: 'KERNEL_UNSUPPORTED',
      message: 'load demo: program handle: program type lsm is not supported by this kernel',
      hint: 'LSM programs need Linux 5.7+ built with CONFIG_BPF_LSM=y, with "bpf" among the active LSMs (/sys/kernel/security/lsm, set by the lsm= boot parameter) and BPF trampolines',
      data: { feature: 'program type lsm', errnoCode: 'EPERM' },
    });
    const fentry = { ...ctx, root: true, programs: [{ ...ctx.programs[0]!, section: 'fentry/do_sys_openat2', type: 'tracing' }] };
    expect(loadError(eperm, fentry).hint).toMatch(/^fentry, fexit and fmod_ret programs need Linux 5\.5\+ with BPF trampolines/);
    // Not root, or a classic program type: a permission problem after all.
    expect(loadError(eperm, ctx)).toMatchObject({ code: 'PERMISSION_DENIED' });
    const kprobe = { ...ctx, root: true, programs: [{ ...ctx.programs[0]!, section: 'kprobe/x', type: 'kprobe' }] };
    expect(loadError(eperm, kprobe)).toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  const prog = (section: string, type = 'kprobe') => ({ name: 'p', section, type });

  it('classifies attach failures by target', () => {
    const enoent = nativeErr('ENOENT', 2, 'attach p: tracepoint/a/b: No such file or directory');
    expect(attachError(enoent, prog('tracepoint/sched/nope', 'tracepoint'))).toMatchObject({
      code: 'KERNEL_NO_TRACEPOINT',
      message: 'attach p: tracepoint sched/nope does not exist',
    });
    expect(attachError(enoent, prog('tp/sched/nope', 'tracepoint'))).toMatchObject({ code: 'KERNEL_NO_TRACEPOINT' });
    const hint = (f: string) =>
      `look for ${f} in /proc/kallsyms and in /sys/kernel/tracing/available_filter_functions (what kprobes can attach to): on this kernel it may be inlined, renamed or carry a suffix such as .isra.0`;
    expect(attachError(enoent, prog('kprobe'), { kind: 'kprobe', function: 'f' })).toMatchObject({
      code: 'ATTACH_TARGET_NOT_FOUND',
      message: 'attach p: kernel function f does not exist',
      hint: hint('f'),
      data: { function: 'f' },
    });
    expect(attachError(enoent, prog('kretprobe/vfs_nope+0x10'))).toMatchObject({
      code: 'ATTACH_TARGET_NOT_FOUND',
      message: 'attach p: kernel function vfs_nope does not exist',
      hint: hint('vfs_nope'),
    });
    expect(attachError(enoent, prog('uprobe/x'))).toMatchObject({
      code: 'ATTACH_TARGET_NOT_FOUND',
      message: 'attach p: tracepoint/a/b: No such file or directory',
      hint: undefined,
    });
    expect(attachError(nativeErr('ENOTSUP', 95, 'attach p: xdp: Operation not supported'), prog('xdp', 'xdp'))).toMatchObject({
      code: 'ATTACH_NEEDS_TARGET',
      message: 'attach p: section xdp needs a target: --attach p=INTERFACE',
      hint: 'for example --attach p=lo (ebpm run --help lists the forms)',
    });
    expect(attachError(nativeErr('EACCES', 13, 'attach p: x: Permission denied'), prog('xdp', 'xdp'), { kind: 'xdp', interface: 'lo' })).toMatchObject({
      code: 'PERMISSION_DENIED',
    });
  });

  it("reads libbpf's warnings: no kprobe support, a uprobe without a binary, a symbol not in the binary, a program ebpm cannot attach", () => {
    // libbpf 1.1 on a kernel with neither the kprobe PMU nor kprobe_events: ENOENT, as for a missing function.
    const noKprobes = nativeErr('ENOENT', 2, 'attach p: kprobe/tcp_v4_connect: No such file or directory', {
      messages: [
        "libbpf: failed to open '/sys/bus/event_source/devices/kprobe/type': No such file or directory\n",
        "libbpf: prog 'p': failed to create kprobe 'tcp_v4_connect+0x0' perf event: No such file or directory\n",
      ],
    });
    expect(attachError(noKprobes, prog('kprobe/tcp_v4_connect'), undefined, { kprobes: false })).toMatchObject({
      code: 'KERNEL_UNSUPPORTED',
      message: 'attach p: this kernel has no kprobe support (neither the kprobe PMU nor legacy kprobe_events)',
      data: { feature: 'kprobes' },
    });
    // With kprobes, ENOENT is the function.
    expect(attachError(noKprobes, prog('kprobe/tcp_v4_connect'), undefined, { kprobes: true })).toMatchObject({
      code: 'ATTACH_TARGET_NOT_FOUND',
      message: 'attach p: kernel function tcp_v4_connect does not exist',
    });
    const noBinary = nativeErr('EINVAL', 22, 'attach p: uretprobe/readline: Invalid argument', {
      messages: ["libbpf: prog 'p': section 'uretprobe/readline' missing ':function[+offset]' specification\n"],
    });
    expect(attachError(noBinary, prog('uretprobe/readline'))).toMatchObject({
      code: 'ATTACH_NEEDS_TARGET',
      message: 'attach p: section uretprobe/readline needs a target: --attach p=BINARY:SYMBOL[+OFFSET] or BINARY:OFFSET',
      hint: 'for example --attach p=/usr/bin/bash:readline (ebpm run --help lists the forms)',
    });
    const noSymbol = nativeErr('ENOENT', 2, 'attach p: uprobe /usr/bin/bash:nope: No such file or directory', {
      messages: ["libbpf: elf: failed to find symbol 'nope' in '/usr/bin/bash'\n"],
    });
    expect(attachError(noSymbol, prog('uprobe'), { kind: 'uprobe', binary: '/usr/bin/bash', symbol: 'nope' })).toMatchObject({
      code: 'ATTACH_TARGET_NOT_FOUND',
      message: 'attach p: symbol nope is not in /usr/bin/bash',
    });
    const notsup = nativeErr('ENOTSUP', 95, 'attach p: x: Operation not supported');
    for (const [section, type, kind] of [
      ['perf_event', 'perf_event', 'perf_event'],
      ['socket', 'socket_filter', 'socket_filter'],
      ['usdt', 'kprobe', 'usdt'],
    ] as const) {
      expect(attachError(notsup, prog(section, type))).toMatchObject({
        code: 'ATTACH_UNSUPPORTED',
        message: `attach p: ebpm does not attach ${kind} programs yet`,
      });
    }
  });

  it('names the kernel type or field a CO-RE relocation did not find, not a verifier rejection', () => {
    const log =
      '7: (85) call bpf_probe_read_kernel#113\n8: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation <byte_off> [336] struct cfs_rq.nr_running (0:1 @ offset 16)\nprocessed 9 insns (limit 1000000)\n';
    const e = nativeErr('EINVAL', 22, 'load demo: Invalid argument', { log, messages: ["libbpf: prog 'handle': BPF program load failed: Invalid argument"] });
    expect(loadError(e, ctx)).toMatchObject({
      code: 'KERNEL_UNSUPPORTED',
      message: 'load demo: program handle: this kernel has no field nr_running in struct cfs_rq, which the program reads (CO-RE relocation byte_off)',
      data: { feature: 'struct cfs_rq.nr_running' },
    });
  });

  it('names a fentry target missing from kernel BTF, and fentry refused by the kernel, by what they attach as', () => {
    const fentry = { ...ctx, root: true, programs: [{ ...ctx.programs[0]!, name: 'md_flush_request', section: 'fentry/md_flush_request', type: 'tracing' }] };
    const missing = nativeErr('ESRCH', 3, 'load demo: No such process', {
      messages: ["libbpf: prog 'md_flush_request': failed to find kernel BTF type ID of 'md_flush_request': -3\n"],
    });
    expect(loadError(missing, fentry)).toMatchObject({
      code: 'ATTACH_TARGET_NOT_FOUND',
      message: "load demo: program md_flush_request: function md_flush_request is not in the kernel's BTF, so fentry cannot attach",
    });
    const eperm = nativeErr('EPERM', 1, 'load demo: Operation not permitted', {
      messages: ["libbpf: prog 'md_flush_request': BPF program load failed: Operation not permitted"],
    });
    expect(loadError(eperm, fentry)).toMatchObject({
      code: 'KERNEL_UNSUPPORTED',
      message: 'load demo: program md_flush_request: fentry is not supported by this kernel',
      data: { feature: 'fentry' },
    });
  });
});

describe('batches', () => {
  function batch(records: [Uint8Array, number][]): ArrayBuffer {
    const size = records.reduce((n, [r]) => n + 8 + Math.ceil(r.length / 8) * 8, 0);
    const buf = new ArrayBuffer(size);
    const v = new DataView(buf);
    let off = 0;
    for (const [r, cpu] of records) {
      v.setUint32(off, r.length, true);
      v.setUint32(off + 4, cpu, true);
      new Uint8Array(buf, off + 8).set(r);
      off += 8 + Math.ceil(r.length / 8) * 8;
    }
    return buf;
  }

  it('splits records as views, with their CPUs', () => {
    const data = batch([
      [new Uint8Array([1, 2, 3]), 0xffffffff],
      [new Uint8Array(9).fill(7), 1],
    ]);
    const b = parseBatch({ data, count: 2, lost: 5 });
    expect(b.records.map((r) => [...r])).toEqual([
      [1, 2, 3],
      [7, 7, 7, 7, 7, 7, 7, 7, 7],
    ]);
    expect(b.records[1]!.buffer).toBe(data);
    expect({ cpus: b.cpus, lost: b.lost }).toEqual({ cpus: [-1, 1], lost: 5 });
  });

  it('rejects a malformed batch', () => {
    const data = batch([[new Uint8Array(16), 0]]);
    new DataView(data).setUint32(0, 64, true);
    expect(() => parseBatch({ data, count: 1, lost: 0 })).toThrowWithCode('INTERNAL', 'events: malformed batch: record at 0 of 64 bytes past the end');
    expect(() => parseBatch({ data: batch([]), count: 1, lost: 0 })).toThrow(/0 records, addon counted 1/);
  });
});

describe('BpfMap against a fake addon', () => {
  const info: KernelMapInfo = { name: 'counts', type: 'percpu_hash', keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, valueBytes: 32 };
  const calls: string[] = [];
  const fake = {
    mapInfo: () => info,
    mapLookup: (_fd: number, key: Uint8Array) => {
      calls.push(`lookup ${key.length}`);
      return null;
    },
    mapUpdate: (_fd: number, _k: Uint8Array, _v: Uint8Array, flags: number) => void calls.push(`update ${flags}`),
    mapLookupBatch: () => {
      throw Object.assign(new Error('lookup batch: Invalid argument'), { code: 'EINVAL', errno: 22 });
    },
    mapNextKey: (_fd: number, key: Uint8Array | null) => (key ? null : new Uint8Array(4)),
  } as unknown as BpfNative;

  it('checks sizes before the addon sees them, and falls back from batch to key-by-key', () => {
    let open = true;
    const m = new BpfMap(fake, 9, () => open);
    expect(m.valueSize).toBe(32);
    expect(() => m.update(new Uint8Array(4), new Uint8Array(8))).toThrowWithCode('MAP_SIZE_MISMATCH', 'map counts: value has 8 bytes, map wants 32');
    m.update(new Uint8Array(4), new Uint8Array(32), 'exist');
    expect(m.lookup(new Uint8Array(4))).toBeUndefined();
    expect([...m.entries()]).toEqual([]);
    expect(calls).toEqual(['update 2', 'lookup 4', 'lookup 4']);
    open = false;
    expect(() => m.lookup(new Uint8Array(4))).toThrowWithCode('CLOSED');
  });
});
