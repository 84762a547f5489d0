/**
 * Instruction boundaries in the code section (core spec 2.0 §5.4, with the opcodes of the
 * threads, SIMD, relaxed SIMD, tail call, exception handling and typed function reference
 * proposals): enough to find every `memory.grow` without validating or running anything.
 * GC (0xfb) and other newer opcodes are not known; a body using one is reported as unscanned.
 */
import { Reader } from './module.js';

export interface FunctionBody {
  /** [start, end): the body (locals and instructions), after its size. */
  readonly start: number;
  readonly end: number;
  /** Module offsets of the `memory.grow` opcodes on memory 0 (immediate `0x00`) in the body. */
  readonly grows: readonly number[];
}

/**
 * `functionBodies` reads the bodies of a code section whose contents are `[start, end)` of
 * `bytes`; undefined when a body holds an opcode this scanner does not know. A body without the
 * bytes of `memory.grow 0` anywhere (most of a module's) cannot hold one and is not decoded: a
 * run checks its guest while the guest's thread starts, and decoding every instruction in
 * JavaScript not yet compiled took that thread's core for milliseconds.
 */
export function functionBodies(bytes: Uint8Array, start: number, end: number): FunctionBody[] | undefined {
  const r = new Reader(bytes, start, end);
  const bodies: FunctionBody[] = [];
  for (let n = r.count(); n > 0; n--) {
    const size = r.u32();
    const bodyStart = r.pos;
    const body = new Reader(bytes, bodyStart, bodyStart + size);
    r.take(size);
    const grows: number[] = [];
    if (!mayGrow(bytes, bodyStart, body.end)) {
      bodies.push({ start: bodyStart, end: body.end, grows });
      continue;
    }
    for (let locals = body.count(); locals > 0; locals--) {
      body.u32();
      valType(body);
    }
    while (!body.done) if (!instruction(body, grows)) return undefined;
    bodies.push({ start: bodyStart, end: body.end, grows });
  }
  return bodies;
}

/** Whether `[start, end)` holds the bytes of `memory.grow 0` (0x40 0x00) anywhere, as an instruction or inside one. */
function mayGrow(bytes: Uint8Array, start: number, end: number): boolean {
  // A view of the body alone: indexOf must not search the bodies after it.
  const body = bytes.subarray(start, end);
  for (let i = body.indexOf(0x40); i !== -1 && i < body.length - 1; i = body.indexOf(0x40, i + 1)) if (body[i + 1] === 0) return true;
  return false;
}

/** A value type: one byte, or `ref null? ht` (0x63, 0x64) followed by a heap type. */
function valType(r: Reader): void {
  const b = r.byte();
  if (b === 0x63 || b === 0x64) r.skipLeb(33);
}

/** A block type: empty (0x40), a value type, or a type index as s33. */
function blockType(r: Reader): void {
  const b = r.bytes[r.pos];
  if (b === 0x63 || b === 0x64) valType(r);
  else r.skipLeb(33);
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.skipLeb(32); // multi-memory: a memory index follows
  r.skipLeb(64);
}

/** Skips one instruction, noting `memory.grow 0`; false for an unknown opcode. */
function instruction(r: Reader, grows: number[]): boolean {
  const at = r.pos;
  const op = r.byte();
  if (op >= 0x45 && op <= 0xc4) return true; // numeric, comparison, conversion, sign extension
  if (op >= 0x28 && op <= 0x3e) {
    memarg(r);
    return true;
  }
  switch (op) {
    case 0x00:
    case 0x01:
    case 0x05:
    case 0x0a:
    case 0x0b:
    case 0x0f:
    case 0x19:
    case 0x1a:
    case 0x1b:
    case 0xd1:
    case 0xd3:
    case 0xd4:
      return true;
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x06:
      blockType(r);
      return true;
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x0c:
    case 0x0d:
    case 0x10:
    case 0x12:
    case 0x14:
    case 0x15:
    case 0x18:
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25:
    case 0x26:
    case 0x3f:
    case 0xd2:
    case 0xd5:
    case 0xd6:
      r.u32();
      return true;
    case 0x11:
    case 0x13:
      r.u32();
      r.u32();
      return true;
    case 0x0e:
      for (let n = r.count() + 1; n > 0; n--) r.u32();
      return true;
    case 0x1c:
      for (let n = r.count(); n > 0; n--) valType(r);
      return true;
    case 0x1f: // try_table: block type, then catch clauses (kind, tag for 0 and 1, label)
      blockType(r);
      for (let n = r.count(); n > 0; n--) {
        if (r.byte() < 2) r.u32();
        r.u32();
      }
      return true;
    case 0x40:
      if (r.u32() === 0 && r.pos === at + 2) grows.push(at);
      return true;
    case 0x41:
      r.skipLeb(32);
      return true;
    case 0x42:
      r.skipLeb(64);
      return true;
    case 0x43:
      r.take(4);
      return true;
    case 0x44:
      r.take(8);
      return true;
    case 0xd0:
      blockType(r); // a heap type, encoded like a block type
      return true;
    case 0xfc:
      return prefixedFC(r);
    case 0xfd:
      return prefixedSimd(r);
    case 0xfe: // atomics: every one takes a memarg but atomic.fence, which takes a zero byte
      if (r.u32() === 0x03) r.byte();
      else memarg(r);
      return true;
    default:
      return false;
  }
}

/** Saturating truncation, bulk memory and table instructions. */
function prefixedFC(r: Reader): boolean {
  const op = r.u32();
  if (op <= 7) return true;
  const immediates = [0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 2, 1, 2, 1, 1, 1][op];
  if (immediates === undefined) return false;
  for (let i = 0; i < immediates; i++) r.u32();
  return true;
}

/** SIMD and relaxed SIMD. */
function prefixedSimd(r: Reader): boolean {
  const op = r.u32();
  if (op <= 0x0b || op === 0x5c || op === 0x5d) memarg(r);
  else if (op === 0x0c || op === 0x0d)
    r.take(16); // v128.const, i8x16.shuffle
  else if (op >= 0x15 && op <= 0x22)
    r.byte(); // extract and replace lane
  else if (op >= 0x54 && op <= 0x5b) {
    memarg(r);
    r.byte();
  } else if (op > 0x113) return false;
  return true;
}
