import { describe, expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { linearHistogram, log2Histogram, sampleFormat } from '../../src/package/histogram.js';

describe('log2Histogram', () => {
  it('draws as libbpf-tools runqlat does', () => {
    // The first rows of a real `runqlat 1 1` on this machine, byte for byte.
    expect(log2Histogram([1453, 1025, 596, 483, 0], 'usecs')).toEqual([
      '     usecs               : count    distribution',
      '         0 -> 1          : 1453     |****************************************|',
      '         2 -> 3          : 1025     |****************************            |',
      '         4 -> 7          : 596      |****************                        |',
      '         8 -> 15         : 483      |*************                           |',
    ]);
  });

  it('stops at the last used slot, prints nothing for an empty histogram, widens past slot 32', () => {
    expect(log2Histogram([0, 0, 1, 0, 0], 'ms')).toEqual([
      '     ms                  : count    distribution',
      '         0 -> 1          : 0        |                                        |',
      '         2 -> 3          : 0        |                                        |',
      '         4 -> 7          : 1        |****************************************|',
    ]);
    expect(log2Histogram([0, 0, 0], 'usecs')).toEqual([]);
    const wide = log2Histogram([...new Array(33).fill(0), 2], 'nsecs');
    expect(wide[0]).toBe(`${' '.repeat(15)}${'nsecs'.padEnd(29)} : count    distribution`);
    expect(wide[34]).toBe(`${'8589934592'.padStart(20)} -> ${'17179869183'.padEnd(20)} : 2        |********************|`);
  });
});

describe('linearHistogram', () => {
  it('draws used slots between the first and last, skipping empty ones', () => {
    expect(linearHistogram([0, 4, 0, 2, 0], 'slot', 10, 5)).toEqual([
      '     slot          : count     distribution',
      '        15         : 4        |****************************************|',
      '        25         : 2        |********************                    |',
    ]);
    expect(linearHistogram([0, 0], 'x')).toEqual([]);
  });
});

describe('sampleFormat', () => {
  const key: TypeLayout = { kind: 'int', size: 4, signed: false, name: 'u32' };
  /** runqlat's `struct hist`: 26 u32 slots and a comm. */
  const hist: TypeLayout = {
    kind: 'struct',
    size: 120,
    name: 'hist',
    fields: [
      { name: 'slots', offset: 0, layout: { kind: 'array', size: 104, count: 26, element: { kind: 'int', size: 4, signed: false, name: '__u32' } } },
      { name: 'comm', offset: 104, layout: { kind: 'string', size: 16 } },
    ],
  };
  const entry = (k: number, slots: number[], comm: string) => {
    const kb = new Uint8Array(4);
    new DataView(kb.buffer).setUint32(0, k, true);
    const vb = new Uint8Array(120);
    const dv = new DataView(vb.buffer);
    for (const [i, c] of slots.entries()) dv.setUint32(i * 4, c, true);
    vb.set(new TextEncoder().encode(comm), 104);
    return { key: kb, value: vb };
  };

  it("prints a log2 histogram per key, with the value's other fields", () => {
    const f = sampleFormat('hists', { interval: 1000, type: 'log2_hist', unit: 'usecs', clearMap: false }, key, hist);
    expect(f.text([entry(0, [3, 1], ''), entry(42, [0, 0, 2], 'bash')], '10:00:00')).toBe(
      [
        '10:00:00',
        'key = 0',
        '     usecs               : count    distribution',
        '         0 -> 1          : 3        |****************************************|',
        '         2 -> 3          : 1        |*************                           |',
        '',
        'key = 42',
        'comm = bash',
        '     usecs               : count    distribution',
        '         0 -> 1          : 0        |                                        |',
        '         2 -> 3          : 0        |                                        |',
        '         4 -> 7          : 2        |****************************************|',
        '',
        '',
      ].join('\n'),
    );
    expect(f.json([entry(7, [1], 'sh')])).toBe(`{"key":7,"value":{"slots":[1${',0'.repeat(25)}],"comm":"sh"}}\n`);
  });

  it('prints key/value lines for default_kv and linear histograms for linear_hist', () => {
    const kv = sampleFormat('counts', { interval: 500, type: 'default_kv', clearMap: true }, key, { kind: 'int', size: 8, signed: false });
    const k = new Uint8Array([5, 0, 0, 0]);
    const v = new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]);
    expect(kv.text([{ key: k, value: v }], '01:00:00')).toBe('01:00:00 5 9\n');
    expect(kv.json([{ key: k, value: v }])).toBe('{"key":5,"value":9}\n');
    const slots: TypeLayout = { kind: 'array', size: 12, count: 3, element: { kind: 'int', size: 4, signed: false } };
    const lin = sampleFormat('lin', { interval: 500, type: 'linear_hist', clearMap: false }, key, slots);
    expect(lin.text([{ key: k, value: Uint8Array.of(0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0) }], '01:00:00')).toBe(
      '01:00:00\nkey = 5\n     value         : count     distribution\n        1          : 2        |****************************************|\n\n',
    );
  });

  it('refuses maps whose layout cannot make the histogram, before anything runs', () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return `${(e as { code: string }).code}: ${(e as Error).message}`;
      }
    };
    const spec = { interval: 1000, type: 'log2_hist', clearMap: false } as const;
    expect(code(() => sampleFormat('h', spec, key, undefined))).toBe(
      'SAMPLE_LAYOUT: sample map h: key or value type unknown (declare them with `__type(key, …)` and `__type(value, …)`)',
    );
    expect(code(() => sampleFormat('h', spec, key, { kind: 'int', size: 8, signed: false }))).toBe('SAMPLE_LAYOUT: sample map h: value has no `slots` array');
    expect(code(() => sampleFormat('h', spec, key, { kind: 'array', size: 8, count: 2, element: { kind: 'float', size: 4 } }))).toBe(
      'SAMPLE_LAYOUT: sample map h: `slots` are not integers of 1 to 8 bytes',
    );
  });
});
