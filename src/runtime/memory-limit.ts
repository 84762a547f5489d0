/**
 * `--max-memory`: a guest's linear memory may not grow past the limit. Node cannot cap a memory
 * the module defines itself, so the host rewrites the maximum in the module's memory section
 * (core spec §5.3.4 limits: flag bit 0 = has max) before compiling; `memory.grow` past it then
 * returns -1 as the spec requires, and a guest that cannot cope ends with WASM_MEMORY_LIMIT.
 */
import { EbpmError } from '../core/errors.js';

export const WASM_PAGE = 65536;
/** Default `--max-memory`: ample for wasm-bpf guests (WAMR gives them 1 MiB heap + 1 MiB stack). */
export const DEFAULT_MAX_MEMORY = 128 << 20;

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

function tooSmall(what: string, needBytes: number, maxBytes: number): EbpmError {
  return new EbpmError('WASM_MEMORY_LIMIT', `${what}: the module needs ${needBytes / WASM_PAGE} pages (${needBytes} bytes) at start, over the ${maxBytes} byte limit`, {
    hint: `raise --max-memory to at least ${Math.ceil(needBytes / (1 << 20))}M`,
  });
}

/**
 * `limitMemory` returns the module with every defined memory's maximum lowered to `maxBytes`
 * (rounded down to whole pages). The module must already have passed `parseWasm`.
 */
export function limitMemory(module: Uint8Array, maxBytes: number, what: string): Uint8Array {
  const maxPages = Math.floor(maxBytes / WASM_PAGE);
  const r = { b: module, pos: 8 };
  const parts: Uint8Array[] = [module.subarray(0, 8)];
  while (r.pos < module.length) {
    const start = r.pos;
    const id = module[r.pos++]!;
    const size = uleb(r);
    const body = r.pos;
    r.pos += size;
    if (id !== 5) {
      parts.push(module.subarray(start, r.pos));
      continue;
    }
    const s = { b: module.subarray(0, r.pos), pos: body };
    const out: number[] = [];
    const count = uleb(s);
    out.push(...encodeUleb(count));
    for (let i = 0; i < count; i++) {
      const flags = module[s.pos++]!;
      const min = uleb(s);
      const max = flags & 1 ? uleb(s) : Infinity;
      if (min > maxPages) throw tooSmall(what, min * WASM_PAGE, maxBytes);
      out.push(flags | 1, ...encodeUleb(min), ...encodeUleb(Math.min(max, maxPages)));
    }
    parts.push(Uint8Array.of(5, ...encodeUleb(out.length), ...out));
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const result = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    result.set(p, at);
    at += p.length;
  }
  return result;
}
