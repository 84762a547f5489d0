import { describe, expect, it } from 'vitest';
import type { BpfObjectMeta, ParameterMeta } from '../../src/package/metadata.js';
import { applyAssignments, assignments, encodeValue, flagSpecs, intRange, parseValue, type FlagSpec, type ParamValue } from '../../src/package/params.js';

function param(p: Partial<ParameterMeta> & Pick<ParameterMeta, 'name' | 'kind' | 'size' | 'type'>): ParameterMeta {
  return { section: '.rodata', offset: 0, default: 0, flag: { long: p.name.replace(/_/g, '-') }, ...p };
}

const filteredPid = param({
  name: 'filtered_pid',
  kind: 'int',
  size: 4,
  type: 'pid_t',
  offset: 0,
  description: 'Trace only this pid',
  flag: { long: 'filtered-pid', short: 'p' },
});
const targetSignal = param({ name: 'target_signal', kind: 'int', size: 4, type: 'int', offset: 4, flag: { long: 'target-signal', short: 's' } });
const failedOnly = param({ name: 'failed_only', kind: 'bool', size: 1, type: 'bool', offset: 8, default: false, flag: { long: 'failed-only', short: 'x' } });
const comm = param({ name: 'targ_comm', kind: 'string', size: 8, type: 'char[8]', offset: 0, section: '.bss', default: 'sh' });

function object(name: string, parameters: ParameterMeta[]): BpfObjectMeta {
  return { name, digest: `sha256:${'0'.repeat(64)}`, size: 1, layer: true, embedded: false, programs: [], maps: [], parameters, exports: [] };
}

describe('flagSpecs', () => {
  it('lists each parameter with its object, switches for bools', () => {
    const specs = flagSpecs([object('sigsnoop.bpf.o', [filteredPid, targetSignal, failedOnly])], ['--json']);
    expect(specs.map((s) => [s.long, s.short, s.object, s.isSwitch])).toEqual([
      ['filtered-pid', 'p', 'sigsnoop.bpf.o', false],
      ['target-signal', 's', 'sigsnoop.bpf.o', false],
      ['failed-only', 'x', 'sigsnoop.bpf.o', true],
    ]);
  });

  it("refuses flags that repeat or take the command's own names", () => {
    expect(() => flagSpecs([object('a.bpf.o', [filteredPid]), object('b.bpf.o', [filteredPid])])).toThrowWithCode(
      'PARAMETER_FLAG_CONFLICT',
      'flag --filtered-pid of parameter filtered_pid (b.bpf.o) is also parameter filtered_pid (a.bpf.o)',
    );
    const json = param({ name: 'json', kind: 'bool', size: 1, type: 'bool' });
    expect(() => flagSpecs([object('a.bpf.o', [json])], ['--json'])).toThrowWithCode(
      'PARAMETER_FLAG_CONFLICT',
      'flag --json of parameter json (a.bpf.o) is also a flag of the command',
    );
    const noX = param({ name: 'no_failed_only', kind: 'int', size: 4, type: 'int' });
    expect(() => flagSpecs([object('a.bpf.o', [failedOnly, noX])])).toThrowWithCode(
      'PARAMETER_FLAG_CONFLICT',
      'flag --no-failed-only of parameter no_failed_only (a.bpf.o) is also parameter failed_only (a.bpf.o)',
    );
  });
});

