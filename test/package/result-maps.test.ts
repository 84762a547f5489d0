// Result maps found from BTF types, and how they print, over the layouts of libbpf-tools'
// runqlat, hardirqs and syscount as their objects record them.
import { describe, expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import type { BpfObjectMeta, MapMeta, PackageMetadata, ParameterMeta } from '../../src/package/metadata.js';
import {
  histogramUnit,
  packageResultMaps,
  parseSort,
  perCpuSum,
  printableKind,
  resultFormat,
  resultMaps,
  stackIdFields,
} from '../../src/package/result-maps.js';

const u32: TypeLayout = { kind: 'int', size: 4, signed: false, name: 'u32' };
const u64: TypeLayout = { kind: 'int', size: 8, signed: false, name: 'u64' };
const comm: TypeLayout = { kind: 'string', size: 16 };
const slots = (n: number): TypeLayout => ({ kind: 'array', size: 4 * n, count: n, element: { kind: 'int', size: 4, signed: false, name: '__u32' } });
/** runqlat's `struct hist`. */
const hist: TypeLayout = {
  kind: 'struct',
  size: 120,
  name: 'hist',
  fields: [
    { name: 'slots', offset: 0, layout: slots(26) },
    { name: 'comm', offset: 104, layout: comm },
  ],
};
/** hardirqs' `struct irq_key` and `struct info`. */
const irqKey: TypeLayout = { kind: 'struct', size: 32, name: 'irq_key', fields: [{ name: 'name', offset: 0, layout: { kind: 'string', size: 32 } }] };
const info: TypeLayout = {
  kind: 'struct',
  size: 88,
  name: 'info',
  fields: [
    { name: 'count', offset: 0, layout: u64 },
    { name: 'slots', offset: 8, layout: slots(20) },
  ],
};
/** syscount's `struct data_t`. */
const data: TypeLayout = {
  kind: 'struct',
  size: 32,
  name: 'data_t',
  fields: [
    { name: 'count', offset: 0, layout: u64 },
    { name: 'total_ns', offset: 8, layout: u64 },
    { name: 'comm', offset: 16, layout: comm },
  ],
};

const map = (name: string, type: string, key?: TypeLayout, value?: TypeLayout, extra: Partial<MapMeta> = {}): MapMeta => ({
  name,
  type,
  keySize: key?.size ?? 4,
  valueSize: value?.size ?? 4,
  maxEntries: 10240,
  flags: 0,
  ...(key ? { key } : {}),
  ...(value ? { value } : {}),
  ...extra,
});

const object = (maps: MapMeta[], parameters: ParameterMeta[] = []): BpfObjectMeta => ({
  name: 'tool.bpf.o',
  digest: `sha256:${'0'.repeat(64)}`,
  size: 1,
  layer: true,
  embedded: false,
  programs: [],
  maps,
  parameters,
  exports: [],
});

describe('resultMaps', () => {
  it('chooses histograms, counter rows and counter-named maps, and leaves bookkeeping out', () => {
    const o = object([
      map('cgroup_map', 'cgroup_array', u32, u32),
      map('start', 'hash', u32, u64),
      map('hists', 'hash', u32, hist),
      map('data', 'hash', u32, data),
      map('syscall_counts', 'array', u32, u64),
      map('percpu', 'percpu_hash', u32, hist),
      map('untyped', 'hash'),
    ]);
    expect(resultMaps(o)).toEqual([
      { map: 'hists', kind: 'histogram', reason: 'value struct hist has an integer array `slots`' },
      { map: 'data', kind: 'counters', reason: 'value struct data_t holds only integers and names, and the object has no event map' },
      { map: 'syscall_counts', kind: 'counters', reason: 'integer value, named as a counter map' },
      { map: 'percpu', kind: 'histogram', reason: 'value struct hist has an integer array `slots`', perCpu: true },
    ]);
  });

  it('takes no counter rows from an object with an event map: its structs are events in flight', () => {
    expect(resultMaps(object([map('events', 'ringbuf'), map('execs', 'hash', u32, data), map('counts', 'hash', u32, u64)]))).toEqual([
      { map: 'counts', kind: 'counters', reason: 'integer value, named as a counter map' },
    ]);
  });

  it('printableKind judges a map by its value alone, for --print-map', () => {
    expect([printableKind(map('start', 'hash', u32, u64)), printableKind(map('h', 'hash', u32, hist)), printableKind(map('h', 'hash'))]).toEqual([
      'counters',
      'histogram',
      undefined,
    ]);
    expect(printableKind(map('s', 'hash', u32, { kind: 'struct', size: 8, fields: [{ name: 'p', offset: 0, layout: { kind: 'pointer', size: 8 } }] }))).toBe(
      undefined,
    );
  });

  it('packageResultMaps leaves a package with @sample maps to its annotations', () => {
    const meta = (maps: MapMeta[]): PackageMetadata => ({
      schemaVersion: 1,
      name: 'tool',
      version: '0.0.0',
      keywords: [],
      authors: [],
      architecture: 'amd64',
      objects: [object(maps)],
      requirements: { programTypes: [], mapTypes: [], helpers: [], kernelTypes: [], kernelBtf: true },
    });
    expect(packageResultMaps(meta([map('hists', 'hash', u32, hist)]))).toEqual([
      { object: 'tool.bpf.o', map: 'hists', kind: 'histogram', reason: 'value struct hist has an integer array `slots`' },
    ]);
    const sample = { interval: 1000, type: 'log2_hist', clearMap: false } as const;
    expect(packageResultMaps(meta([map('hists', 'hash', u32, hist), map('other', 'hash', u32, hist, { sample })]))).toEqual([]);
  });
});

describe('perCpuSum', () => {
  it('sums the counters of every CPU copy (8-byte aligned), wrapping, and keeps the first non-empty copy of the rest', () => {
    // syscount's data_t on three CPUs: 32 bytes each, already aligned.
    const cpu = (count: number, total: number, name: string) =>
      bytes(32, [
        [0, count, 8],
        [8, total, 8],
        [16, name],
      ]);
    const all = new Uint8Array([...cpu(0, 0, ''), ...cpu(2, 10, 'sh'), ...cpu(3, 1, 'cat')]);
    expect(perCpuSum(data, all)).toEqual(cpu(5, 11, 'sh'));
    // A u32 value is padded to 8 bytes per CPU; its sum wraps at 32 bits.
    const u32s = new Uint8Array(16);
    new DataView(u32s.buffer).setUint32(0, 0xffffffff, true);
    new DataView(u32s.buffer).setUint32(8, 2, true);
    expect(perCpuSum(u32, u32s)).toEqual(bytes(4, [[0, 1]]));
    // hardirqs' info: its slots are summed element by element.
    const infoCpu = (count: number, slot0: number) =>
      bytes(88, [
        [0, count, 8],
        [8, slot0],
      ]);
    expect(perCpuSum(info, new Uint8Array([...infoCpu(1, 4), ...infoCpu(2, 5)]))).toEqual(infoCpu(3, 9));
  });

  it('is applied by resultFormat to a per-CPU map', () => {
    const f = resultFormat('counts', 'counters', u32, u64, { unit: 'value', top: 10, perCpu: true });
    const value = new Uint8Array(16);
    new DataView(value.buffer).setBigUint64(0, 4n, true);
    new DataView(value.buffer).setBigUint64(8, 6n, true);
    expect(f.json([{ key: bytes(4, [[0, 1]]), value }])).toBe('{"map":"counts","entries":[{"key":1,"value":10}]}\n');
  });
});

describe('histogramUnit', () => {
  const param = (name: string, extra: Partial<ParameterMeta> = {}) => ({ name, kind: 'bool', section: '.rodata', ...extra }) as ParameterMeta;
  it("follows libbpf-tools' latency switches, and says `value` for other tools", () => {
    const latency = [param('targ_ms'), param('targ_ns')];
    expect(histogramUnit(latency, () => undefined)).toBe('usecs');
    expect(histogramUnit(latency, (n) => n === 'targ_ms')).toBe('msecs');
    expect(histogramUnit(latency, (n) => n === 'targ_ns')).toBe('nsecs');
    expect(histogramUnit([param('in_ms')], () => undefined)).toBe('usecs');
    expect(histogramUnit([param('in_ms')], (n) => n === 'in_ms')).toBe('msecs');
    expect(histogramUnit([param('targ_comm')], () => true)).toBe('value');
  });

  it('takes a switch only as the tools declare it: a const volatile bool', () => {
    expect(histogramUnit([param('targ_ms', { kind: 'int' })], () => true)).toBe('value');
    expect(histogramUnit([param('targ_ms', { section: '.bss' })], () => true)).toBe('value');
  });
});

function bytes(size: number, parts: [offset: number, value: number | string, width?: number][]): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  for (const [o, x, w = 4] of parts) {
    if (typeof x === 'string') b.set(new TextEncoder().encode(x), o);
    else if (w === 8) v.setBigUint64(o, BigInt(x), true);
    else v.setUint32(o, x, true);
  }
  return b;
}

