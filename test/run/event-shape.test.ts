// The pure parts of `ebpm run --filter`, `--fields` and `-o`: terms compiled against an event
// layout and tested on records, columns picked, and JSON restyled as indented JSON and YAML
// with every digit of a 64-bit integer kept.
import { describe, expect, it } from 'vitest';
import { prettyJson, yamlDocument } from '../../src/cli/views/json-styles.js';
import { stamped } from '../../src/cli/views/run-output.js';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { columns, eventFormat } from '../../src/package/decode.js';
import { eventFilter, pickColumns } from '../../src/package/event-select.js';
import { errnoName, openFlagsText, signalName } from '../../src/package/value-names.js';

const event: TypeLayout = {
  kind: 'struct',
  name: 'event',
  size: 32,
  fields: [
    { name: 'pid', offset: 0, layout: { kind: 'int', size: 4, signed: false, name: 'u32' } },
    { name: 'ret', offset: 4, layout: { kind: 'int', size: 4, signed: true, name: 'int' } },
    { name: 'big', offset: 8, layout: { kind: 'int', size: 8, signed: false, name: 'u64' } },
    { name: 'comm', offset: 16, layout: { kind: 'string', size: 16, name: 'char[16]' } },
  ],
};

function record(pid: number, ret: number, big: bigint, comm: string): DataView {
  const v = new DataView(new ArrayBuffer(32));
  v.setUint32(0, pid, true);
  v.setInt32(4, ret, true);
  v.setBigUint64(8, big, true);
  new Uint8Array(v.buffer).set(new TextEncoder().encode(comm), 16);
  return v;
}

const all = columns(event);
const keeps = (filter: string, v: DataView) => eventFormat(event, { test: eventFilter(filter, all) }).accepts(v, 0, 32);

describe('--filter', () => {
  const bash = record(7, -2, 18446744073709551615n, 'bash');
  it('compares integers as numbers (64-bit exactly), text as shown, and ~ as a regular expression', () => {
    expect(keeps('pid==7', bash)).toBe(true);
    expect(keeps('pid==07', bash)).toBe(true);
    expect(keeps('ret<0,ret>=-2', bash)).toBe(true);
    expect(keeps('ret<-2', bash)).toBe(false);
    expect(keeps('big>18446744073709551614', bash)).toBe(true);
    expect(keeps('comm==bash,pid!=1', bash)).toBe(true);
    expect(keeps('comm!=bash', bash)).toBe(false);
    expect(keeps('comm~^ba', bash)).toBe(true);
    expect(keeps('comm~sh$,pid>7', bash)).toBe(false);
  });

  it('reads a record shorter than its layout as zero-padded', () => {
    const short = record(7, 0, 1n, 'x');
    const f = eventFormat(event, { test: eventFilter('comm==', all) });
    expect(f.accepts(short, 0, 16)).toBe(true);
    expect(f.accepts(short, 0, 32)).toBe(false);
  });
});

describe('--fields', () => {
  const names = (text: string) => pickColumns(text, all).map((c) => c.name);
  it('picks names in order, or changes the default set', () => {
    expect(names('comm,pid')).toEqual(['comm', 'pid']);
    expect(names('comm,comm')).toEqual(['comm']);
    expect(names('-ret,-big')).toEqual(['pid', 'comm']);
    expect(names('-pid,+pid')).toEqual(['ret', 'big', 'comm', 'pid']);
    expect(names('+pid')).toEqual(['pid', 'ret', 'big', 'comm']);
  });

  it('prints the picked columns in the table and as JSON keys', () => {
    const f = eventFormat(event, { columns: pickColumns('comm,big', all) });
    const v = record(7, -2, 18446744073709551615n, 'bash');
    expect(f.header()).toBe('TIME     COMM             BIG');
    expect(f.line(v, 0, 32, '12:00:00')).toBe('12:00:00 bash             18446744073709551615\n');
    expect(f.json(v, 0, 32)).toBe('{"comm":"bash","big":18446744073709551615}\n');
  });
});

describe('-o', () => {
  const line = stamped('{"pid":7,"big":18446744073709551615,"comm":"a b","path":"/etc/x","e":{},"a":[1,{"k":"yes"}],"s":"it\\"s"}\n', 'T');
  it('stamps every event, whatever its layout', () => {
    expect(line.startsWith('{"timestamp":"T","pid":7,')).toBe(true);
    expect(stamped('42\n', 'T')).toBe('{"timestamp":"T","value":42}\n');
    expect(stamped('{}\n', 'T')).toBe('{"timestamp":"T"}\n');
  });

  it('jsonpretty: indented by two, digits kept', () => {
    expect(prettyJson(line)).toBe(
      '{\n  "timestamp": "T",\n  "pid": 7,\n  "big": 18446744073709551615,\n  "comm": "a b",\n  "path": "/etc/x",\n  "e": {},\n  "a": [\n    1,\n    {\n      "k": "yes"\n    }\n  ],\n  "s": "it\\"s"\n}\n',
    );
  });

  it('yaml: a document per line, strings plain only where YAML reads them back as strings', () => {
    expect(yamlDocument(line)).toBe(
      '---\ntimestamp: T\npid: 7\nbig: 18446744073709551615\ncomm: "a b"\npath: /etc/x\ne: {}\na:\n  - 1\n  - k: "yes"\ns: "it\\"s"\n',
    );
    expect(yamlDocument('[[1,2],[]]')).toBe('---\n- - 1\n  - 2\n- []\n');
    expect(yamlDocument('"12"')).toBe('--- "12"\n');
  });
});

describe('values by name', () => {
  it('signals as kill -l names them, negative errors as the kernel does, open flags as strace', () => {
    expect([signalName(1), signalName(15), signalName(31), signalName(0), signalName(34)]).toEqual(['SIGHUP', 'SIGTERM', 'SIGSYS', undefined, undefined]);
    expect([errnoName(-2), errnoName(-11), errnoName(0), errnoName(3), errnoName(-4095)]).toEqual(['-ENOENT', '-EAGAIN', undefined, undefined, undefined]);
    expect(openFlagsText(0)).toBe('O_RDONLY');
    expect(openFlagsText(0o2000000 | 0o1000 | 0o100 | 1)).toBe('O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC');
    expect(openFlagsText(0o4010002)).toBe('O_RDWR|O_SYNC');
    expect(openFlagsText(0x80000000 | 0o4000)).toBe('O_RDONLY|O_NONBLOCK|0x80000000');
  });
});