describe('parseValue', () => {
  const u8 = param({ name: 'u8', kind: 'uint', size: 1, type: 'unsigned char' });
  const i16 = param({ name: 'i16', kind: 'int', size: 2, type: 'short' });
  const u64 = param({ name: 'u64', kind: 'uint', size: 8, type: 'unsigned long long' });
  const i128 = param({ name: 'i128', kind: 'int', size: 16, type: '__int128' });
  const f32 = param({ name: 'f32', kind: 'float', size: 4, type: 'float' });
  const f64 = param({ name: 'f64', kind: 'float', size: 8, type: 'double' });
  const raw = param({ name: 'raw', kind: 'bytes', size: 3, type: 'struct key' });

  it('reads integers in every base, within the range of the C type', () => {
    expect(parseValue(filteredPid, '123')).toBe(123n);
    expect(parseValue(filteredPid, '-1')).toBe(-1n);
    expect(parseValue(filteredPid, '0x7fffffff')).toBe(2147483647n);
    expect(parseValue(u8, '0b11111111')).toBe(255n);
    expect(parseValue(u8, '0o17')).toBe(15n);
    expect(parseValue(i16, '-32768')).toBe(-32768n);
    expect(parseValue(u64, '18446744073709551615')).toBe(18446744073709551615n);
    expect(parseValue(i128, '-170141183460469231731687303715884105728')).toBe(-(1n << 127n));
    expect(intRange(4, true)).toEqual([-2147483648n, 2147483647n]);
  });

  it('refuses out-of-range and malformed integers, naming the flag and the type', () => {
    expect(() => parseValue(filteredPid, '2147483648')).toThrowWithCode(
      'INVALID_PARAMETER',
      '--filtered-pid: "2147483648": out of range for pid_t [-2147483648, 2147483647]',
    );
    expect(() => parseValue(u8, '-1', '-u')).toThrowWithCode('INVALID_PARAMETER', '-u: "-1": out of range for unsigned char [0, 255]');
    expect(() => parseValue(u8, '256')).toThrowWithCode('INVALID_PARAMETER', '--u8: "256": out of range for unsigned char [0, 255]');
    expect(() => parseValue(filteredPid, '12abc')).toThrowWithCode('INVALID_PARAMETER', '--filtered-pid: "12abc": not an integer');
    expect(() => parseValue(filteredPid, '')).toThrowWithCode('INVALID_PARAMETER', '--filtered-pid: "": not an integer');
    expect(() => parseValue(filteredPid, '1.5')).toThrowWithCode('INVALID_PARAMETER', '--filtered-pid: "1.5": not an integer');
  });

  it('reads floats, strings, bytes and booleans', () => {
    expect(parseValue(f32, '1.5')).toBe(1.5);
    expect(parseValue(f64, '-2e300')).toBe(-2e300);
    expect(() => parseValue(f32, '1e39')).toThrowWithCode('INVALID_PARAMETER', '--f32: "1e39": out of range for float');
    expect(() => parseValue(f64, 'NaN')).toThrowWithCode('INVALID_PARAMETER', '--f64: "NaN": not a finite number');
    expect(parseValue(comm, 'bash')).toBe('bash');
    expect(parseValue(comm, 'sevench')).toBe('sevench');
    expect(() => parseValue(comm, 'eight ch')).toThrowWithCode('INVALID_PARAMETER', '--targ-comm: "eight ch": 8 bytes do not fit char[8]');
    expect(parseValue(raw, '0A0b0c')).toEqual(Uint8Array.of(10, 11, 12));
    expect(() => parseValue(raw, '0a0b')).toThrowWithCode('INVALID_PARAMETER', '--raw: "0a0b": 2 bytes, struct key has 3');
    expect(() => parseValue(raw, 'zz0000')).toThrowWithCode('INVALID_PARAMETER', '--raw: "zz0000": not hex');
    expect(parseValue(failedOnly, 'true')).toBe(true);
    expect(parseValue(failedOnly, '0')).toBe(false);
    expect(() => parseValue(failedOnly, 'yes')).toThrowWithCode('INVALID_PARAMETER', '--failed-only: "yes": not a boolean');
  });
});

describe('encodeValue and applyAssignments', () => {
  it('writes little-endian bytes of the parameter size', () => {
    expect([...encodeValue(filteredPid, -2n)]).toEqual([0xfe, 0xff, 0xff, 0xff]);
    expect([...encodeValue(targetSignal, 9n)]).toEqual([9, 0, 0, 0]);
    expect([...encodeValue(failedOnly, true)]).toEqual([1]);
    expect([...encodeValue(comm, 'sh')]).toEqual([0x73, 0x68, 0, 0, 0, 0, 0, 0]);
    expect([...encodeValue(param({ name: 'f', kind: 'float', size: 4, type: 'float' }), 1.5)]).toEqual([0, 0, 0xc0, 0x3f]);
    expect([...encodeValue(param({ name: 'u', kind: 'uint', size: 8, type: 'u64' }), 0x0102030405060708n)]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('patches only its section, leaving the original bytes alone', () => {
    const section = new Uint8Array(12).fill(0xaa);
    const as = assignments(
      new Map<FlagSpec, ParamValue>([
        [flagSpecs([object('s.bpf.o', [filteredPid, targetSignal, failedOnly, comm])])[1]!, 17n],
        [flagSpecs([object('s.bpf.o', [comm])])[0]!, 'x'],
      ]),
    );
    expect(as.map((a) => [a.object, a.section, a.offset, a.parameter])).toEqual([
      ['s.bpf.o', '.rodata', 4, 'target_signal'],
      ['s.bpf.o', '.bss', 0, 'targ_comm'],
    ]);
    const out = applyAssignments('.rodata', section, as);
    expect([...out]).toEqual([0xaa, 0xaa, 0xaa, 0xaa, 17, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
    expect(section.every((b) => b === 0xaa)).toBe(true);
    expect(() => applyAssignments('.bss', new Uint8Array(4), as)).toThrowWithCode(
      'PARAMETER_OUT_OF_SECTION',
      'parameter targ_comm: bytes 0..8 beyond .bss (4 bytes)',
    );
  });
});
