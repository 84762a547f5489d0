import { describe, expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { clockTime, columns, eventFormat, rawEventFormat, valueFormat } from '../../src/package/decode.js';

const i32 = { kind: 'int', size: 4, signed: true, name: 'int' } as const;
const u32 = { kind: 'int', size: 4, signed: false, name: 'unsigned int' } as const;

/** The sigsnoop record: as parseObject lays out examples/sigsnoop's `struct event`. */
const sigsnoopEvent: TypeLayout = {
  kind: 'struct',
  size: 32,
  name: 'event',
  fields: [
    { name: 'pid', offset: 0, layout: u32 },
    { name: 'tpid', offset: 4, layout: u32 },
    { name: 'sig', offset: 8, layout: i32 },
    { name: 'ret', offset: 12, layout: i32 },
    { name: 'comm', offset: 16, layout: { kind: 'string', size: 16 } },
  ],
};

function record(size: number, fill: (v: DataView, b: Uint8Array) => void): DataView {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  fill(v, b);
  return v;
}

const sig = record(32, (v, b) => {
  v.setUint32(0, 4242, true);
  v.setUint32(4, 17, true);
  v.setInt32(8, 10, true);
  v.setInt32(12, -3, true);
  b.set(new TextEncoder().encode('kill'), 16);
});

describe('eventFormat', () => {
  const f = eventFormat(sigsnoopEvent);

  it('prints aligned columns under a TIME header, as ecli and libbpf-tools do; signals and negative errors by name', () => {
    expect(f.header()).toBe('TIME     PID     TPID    SIG       RET      COMM');
    expect(f.line(sig, 0, 32, '12:34:56')).toBe('12:34:56 4242    17      SIGUSR1   -ESRCH   kill\n');
    expect(f.columns).toEqual([
      expect.objectContaining({ name: 'pid', width: 7 }),
      expect.objectContaining({ name: 'tpid', width: 7 }),
      expect.objectContaining({ name: 'sig', width: 9 }),
      expect.objectContaining({ name: 'ret', width: 8 }),
      expect.objectContaining({ name: 'comm', width: 16 }),
    ]);
  });

  it('prints JSON lines with the numbers, and cells', () => {
    expect(f.json(sig, 0, 32)).toBe('{"pid":4242,"tpid":17,"sig":10,"ret":-3,"comm":"kill"}\n');
    expect(f.cells(sig, 0, 32)).toEqual(['4242', '17', 'SIGUSR1', '-ESRCH', 'kill']);
  });

  it('reads a record at an offset of a shared batch buffer, and a short record as zero-padded', () => {
    const batch = new Uint8Array(64);
    batch.set(new Uint8Array(sig.buffer), 24);
    expect(f.json(new DataView(batch.buffer), 24, 32)).toBe('{"pid":4242,"tpid":17,"sig":10,"ret":-3,"comm":"kill"}\n');
    expect(f.json(sig, 0, 10)).toBe('{"pid":4242,"tpid":17,"sig":10,"ret":0,"comm":""}\n');
  });
});

describe('valueFormat', () => {
  const every: TypeLayout = {
    kind: 'struct',
    size: 96,
    name: 'all',
    fields: [
      { name: 'i8', offset: 0, layout: { kind: 'int', size: 1, signed: true } },
      { name: 'u8', offset: 1, layout: { kind: 'int', size: 1, signed: false } },
      { name: 'i16', offset: 2, layout: { kind: 'int', size: 2, signed: true } },
      { name: 'ok', offset: 4, layout: { kind: 'int', size: 1, signed: false, bool: true, name: 'bool' } },
      {
        name: 'state',
        offset: 8,
        layout: {
          kind: 'enum',
          size: 4,
          signed: false,
          name: 'state',
          values: [
            { name: 'RUNNING', value: 0 },
            { name: 'SLEEPING', value: 1 },
          ],
        },
      },
      { name: 'other', offset: 12, layout: { kind: 'enum', size: 4, signed: false, values: [{ name: 'A', value: 0 }] } },
      { name: 'u64', offset: 16, layout: { kind: 'int', size: 8, signed: false } },
      { name: 'i64', offset: 24, layout: { kind: 'int', size: 8, signed: true } },
      { name: 'u128', offset: 32, layout: { kind: 'int', size: 16, signed: false } },
      { name: 'f', offset: 48, layout: { kind: 'float', size: 8, name: 'double' } },
      { name: 'ptr', offset: 56, layout: { kind: 'pointer', size: 8 } },
      { name: 'arr', offset: 64, layout: { kind: 'array', size: 6, count: 3, element: { kind: 'int', size: 2, signed: false } } },
      {
        name: 'inner',
        offset: 72,
        layout: {
          kind: 'struct',
          size: 8,
          fields: [
            { name: 'port', offset: 0, layout: { kind: 'int', size: 2, signed: false } },
            { name: 'flag', offset: 2, bitOffset: 3, bitSize: 2, layout: { kind: 'int', size: 4, signed: true } },
          ],
        },
      },
      { name: 'blob', offset: 80, layout: { kind: 'opaque', size: 4 } },
      { name: 'name', offset: 84, layout: { kind: 'string', size: 12 } },
    ],
  };
  const v = record(96, (d, b) => {
    d.setInt8(0, -5);
    d.setUint8(1, 200);
    d.setInt16(2, -300, true);
    d.setUint8(4, 1);
    d.setUint32(8, 1, true);
    d.setUint32(12, 7, true);
    d.setBigUint64(16, 18446744073709551615n, true);
    d.setBigInt64(24, -9007199254740993n, true);
    d.setBigUint64(32, 1n, true);
    d.setBigUint64(40, 1n, true);
    d.setFloat64(48, 2.5, true);
    d.setBigUint64(56, 0xffff8880deadbeefn, true);
    d.setUint16(64, 1, true);
    d.setUint16(66, 2, true);
    d.setUint16(68, 65535, true);
    d.setUint16(72, 8080, true);
    d.setUint8(74, 0b000_11_000); // bits 3-4 = 0b11: -1 as a signed 2-bit field
    b.set([0xde, 0xad, 0x00, 0x01], 80);
    b.set(new TextEncoder().encode('a"b\\\nc'), 84);
  });

  it('decodes every kind exactly, 64-bit integers without rounding', () => {
    expect(valueFormat(every).json(v, 0)).toBe(
      '{"i8":-5,"u8":200,"i16":-300,"ok":true,"state":"SLEEPING","other":7,"u64":18446744073709551615,"i64":-9007199254740993,' +
        '"u128":"18446744073709551617","f":2.5,"ptr":"0xffff8880deadbeef","arr":[1,2,65535],"inner":{"port":8080,"flag":-1},"blob":"dead0001","name":"a\\"b\\\\\\nc"}',
    );
  });

  it('flattens nested structs into dotted columns and escapes control characters in text', () => {
    const cols = columns(every);
    expect(cols.map((c) => c.name)).toEqual([
      'i8',
      'u8',
      'i16',
      'ok',
      'state',
      'other',
      'u64',
      'i64',
      'u128',
      'f',
      'ptr',
      'arr',
      'inner.port',
      'inner.flag',
      'blob',
      'name',
    ]);
    expect(eventFormat(every).cells(v, 0, 96)).toEqual([
      '-5',
      '200',
      '-300',
      'true',
      'SLEEPING',
      '7',
      '18446744073709551615',
      '-9007199254740993',
      '18446744073709551617',
      '2.5',
      '0xffff8880deadbeef',
      '[1,2,65535]',
      '8080',
      '-1',
      'dead0001',
      'a\\"b\\\\\\nc',
    ]);
    expect(eventFormat(every).header()).toBe(
      'TIME     I8   U8   I16    OK    STATE    OTHER  U64          I64          U128                 F          PTR                ARR              INNER.PORT INNER.FLAG BLOB             NAME',
    );
  });

  it('reads each string afresh across records and buffers, though it remembers the last one', () => {
    const f = valueFormat({ kind: 'string', size: 6 });
    const batch = new Uint8Array(36);
    for (const [i, t] of ['kill', 'kill', 'ki', 'killer', '', 'kill'].entries()) batch.set(new TextEncoder().encode(t), i * 6);
    const view = new DataView(batch.buffer);
    expect([0, 1, 2, 3, 4, 5].map((i) => f.text(view, i * 6))).toEqual(['kill', 'kill', 'ki', 'killer', '', 'kill']);
    batch.set([0x6b, 0x0a, 0, 0, 0, 0], 0); // the same buffer, rewritten in place
    expect(f.json(view, 0)).toBe('"k\\n"');
    expect(
      f.json(
        record(6, (_, b) => b.set([0x6b, 0x69, 0x6c, 0x6c])),
        0,
      ),
    ).toBe('"kill"');
  });

  it('decodes UTF-8 strings and keeps a full char array without a NUL', () => {
    const s: TypeLayout = { kind: 'string', size: 4 };
    expect(
      valueFormat(s).json(
        record(4, (_, b) => b.set([0xc3, 0xa9, 0x41, 0x42])),
        0,
      ),
    ).toBe('"éAB"');
    expect(
      valueFormat(s).text(
        record(4, (_, b) => b.set([0x41, 0x42, 0x43, 0x44])),
        0,
      ),
    ).toBe('ABCD');
  });

  it('prints non-finite floats as null in JSON, the value of a scalar export in a VALUE column', () => {
    const f: TypeLayout = { kind: 'float', size: 4, name: 'float' };
    const nan = record(4, (d) => d.setFloat32(0, NaN, true));
    expect(valueFormat(f).json(nan, 0)).toBe('null');
    expect(valueFormat(f).text(nan, 0)).toBe('NaN');
    const u64 = eventFormat({ kind: 'int', size: 8, signed: false, name: '__u64' });
    expect(u64.header()).toBe('TIME     VALUE');
    expect(
      u64.line(
        record(8, (d) => d.setBigUint64(0, 42n, true)),
        0,
        8,
        '00:00:01',
      ),
    ).toBe('00:00:01 42\n');
  });
});

describe('rawEventFormat', () => {
  it('prints records without a type as hex', () => {
    const f = rawEventFormat();
    const v = record(5, (_, b) => b.set([1, 2, 0xab, 0, 0xff]));
    expect(f.header()).toBe('TIME     DATA');
    expect(f.line(v, 1, 3, '01:02:03')).toBe('01:02:03 02ab00\n');
    expect(f.json(v, 0, 5)).toBe('{"data":"0102ab00ff"}\n');
    expect(f.cells(v, 0, 2)).toEqual(['0102']);
  });
});

describe('clockTime', () => {
  it('is HH:MM:SS in local time', () => {
    expect(clockTime(new Date(2024, 0, 2, 3, 4, 5))).toBe('03:04:05');
    expect(clockTime(new Date(2024, 0, 2, 23, 59, 9))).toBe('23:59:09');
  });
});