describe('resultFormat', () => {
  it('draws a single histogram alone, as runqlat draws its global one', () => {
    const f = resultFormat('hists', 'histogram', u32, hist, { unit: 'usecs', top: 10 });
    const e = {
      key: bytes(4, [[0, 0xffffffff]]),
      value: bytes(120, [
        [0, 3],
        [8, 1],
        [104, 'node'],
      ]),
    };
    expect(f.text([e], '10:00:00')).toBe(
      [
        '10:00:00 hists:',
        '     usecs               : count    distribution',
        '         0 -> 1          : 3        |****************************************|',
        '         2 -> 3          : 0        |                                        |',
        '         4 -> 7          : 1        |*************                           |',
        '',
        '',
      ].join('\n'),
    );
    expect(f.json([e])).toBe(`{"map":"hists","entries":[{"key":4294967295,"value":{"slots":[3,0,1${',0'.repeat(23)}],"comm":"node"}}]}\n`);
  });

  it('draws one histogram per key with its names, leaving empty ones out', () => {
    const f = resultFormat('hists', 'histogram', u32, hist, { unit: 'usecs', top: 10 });
    const a = {
      key: bytes(4, [[0, 7]]),
      value: bytes(120, [
        [0, 2],
        [104, 'sh'],
      ]),
    };
    const b = {
      key: bytes(4, [[0, 9]]),
      value: bytes(120, [
        [4, 5],
        [104, 'cat'],
      ]),
    };
    const empty = { key: bytes(4, [[0, 11]]), value: bytes(120, []) };
    expect(f.text([a, empty, b], '10:00:00')).toBe(
      [
        '10:00:00 hists:',
        'key = 7',
        'comm = sh',
        '     usecs               : count    distribution',
        '         0 -> 1          : 2        |****************************************|',
        '',
        'key = 9',
        'comm = cat',
        '     usecs               : count    distribution',
        '         0 -> 1          : 0        |                                        |',
        '         2 -> 3          : 5        |****************************************|',
        '',
        '',
      ].join('\n'),
    );
  });

  it('orders a table by --sort: ascending, or largest first with -; a column it does not have is USAGE', () => {
    const irq = (name: string, count: number) => ({ key: bytes(32, [[0, name]]), value: bytes(88, [[0, count, 8]]) });
    const entries = [irq('virtio3-tx', 71), irq('virtio1-req.0', 10731), irq('eth0', 71)];
    const table = (sort: string, top = 10) =>
      resultFormat('infos', 'histogram', irqKey, info, { unit: 'usecs', top, sort: parseSort(sort) }).text(entries, '10:00:00');
    expect(table('count,-name')).toBe(
      ['10:00:00 infos: 3 of 3 entries by count,-name', 'NAME           COUNT', 'virtio3-tx     71', 'eth0           71', 'virtio1-req.0  10731', '', ''].join(
        '\n',
      ),
    );
    expect(table('name', 2)).toBe(
      ['10:00:00 infos: 2 of 3 entries by name', 'NAME           COUNT', 'eth0           71', 'virtio1-req.0  10731', '', ''].join('\n'),
    );
    expect(() => table('cpu')).toThrowWithCode('USAGE', 'run: --sort cpu: the table of infos has no column cpu');
    expect(() => parseSort('count,')).toThrowWithCode('USAGE', 'run: --sort "count,": "" is not a field');
  });

  it('prints a histogram map whose slots are all empty as the table of its counters (hardirqs without -d)', () => {
    const f = resultFormat('infos', 'histogram', irqKey, info, { unit: 'usecs', top: 10 });
    const irq = (name: string, count: number) => ({ key: bytes(32, [[0, name]]), value: bytes(88, [[0, count, 8]]) });
    expect(f.text([irq('virtio3-tx', 71), irq('virtio1-req.0', 10731), irq('idle', 0)], '10:00:00')).toBe(
      ['10:00:00 infos: 2 of 2 entries by count', 'NAME           COUNT', 'virtio1-req.0  10731', 'virtio3-tx     71', '', ''].join('\n'),
    );
  });

  it('sorts counters by the first one, largest first, and cuts at top', () => {
    const f = resultFormat('data', 'counters', u32, data, { unit: 'value', top: 2 });
    const row = (key: number, count: number, total: number) => ({
      key: bytes(4, [[0, key]]),
      value: bytes(32, [
        [0, count, 8],
        [8, total, 8],
        [16, 'bash'],
      ]),
    });
    const entries = [row(0, 5, 100), row(1, 0, 0), row(3, 1234, 9), row(257, 40, 7)];
    expect(f.text(entries, '10:00:00')).toBe(
      ['10:00:00 data: 2 of 3 entries by count', 'KEY  COUNT  TOTAL_NS  COMM', '3    1234   9         bash', '257  40     7         bash', '', ''].join('\n'),
    );
    expect(f.json(entries)).toBe(
      '{"map":"data","entries":[' +
        '{"key":3,"value":{"count":1234,"total_ns":9,"comm":"bash"}},' +
        '{"key":257,"value":{"count":40,"total_ns":7,"comm":"bash"}},' +
        '{"key":0,"value":{"count":5,"total_ns":100,"comm":"bash"}}]}\n',
    );
    expect(f.text([row(1, 0, 0)], '10:00:00')).toBe('10:00:00 data: no entries\n\n');
  });

  it('names the single column of an integer value `count`', () => {
    const f = resultFormat('counts', 'counters', u32, u64, { unit: 'value', top: 10 });
    expect(f.text([{ key: bytes(4, [[0, 2]]), value: bytes(8, [[0, 17, 8]]) }], '10:00:00')).toBe(
      ['10:00:00 counts: 1 of 1 entries by count', 'KEY  COUNT', '2    17', '', ''].join('\n'),
    );
  });
});

