// Result globals chosen from literal global specs (softirqs' `counts` and `hists` beside
// configuration and flags), their rows named by a kernel enum only when it fits exactly, and
// cut out of their section's bytes.
import { describe, expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import type { GlobalSpec } from '../../src/bpf/object.js';
import { globalEntries, indexKey, resultGlobals, type KernelEnums } from '../../src/package/result-globals.js';
import { resultFormat } from '../../src/package/result-maps.js';

const u64: TypeLayout = { kind: 'int', size: 8, signed: false, name: '__u64' };
const u32: TypeLayout = { kind: 'int', size: 4, signed: false, name: '__u32' };
const bool: TypeLayout = { kind: 'int', size: 1, signed: false, bool: true, name: 'bool' };
const hist: TypeLayout = {
  kind: 'struct',
  size: 80,
  name: 'hist',
  fields: [{ name: 'slots', offset: 0, layout: { kind: 'array', size: 80, count: 20, element: u32 } }],
};
const array = (element: TypeLayout, count: number): TypeLayout => ({ kind: 'array', size: element.size * count, count, element });

const global = (name: string, section: string, offset: number, layout: TypeLayout): GlobalSpec => ({
  name,
  section,
  offset,
  size: layout.size,
  typeId: 1,
  type: name,
  linkage: 'global',
  readonly: section.startsWith('.rodata'),
  defaultValue: new Uint8Array(layout.size),
  layout,
});

describe('resultGlobals', () => {
  it('chooses arrays of counters and of histograms in .bss and .data, never configuration, flags or scalars', () => {
    const chosen = resultGlobals([
      global('targ_dist', '.rodata', 0, bool),
      global('targ_cpus', '.rodata', 8, array(u64, 4)),
      global('counts', '.bss', 0, array(u64, 10)),
      global('hists', '.bss', 80, array(hist, 10)),
      global('total', '.bss', 880, u64),
      global('enabled', '.data', 0, array(bool, 4)),
      global('_pad', '.data', 8, array(u64, 2)),
      global('one', '.data', 24, array(u64, 1)),
      global('lat', '.data.lat', 0, array(u32, 3)),
    ]);
    expect(chosen.map(({ name, section, offset, count, kind, reason }) => ({ name, section, offset, count, kind, reason }))).toEqual([
      { name: 'counts', section: '.bss', offset: 0, count: 10, kind: 'counters', reason: '.bss array of 10 integers' },
      { name: 'hists', section: '.bss', offset: 80, count: 10, kind: 'histogram', reason: '.bss array of 10 structs with an integer array `slots`' },
      { name: 'lat', section: '.data.lat', offset: 0, count: 3, kind: 'counters', reason: '.data.lat array of 3 integers' },
    ]);
  });
});

const SOFTIRQ_NAMES = ['HI', 'TIMER', 'NET_TX', 'NET_RX', 'BLOCK', 'IRQ_POLL', 'TASKLET', 'SCHED', 'HRTIMER', 'RCU'];
const softirqEnum = [...SOFTIRQ_NAMES.map((n, i) => ({ name: `${n}_SOFTIRQ`, value: i })), { name: 'NR_SOFTIRQS', value: 10 }];
const enums =
  (list: { name: string; value: number }[][]): KernelEnums =>
  (member) =>
    list.filter((e) => e.some((m) => m.name === member));

describe('indexKey', () => {
  const index = { kind: 'struct', size: 4, fields: [{ name: 'index', offset: 0, layout: { kind: 'int', size: 4, signed: false } }] };

  it("names the rows after the kernel enum of the tracepoint's word when members and count fit exactly", () => {
    const key = indexKey(['softirq_entry', 'softirq_exit'], 10, enums([softirqEnum]));
    expect(key).toEqual({
      kind: 'struct',
      size: 4,
      fields: [
        {
          name: 'softirq',
          offset: 0,
          layout: {
            kind: 'enum',
            size: 4,
            signed: false,
            values: ['hi', 'timer', 'net_tx', 'net_rx', 'block', 'irq_poll', 'tasklet', 'sched', 'hrtimer', 'rcu'].map((name, value) => ({ name, value })),
          },
        },
      ],
    });
  });

  it('keeps the index when the count, a member or the tracepoint does not fit', () => {
    expect(indexKey(['softirq_entry'], 9, enums([softirqEnum]))).toEqual(index);
    expect(indexKey(['irq_handler_entry'], 10, enums([softirqEnum]))).toEqual(index);
    const odd = softirqEnum.map((m) => (m.value === 4 ? { name: 'BLOCK_IOPOLL', value: 4 } : m));
    expect(indexKey(['softirq_entry'], 10, enums([odd]))).toEqual(index);
    expect(indexKey(['softirq_entry'], 10, enums([]))).toEqual(index);
  });
});

describe('globalEntries', () => {
  it('cuts one entry per index out of the section, printed as a result map', () => {
    const section = new Uint8Array(8 + 3 * 8);
    const v = new DataView(section.buffer);
    v.setBigUint64(8, 5n, true);
    v.setBigUint64(24, 70n, true);
    const g = resultGlobals([global('counts', '.bss', 8, array(u64, 3))])[0]!;
    const entries = globalEntries(g, section);
    expect(entries.map((e) => [[...e.key], [...e.value]])).toEqual([
      [
        [0, 0, 0, 0],
        [5, 0, 0, 0, 0, 0, 0, 0],
      ],
      [
        [1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
      ],
      [
        [2, 0, 0, 0],
        [70, 0, 0, 0, 0, 0, 0, 0],
      ],
    ]);
    const key = indexKey(['softirq_entry'], 3, enums([[...softirqEnum.slice(0, 3), { name: 'NR_SOFTIRQS', value: 3 }]]));
    const f = resultFormat('counts', 'counters', key, u64, { unit: 'value', top: 10 });
    expect(f.text(entries, '10:00:00')).toBe(['10:00:00 counts: 2 of 2 entries by count', 'SOFTIRQ  COUNT', 'net_tx   70', 'hi       5', '', ''].join('\n'));
    expect(f.json(entries)).toBe('{"map":"counts","entries":[{"key":{"softirq":"net_tx"},"value":70},{"key":{"softirq":"hi"},"value":5}]}\n');
  });
});
