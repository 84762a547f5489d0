/**
 * Checked access to a guest's linear memory. Every (pointer, length) a guest hands the host is
 * checked against `memory.buffer.byteLength` *before* a view is made (STYLE.md: "The Wasm
 * boundary is hostile"), and views are never cached: `memory.grow` detaches old buffers.
 */

/** `GuestFault` is a bad pointer or length from the guest; the import returns -EFAULT. */
export class GuestFault extends Error {
  override readonly name = 'GuestFault';
}

const MAX_STRING = 4096;

/** `guestPointer` turns an i32 (signed in JS) or i64 (BigInt) argument into a wasm32 address. */
export function guestPointer(x: number | bigint): number {
  if (typeof x === 'bigint') {
    if (x < 0n || x > 0xffffffffn) throw new GuestFault(`pointer 0x${x.toString(16)} is outside wasm32 memory`);
    return Number(x);
  }
  return x >>> 0;
}

export class GuestMemory {
  constructor(private readonly memory: () => WebAssembly.Memory) {}

  get byteLength(): number {
    return this.memory().buffer.byteLength;
  }

  /** A live view of [ptr, ptr + len); throws GuestFault when any byte is outside memory. */
  view(ptr: number, len: number): Uint8Array {
    const size = this.byteLength;
    if (!Number.isInteger(len) || len < 0 || ptr > size || len > size - ptr) {
      throw new GuestFault(`range [0x${ptr.toString(16)}, +${len}) is outside guest memory (${size} bytes)`);
    }
    return new Uint8Array(this.memory().buffer, ptr, len);
  }

  /** A copy of [ptr, ptr + len), so later guest writes cannot change what the host uses. */
  read(ptr: number, len: number): Uint8Array {
    return this.view(ptr, len).slice();
  }

  write(ptr: number, bytes: Uint8Array): void {
    this.view(ptr, bytes.length).set(bytes);
  }

  /** A NUL-terminated UTF-8 string of at most `max` bytes starting at `ptr`. */
  cString(ptr: number, max = MAX_STRING): string {
    const size = this.byteLength;
    if (ptr >= size) throw new GuestFault(`string pointer 0x${ptr.toString(16)} is outside guest memory (${size} bytes)`);
    const window = this.view(ptr, Math.min(max + 1, size - ptr));
    const end = window.indexOf(0);
    if (end < 0) throw new GuestFault(`string at 0x${ptr.toString(16)} has no NUL within ${Math.min(max, window.length)} bytes`);
    return new TextDecoder().decode(window.subarray(0, end));
  }

  /** Little-endian integer access for the WASI structures the host fills in. */
  u32(ptr: number): number {
    const v = this.view(ptr, 4);
    return new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
  }

  setU32(ptr: number, value: number): void {
    const v = this.view(ptr, 4);
    new DataView(v.buffer, v.byteOffset, 4).setUint32(0, value, true);
  }
}