/** offcputime's `struct key_t` and `struct val_t`. */
const i32: TypeLayout = { kind: 'int', size: 4, signed: true, name: 'int' };
const offKey: TypeLayout = {
  kind: 'struct',
  size: 16,
  name: 'key_t',
  fields: [
    { name: 'pid', offset: 0, layout: u32 },
    { name: 'tgid', offset: 4, layout: u32 },
    { name: 'user_stack_id', offset: 8, layout: i32 },
    { name: 'kern_stack_id', offset: 12, layout: i32 },
  ],
};
const offVal: TypeLayout = {
  kind: 'struct',
  size: 24,
  name: 'val_t',
  fields: [
    { name: 'delta', offset: 0, layout: u64 },
    { name: 'comm', offset: 8, layout: comm },
  ],
};
/** wakeuptime's `struct key_t`. */
const wakeKey: TypeLayout = {
  kind: 'struct',
  size: 36,
  name: 'key_t',
  fields: [
    { name: 'waker', offset: 0, layout: comm },
    { name: 'target', offset: 16, layout: comm },
    { name: 'w_k_stack_id', offset: 32, layout: i32 },
  ],
};

describe('stack maps', () => {
  it('are the counter maps keyed by ids of the one stack trace map, each id field with the side its name says', () => {
    const o = object([
      map('start', 'hash', u32, u64),
      map('stackmap', 'stack_trace'),
      map('info', 'hash', offKey, offVal),
      map('counts', 'hash', wakeKey, u64),
    ]);
    expect(resultMaps(o)).toEqual([
      { map: 'info', kind: 'stacks', reason: 'key struct key_t holds ids (user_stack_id, kern_stack_id) of stack trace map stackmap', stackMap: 'stackmap' },
      { map: 'counts', kind: 'stacks', reason: 'key struct key_t holds ids (w_k_stack_id) of stack trace map stackmap', stackMap: 'stackmap' },
    ]);
    expect(stackIdFields(offKey).map((f) => [f.name, f.side])).toEqual([
      ['user_stack_id', 'user'],
      ['kern_stack_id', 'kernel'],
    ]);
    expect(stackIdFields(wakeKey).map((f) => [f.name, f.side])).toEqual([['w_k_stack_id', 'kernel']]);
    // Without a stack trace map (or with two, whose ids cannot be told apart) they are plain counters.
    expect(resultMaps(object([map('counts', 'hash', wakeKey, u64)]))[0]?.kind).toBe('counters');
    expect(resultMaps(object([map('a', 'stack_trace'), map('b', 'stack_trace'), map('counts', 'hash', wakeKey, u64)]))[0]?.kind).toBe('counters');
  });

  const names = {
    kernel: (a: bigint) => (a === 0xffffffff8224fbden ? 'do_nanosleep+0x5e' : a === 0xffffffff82248b73n ? 'schedule+0x23' : undefined),
    user: (pid: number, a: bigint) => (pid === 42 && a === 0x7f1769cc3503n ? 'clock_nanosleep+0x23' : undefined),
    kernelHidden: false,
  };
  const frames = new Map([
    [7, [0xffffffff82248b73n, 0xffffffff8224fbden, 0xffffffff81000130n]],
    [3, [0x7f1769cc3503n, 0x55d0c4a01234n]],
  ]);
  const entry = (pid: number, user: number, kern: number, delta: number, name: string) => ({
    key: bytes(16, [
      [0, pid],
      [4, pid],
      [8, user],
      [12, kern],
    ]),
    value: bytes(24, [
      [0, delta, 8],
      [8, name],
    ]),
  });

  it('print each entry under its kernel then user stack, the largest first, as offcputime does', () => {
    const f = resultFormat('info', 'stacks', offKey, offVal, { unit: 'value', top: 2, stacks: { frames, names } });
    const entries = [entry(42, 3, 7, 1000, 'perl'), entry(9, -14, -17, 5000, 'kworker/0:1'), entry(5, 3, 99, 10, 'sh'), entry(6, 3, 7, 0, 'idle')];
    expect(f.text(entries, '10:00:00')).toBe(
      [
        '10:00:00 info: 2 of 3 entries by delta',
        '',
        '    [missed kernel stack]',
        '    [missed user stack]',
        '    - comm kworker/0:1, pid 9, tgid 9',
        '        5000',
        '',
        '    schedule+0x23',
        '    do_nanosleep+0x5e',
        '    [unknown] 0xffffffff81000130',
        '    clock_nanosleep+0x23',
        '    [unknown] 0x55d0c4a01234',
        '    - comm perl, pid 42, tgid 42',
        '        1000',
        '',
        '',
      ].join('\n'),
    );
    const top1 = resultFormat('info', 'stacks', offKey, offVal, { unit: 'value', top: 1, stacks: { frames, names } });
    expect(top1.json([entry(5, 3, 99, 10, 'sh')])).toBe(
      '{"map":"info","entries":[{"key":{"pid":5,"tgid":5,"user_stack_id":3,"kern_stack_id":99},"value":{"delta":10,"comm":"sh"},' +
        '"stacks":{"kern_stack_id":null,"user_stack_id":[{"address":"0x7f1769cc3503","symbol":null},{"address":"0x55d0c4a01234","symbol":null}]}}]}\n',
    );
  });

  it('say that a stack id is no longer in the stack map, and that kernel names are hidden', () => {
    const f = resultFormat('info', 'stacks', offKey, offVal, { unit: 'value', top: 10, stacks: { frames, names: { ...names, kernelHidden: true } } });
    expect(f.text([entry(5, -14, 99, 10, 'sh')], '10:00:00')).toBe(
      [
        '10:00:00 info: 1 of 1 entries by delta',
        '  kernel frames not named: /proc/kallsyms shows every address as 0 (ebpm needs root, and kernel.kptr_restrict below 2)',
        '',
        '    [kernel stack 99: no longer in the stack map]',
        '    [missed user stack]',
        '    - comm sh, pid 5, tgid 5',
        '        10',
        '',
        '',
      ].join('\n'),
    );
  });
});
