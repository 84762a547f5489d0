/**
 * `--max-memory`: a guest's linear memory may not grow past the limit. Node cannot cap a memory
 * the module defines itself, so the host rewrites the maximum in the module's memory section
 * (core spec §5.3.4 limits: flag bit 0 = has max) before compiling; `memory.grow` past it then
 * returns -1 as the spec requires. The guest sees only that -1 (malloc returns NULL, it aborts or
 * exits), so every `memory.grow` of memory 0 is also routed through an added function that
 * records a grow the limit refused in the exported global GROW_REFUSED: a guest that then traps
 * or exits non-zero ended because of the limit (WASM_MEMORY_LIMIT), and only then.
 */
import { EbpmError } from '../core/errors.js';
import { functionBodies } from '../wasm/code.js';
import { SECTION_ORDER, type WasmModule } from '../wasm/module.js';
import { WASM_PAGE } from './memory-defaults.js';

/** The added export: pages a refused grow asked for in all (i64), 0 while none was refused. */
export const GROW_REFUSED = 'ebpm:grow-refused';
/** Pages a 32-bit memory without a declared maximum can reach. */
const MAX_PAGES_32 = 65536;

function uleb(r: { b: Uint8Array; pos: number }): number {
  let result = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    const byte = r.b[r.pos++];
    if (byte === undefined) throw new EbpmError('WASM_INVALID', 'parse wasm module: unexpected end in a LEB128');
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return result;
  }
  throw new EbpmError('WASM_INVALID', 'parse wasm module: LEB128 too long');
}

function encodeUleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Signed LEB128 of a non-negative integer (an `i64.const` immediate). */
function encodeSleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n % 128;
    n = Math.floor(n / 128);
    if (n === 0 && (byte & 0x40) === 0) return [...out, byte];
    out.push(byte | 0x80);
  }
}

function tooSmall(what: string, needBytes: number, maxBytes: number): EbpmError {
  return new EbpmError(
    'WASM_MEMORY_LIMIT',
    `${what}: the module needs ${needBytes / WASM_PAGE} pages (${needBytes} bytes) at start, over the ${maxBytes} byte limit`,
    {
      hint: `raise --max-memory to at least ${Math.ceil(needBytes / (1 << 20))}M`,
    },
  );
}

/** Bytes to concatenate: slices of the module and small encoded pieces, copied once at the end. */
type Part = Uint8Array | readonly number[];
const partsLength = (parts: readonly Part[]) => parts.reduce((n, p) => n + p.length, 0);

/** A section's id and the `[start, end)` of its contents. */
interface Section {
  readonly id: number;
  readonly start: number;
  readonly end: number;
}

function sections(module: Uint8Array): Section[] {
  const r = { b: module, pos: 8 };
  const out: Section[] = [];
  while (r.pos < module.length) {
    const id = module[r.pos++]!;
    const size = uleb(r);
    out.push({ id, start: r.pos, end: r.pos + size });
    r.pos += size;
  }
  return out;
}

/**
 * `limitMemory` returns the module with every defined memory's maximum lowered to `maxBytes`
 * (rounded down to whole pages) and, where the limit is below what the module allows itself,
 * its grows recorded (see GROW_REFUSED). `parsed` is `parseWasm(module)`, which the caller has already checked.
 */
export function limitMemory(module: Uint8Array, parsed: WasmModule, maxBytes: number, what: string): Uint8Array<ArrayBuffer> {
  const maxPages = Math.floor(maxBytes / WASM_PAGE);
  const list = sections(module);
  const replaced = new Map<number, Part[]>();
  let ownMax: number | undefined;
  const mem = list.find((s) => s.id === 5);
  if (mem !== undefined) {
    const s = { b: module.subarray(0, mem.end), pos: mem.start };
    const count = uleb(s);
    const out = encodeUleb(count);
    for (let i = 0; i < count; i++) {
      const flags = module[s.pos++]!;
      const min = uleb(s);
      const max = flags & 1 ? uleb(s) : Infinity;
      if (min > maxPages) throw tooSmall(what, min * WASM_PAGE, maxBytes);
      // Only a 32-bit memory 0 is hooked: the added function's grow takes an i32.
      if (i === 0 && (flags & 0x04) === 0) ownMax = Math.min(max, MAX_PAGES_32);
      out.push(flags | 1, ...encodeUleb(min), ...encodeUleb(Math.min(max, maxPages)));
    }
    replaced.set(5, [out]);
  }
  if (ownMax !== undefined && maxPages < ownMax) hookGrows(module, parsed, list, replaced, maxPages, ownMax);
  return assemble(module, list, replaced);
}

/**
 * Routes every `memory.grow 0` through an added function `(i32) -> i32` that grows and, when the
 * grow fails asking for more than `maxPages` but no more than the module's own `ownMax`, stores
 * the pages asked for in an added, exported i64 global. Modules that import a memory, already
 * export GROW_REFUSED or use opcodes the scanner does not know are left as they are.
 */
