// The --max-memory rewrite: every memory.grow of memory 0 found among the opcodes clang, Rust
// and the proposals Node runs emit, routed through the added function, with the module still
// valid and its grows answering as before; GROW_REFUSED set only by a grow the limit refused.
import { describe, expect, it } from 'vitest';
import { GROW_REFUSED, limitMemory, refusedGrow } from '../../src/runtime/memory-limit.js';
import { functionBodies } from '../../src/wasm/code.js';
import { parseWasm } from '../../src/wasm/module.js';
import { describeWith } from '../helpers/prereq.js';
import { exampleGuest, wat } from './helpers.js';

/** Every kind of immediate the scanner steps over, with grows in a nested block and a second function. */
const OPCODES = `(module
  (type $v (func))
  (tag $t (param i32))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $nop $grow2)
  (data $d "abc")
  (global $g (mut i32) (i32.const 0))
  (func $nop)
  (func $grow2 (result i32) (memory.grow (i32.const 2)))
  (func (export "grow") (param $n i32) (result i32) (local $v v128) (local $f f64)
    (block $out (result i32)
      (block $b (loop $l (br_table $b $l (i32.const 0))))
      (if (i32.const 0) (then (call_indirect (type $v) (i32.const 0))) (else (nop)))
      (drop (select (result i64) (i64.const 0x7fffffffffffffff) (i64.const -1) (i32.const 1)))
      (local.set $f (f64.add (f64.const 1.5) (f64.promote_f32 (f32.const -2.5))))
      (i64.store offset=8 align=4 (i32.const 0) (i64.load16_s offset=2 (i32.const 0)))
      (local.set $v (v128.const i32x4 1 2 3 4))
      (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))
      (drop (i32x4.extract_lane 2 (local.get $v)))
      (local.set $v (v128.load32_lane offset=4 1 (i32.const 0) (local.get $v)))
      (memory.copy (i32.const 0) (i32.const 16) (i32.const 4))
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 4))
      (memory.init $d (i32.const 0) (i32.const 0) (i32.const 3))
      (drop (table.size 0))
      (drop (ref.is_null (ref.func $nop)))
      (drop (i32.atomic.rmw.add offset=4 (i32.const 0) (i32.const 1)))
      (atomic.fence)
      (try (do (nop)) (catch $t (drop)))
      (global.set $g (i32.const 1))
      (br $out (memory.grow (local.get $n)))))
  (func (export "grow2") (result i32) (return_call $grow2)))`;
const FEATURES = ['--enable-threads', '--enable-exceptions', '--enable-tail-call'];

describeWith(['wat2wasm'], 'limitMemory on real modules', () => {
  it('finds every memory.grow and keeps the module valid and its grows answering as before', () => {
    const module = wat(OPCODES, FEATURES);
    const sec = parseWasmSections(module).find((s) => s.id === 10)!;
    expect(functionBodies(module, sec.start, sec.end)!.map((b) => b.grows.length)).toEqual([0, 1, 1, 0]);
    const limited = limitMemory(module, parseWasm(module), 4 * 65536, 'm');
    expect(WebAssembly.validate(limited)).toBe(true);
    expect(parseWasm(limited).exports.map((e) => [e.name, e.kind])).toEqual([
      ['memory', 'memory'],
      ['grow', 'function'],
      ['grow2', 'function'],
      [GROW_REFUSED, 'global'],
    ]);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(limited));
    const grow = instance.exports.grow as (n: number) => number;
    const grow2 = instance.exports.grow2 as () => number;
    expect([grow(1), refusedGrow(instance)]).toEqual([1, undefined]);
    expect([grow2(), refusedGrow(instance)]).toEqual([2, undefined]);
    // 4 pages now: one more is refused (5 > 4), and recorded.
    expect([grow(1), refusedGrow(instance)]).toEqual([-1, 5 * 65536]);
    expect([grow(0), grow2(), refusedGrow(instance)]).toEqual([4, -1, 6 * 65536]);
    // Asking for more than a 32-bit memory can hold is refused by the engine, not the limit.
    const fresh = new WebAssembly.Instance(new WebAssembly.Module(limited));
    expect([(fresh.exports.grow as (n: number) => number)(70000), refusedGrow(fresh)]).toEqual([-1, undefined]);
  });

  it('leaves a module as it was but for its maximum when the limit cannot refuse a grow or nothing grows', () => {
    const own = wat('(module (memory (export "memory") 1 8) (func (export "g") (result i32) (memory.grow (i32.const 1))))');
    expect(parseWasm(limitMemory(own, parseWasm(own), 16 * 65536, 'm')).exports.map((e) => e.name)).toEqual(['memory', 'g']);
    const still = wat('(module (memory (export "memory") 1) (func (export "f")))');
    expect(limitMemory(still, parseWasm(still), 16 * 65536, 'm').length).toBe(still.length + 1);
  });
});

