import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedObjects, parseWasm } from '../../src/wasm/module.js';
import { exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

function wat(text: string): Uint8Array {
  const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'wat-'));
  writeFileSync(join(dir, 'm.wat'), text);
  execFileSync('wat2wasm', ['--enable-all', join(dir, 'm.wat'), '-o', join(dir, 'm.wasm')]);
  return new Uint8Array(readFileSync(join(dir, 'm.wasm')));
}

/** A WAT string literal of arbitrary bytes. */
function watBytes(b: Uint8Array): string {
  return '"' + Array.from(b, (x) => '\\' + x.toString(16).padStart(2, '0')).join('') + '"';
}

describeWith(['wat2wasm'], 'parseWasm', () => {
  it('reads imports with their signatures, exports, memories and data segments', () => {
    const m = parseWasm(
      wat(`(module
      (import "wasm_bpf" "wasm_load_bpf_object" (func (param i32 i32) (result i64)))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "env" "g" (global (mut i32)))
      (memory (export "memory") 2 10)
      (table (export "__indirect_function_table") 1 funcref)
      (func (export "_start"))
      (data (i32.const 1024) "hello")
      (data "passive"))`),
    );
    expect(m.imports).toEqual([
      { module: 'wasm_bpf', name: 'wasm_load_bpf_object', kind: 'function', type: { params: ['i32', 'i32'], results: ['i64'] } },
      { module: 'wasi_snapshot_preview1', name: 'fd_write', kind: 'function', type: { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] } },
      { module: 'env', name: 'g', kind: 'global', type: 'i32', mutable: true },
    ]);
    expect(m.exports).toEqual([
      { name: 'memory', kind: 'memory', index: 0 },
      { name: '__indirect_function_table', kind: 'table', index: 0 },
      { name: '_start', kind: 'function', index: 2 },
    ]);
    expect(m.memories).toEqual([{ limits: { min: 2, max: 10 }, shared: false, memory64: false }]);
    expect(
      m.data.map((d) => (d.mode === 'active' ? [d.mode, d.memory, d.offset, Buffer.from(d.bytes).toString()] : [d.mode, Buffer.from(d.bytes).toString()])),
    ).toEqual([
      ['active', 0, 1024, 'hello'],
      ['passive', 'passive'],
    ]);
  });

  it('finds a BPF object split across adjacent data segments, and one in a passive segment', async () => {
    const elf = await exampleObject('sigsnoop');
    const cut = 1000;
    const m = parseWasm(
      wat(`(module (memory 4)
      (data (i32.const 70000) ${watBytes(elf.subarray(cut))})
      (data (i32.const ${70000 - cut}) ${watBytes(elf.subarray(0, cut))})
      (data ${watBytes(elf)}))`),
    );
    const found = embeddedObjects(m);
    expect(found.map((o) => [o.address, o.bytes.length])).toEqual([
      [70000 - cut, elf.length],
      [0, elf.length],
    ]);
    expect(Buffer.compare(Buffer.from(found[0]!.bytes), Buffer.from(elf))).toBe(0);
  });

  it('ignores an ELF cut short and ELF files that are not BPF', async () => {
    const elf = await exampleObject('sigsnoop');
    const x86 = new Uint8Array(elf);
    x86[18] = 62; // EM_X86_64
    const m = parseWasm(
      wat(`(module (memory 4) (data (i32.const 16) ${watBytes(elf.subarray(0, elf.length - 1))}) (data (i32.const 100000) ${watBytes(x86)}))`),
    );
    expect(embeddedObjects(m)).toEqual([]);
  });
});

describe('parseWasm on bad input', () => {
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const cases: [string, number[], string][] = [
    ['no magic', [0x7f, 0x45, 0x4c, 0x46, 1, 0, 0, 0], 'parse wasm module: missing \\0asm magic at offset 0'],
    ['version 2', [0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00], 'parse wasm module: unsupported binary version at offset 4'],
    ['section past the end', [...header, 0x01, 0x10, 0x00], 'parse wasm module: length 16 runs past the end at offset 10'],
    ['unknown section', [...header, 0x20, 0x00], 'parse wasm module: unknown section id 32 at offset 8'],
    ['sections out of order', [...header, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00], 'parse wasm module: section 1 out of order at offset 11'],
    ['huge vector', [...header, 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f], 'parse wasm module: vector of 4294967295 elements runs past the end at offset 10'],
    ['overlong LEB128', [...header, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 'parse wasm module: integer representation too long at offset 14'],
    ['section size mismatch', [...header, 0x01, 0x02, 0x00, 0x00], 'parse wasm module: section 1 size mismatch at offset 8'],
    ['import of unknown type', [...header, 0x02, 0x07, 0x01, 0x01, 0x61, 0x01, 0x62, 0x00, 0x05], 'parse wasm module: type index 5 out of range at offset 15'],
  ];
  it.each(cases)('%s', (_name, bytes, message) => {
    let err: unknown;
    try {
      parseWasm(new Uint8Array(bytes));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'WASM_INVALID', message });
  });

  it('never throws anything but WASM_INVALID on random mutations of a module', () => {
    const base = new Uint8Array([
      ...header,
      0x01,
      0x05,
      0x01,
      0x60,
      0x01,
      0x7f,
      0x00,
      0x02,
      0x07,
      0x01,
      0x01,
      0x6d,
      0x01,
      0x66,
      0x00,
      0x00,
      0x05,
      0x03,
      0x01,
      0x00,
      0x01,
      0x0b,
      0x07,
      0x01,
      0x00,
      0x41,
      0x10,
      0x0b,
      0x01,
      0x61,
    ]);
    expect(parseWasm(base).imports).toHaveLength(1);
    expect(parseWasm(base).data).toHaveLength(1);
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let i = 0; i < 2000; i++) {
      const m = new Uint8Array(base);
      for (let k = 0; k < 3; k++) m[8 + Math.floor(rand() * (m.length - 8))] = Math.floor(rand() * 256);
      try {
        parseWasm(m);
      } catch (e) {
        expect((e as { code?: string }).code).toBe('WASM_INVALID');
      }
    }
  });
});