function hookGrows(module: Uint8Array, mod: WasmModule, list: readonly Section[], replaced: Map<number, Part[]>, maxPages: number, ownMax: number): void {
  const code = list.find((s) => s.id === 10);
  if (code === undefined || mod.imports.some((i) => i.kind === 'memory') || mod.exports.some((e) => e.name === GROW_REFUSED)) return;
  const bodies = functionBodies(module, code.start, code.end);
  if (bodies === undefined || bodies.every((b) => b.grows.length === 0)) return;
  const contents = (id: number) => list.find((s) => s.id === id);
  const countOf = (id: number) => {
    const s = contents(id);
    return s === undefined ? 0 : uleb({ b: module.subarray(0, s.end), pos: s.start });
  };
  /** The section's vector with `entry` appended. */
  const append = (id: number, entry: number[]) => {
    const s = contents(id);
    const r = { b: module.subarray(0, s?.end ?? 0), pos: s?.start ?? 0 };
    const count = s === undefined ? 0 : uleb(r);
    replaced.set(id, [encodeUleb(count + 1), module.subarray(r.pos, s?.end ?? 0), entry]);
  };
  const fn = mod.imports.filter((i) => i.kind === 'function').length + bodies.length;
  const global = mod.imports.filter((i) => i.kind === 'global').length + countOf(6);
  const name = [...new TextEncoder().encode(GROW_REFUSED)];
  append(1, [0x60, 1, 0x7f, 1, 0x7f]);
  append(3, encodeUleb(mod.types.length));
  append(6, [0x7e, 0x01, 0x42, 0x00, 0x0b]); // (global (mut i64) (i64.const 0))
  append(7, [...encodeUleb(name.length), ...name, 0x03, ...encodeUleb(global)]);
  // (local i32 i64): 1 = the grow's result, 2 = the pages asked for in all.
  const hook = [
    0x02,
    0x01,
    0x7f,
    0x01,
    0x7e,
    0x20,
    0x00,
    0x40,
    0x00,
    0x22,
    0x01, // local.tee 1 (memory.grow (local.get 0))
    0x41,
    0x7f,
    0x46,
    0x04,
    0x40, // if (i32.eq … -1)
    0x3f,
    0x00,
    0xad,
    0x20,
    0x00,
    0xad,
    0x7c,
    0x22,
    0x02, // local.tee 2 (memory.size + delta, as u64)
    0x42,
    ...encodeSleb(maxPages),
    0x56, // over the limit
    0x20,
    0x02,
    0x42,
    ...encodeSleb(ownMax),
    0x58, // within the module's own maximum
    0x71,
    0x04,
    0x40,
    0x20,
    0x02,
    0x24,
    ...encodeUleb(global),
    0x0b, // both: global.set
    0x0b,
    0x20,
    0x01,
    0x0b,
  ];
  const call = [0x10, ...encodeUleb(fn)];
  const out: Part[] = [encodeUleb(bodies.length + 1)];
  for (const b of bodies) {
    out.push(encodeUleb(b.end - b.start + b.grows.length * (call.length - 2)));
    let at = b.start;
    for (const g of b.grows) {
      out.push(module.subarray(at, g), call);
      at = g + 2; // memory.grow 0x00
    }
    out.push(module.subarray(at, b.end));
  }
  out.push(encodeUleb(hook.length), hook);
  replaced.set(10, out);
}

/** The module with the `replaced` sections' contents; sections it lacked go where the order wants them. */
function assemble(module: Uint8Array, list: readonly Section[], replaced: ReadonlyMap<number, Part[]>): Uint8Array<ArrayBuffer> {
  const rank = (id: number) => SECTION_ORDER[id]!;
  const fresh = [...replaced.keys()].filter((id) => !list.some((s) => s.id === id)).sort((a, b) => rank(a) - rank(b));
  const parts: Part[] = [module.subarray(0, 8)];
  const emit = (id: number, body: Part[]) => parts.push([id, ...encodeUleb(partsLength(body))], ...body);
  let headerAt = 8;
  for (const s of list) {
    while (s.id !== 0 && fresh.length > 0 && rank(fresh[0]!) < rank(s.id)) emit(fresh[0]!, replaced.get(fresh.shift()!)!);
    const body = replaced.get(s.id);
    if (body === undefined) parts.push(module.subarray(headerAt, s.end));
    else emit(s.id, body);
    headerAt = s.end;
  }
  for (const id of fresh) emit(id, replaced.get(id)!);
  const result = new Uint8Array(partsLength(parts));
  let at = 0;
  for (const p of parts) {
    result.set(p, at);
    at += p.length;
  }
  return result;
}

/** `refusedGrow` is the size in bytes of the last grow the limit refused the instance, if any. */
export function refusedGrow(instance: WebAssembly.Instance | undefined): number | undefined {
  const g = instance?.exports[GROW_REFUSED];
  return g instanceof WebAssembly.Global && typeof g.value === 'bigint' && g.value > 0n ? Number(g.value) * WASM_PAGE : undefined;
}