describeWith(['clang', 'wasi', 'btf', 'bpftool'], 'limitMemory on clang and wasi-libc output', () => {
  it("hooks the grows of the examples' guests", async () => {
    for (const name of ['sigsnoop', 'runqlat', 'bootstrap'] as const) {
      const { module } = await exampleGuest(name);
      const limited = limitMemory(module, parseWasm(module), 16 << 20, name);
      expect(WebAssembly.validate(limited)).toBe(true);
      expect(parseWasm(limited).exports.at(-1)).toEqual({ name: GROW_REFUSED, kind: 'global', index: expect.any(Number) });
    }
  }, 120_000);
});

describe('functionBodies', () => {
  it('gives up on an opcode it does not know in a body that may grow', () => {
    // One body: no locals, 0xfb 0x00 (GC struct.new), memory.grow 0, end.
    expect(functionBodies(Uint8Array.of(1, 6, 0, 0xfb, 0x00, 0x40, 0x00, 0x0b), 0, 8)).toBeUndefined();
    expect(functionBodies(Uint8Array.of(1, 5, 0, 0x41, 0x02, 0x40, 0x00), 0, 7)).toEqual([{ start: 2, end: 7, grows: [5] }]);
  });

  it('does not decode a body without the bytes of memory.grow 0', () => {
    // No locals, 0xfb 0x00 (unknown here), i32.const 64 (0x41 0xc0 0x00: a 0x40 bit, no 0x40 byte), end; then a body that grows.
    const bytes = Uint8Array.of(2, 7, 0, 0xfb, 0x00, 0x41, 0xc0, 0x00, 0x0b, 5, 0, 0x41, 0x01, 0x40, 0x00);
    expect(functionBodies(bytes, 0, bytes.length)).toEqual([
      { start: 2, end: 9, grows: [] },
      { start: 10, end: 15, grows: [13] },
    ]);
  });

  it('steps over immediates without decoding them, and refuses one longer than its type allows', () => {
    // i32.const -1 (5 bytes), i64.const with 10 bytes, i64.load offset=2^63 (10 bytes), memory.grow 0.
    const body = [0, 0x41, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x42, ...Array(9).fill(0xff), 0x7f, 0x29, 0x03, ...Array(9).fill(0x80), 0x01, 0x40, 0x00];
    expect(functionBodies(Uint8Array.of(1, body.length, ...body), 0, body.length + 2)).toEqual([{ start: 2, end: body.length + 2, grows: [body.length] }]);
    // i32.const with a sixth byte, then memory.grow 0.
    expect(() => functionBodies(Uint8Array.of(1, 10, 0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x40, 0x00), 0, 12)).toThrowWithCode(
      'WASM_INVALID',
      'parse wasm module: integer representation too long at offset 9',
    );
  });
});

/** Section ids and content ranges, read directly (the module passed parseWasm). */
function parseWasmSections(module: Uint8Array): { id: number; start: number; end: number }[] {
  const out: { id: number; start: number; end: number }[] = [];
  let at = 8;
  while (at < module.length) {
    const id = module[at++]!;
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = module[at++]!;
      size += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    out.push({ id, start: at, end: at + size });
    at += size;
  }
  return out;
}
