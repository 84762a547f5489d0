/**
 * `BpfMap`: element access to one map of a loaded object. Key and value sizes come from the
 * kernel (`BPF_OBJ_GET_INFO_BY_FD`) once, at construction, and every call is checked against
 * them before the addon (which checks again) sees it, as aya's `check_kv_size` does.
 */
import { EbpmError } from '../core/errors.js';
import { nativeError } from './loader-errors.js';
import type { BpfNative, KernelMapInfo } from './native.js';

/** `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST` (include/uapi/linux/bpf.h); numbers pass through. */
export type UpdateFlag = 'any' | 'noexist' | 'exist' | number | bigint;
const UPDATE_FLAGS = { any: 0, noexist: 1, exist: 2 } as const;

/** Entries fetched per `BPF_MAP_LOOKUP_BATCH` call. */
const BATCH = 256;

export class BpfMap {
  readonly name: string;
  /** libbpf's type name: `hash`, `percpu_array`, `ringbuf`, `perf_event_array`… */
  readonly type: string;
  readonly keySize: number;
  /** Bytes of one value as the syscalls see it: value size × possible CPUs for per-CPU maps. */
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly fd: number;
  #native: BpfNative;
  #isOpen: () => boolean;
  #batch = true;

  /** Made by `BpfObject.map`; `isOpen` reports whether the owning object is still open. */
  constructor(native: BpfNative, fd: number, isOpen: () => boolean) {
    this.#native = native;
    this.#isOpen = isOpen;
    let info: KernelMapInfo;
    try {
      info = native.mapInfo(fd);
    } catch (e) {
      throw nativeError(e, `map fd ${fd}`);
    }
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueBytes;
    this.maxEntries = info.maxEntries;
    this.fd = fd;
  }

  /** The value under `key`, or undefined when absent. */
  lookup(key: Uint8Array, flags: number | bigint = 0): Uint8Array | undefined {
    this.#check('key', key, this.keySize);
    return this.#call('lookup', () => this.#native.mapLookup(this.fd, key, Number(flags))) ?? undefined;
  }

  update(key: Uint8Array, value: Uint8Array, flag: UpdateFlag = 'any'): void {
    this.#check('key', key, this.keySize);
    this.#check('value', value, this.valueSize);
    const flags = typeof flag === 'string' ? UPDATE_FLAGS[flag] : Number(flag);
    this.#call('update', () => this.#native.mapUpdate(this.fd, key, value, flags));
  }

  /** Deletes `key`; false when it was absent. */
  delete(key: Uint8Array, flags: number | bigint = 0): boolean {
    this.#check('key', key, this.keySize);
    return this.#call('delete', () => this.#native.mapDelete(this.fd, key, Number(flags)));
  }

  /** The key after `key` (the first when undefined), or undefined at the end. */
  nextKey(key?: Uint8Array): Uint8Array | undefined {
    if (key) this.#check('key', key, this.keySize);
    else this.#checkOpen();
    return this.#call('next key', () => this.#native.mapNextKey(this.fd, key ?? null)) ?? undefined;
  }

  /** Every key, by `BPF_MAP_GET_NEXT_KEY`. A map changing meanwhile may repeat or skip keys. */
  *keys(): Generator<Uint8Array> {
    for (let k = this.nextKey(); k; k = this.nextKey(k)) yield k;
  }

  /**
   * Every entry: by `BPF_MAP_LOOKUP_BATCH` (5.6+, hash and array maps) when the kernel has it
   * for this map, else key by key.
   */
  *entries(): Generator<[key: Uint8Array, value: Uint8Array]> {
    if (this.#batch) {
      const first = this.#lookupBatch(null);
      if (first) {
        for (let b: typeof first | undefined = first; b; b = b.cursor ? this.#lookupBatch(b.cursor) : undefined) {
          for (let i = 0; i < b.count; i++) {
            yield [b.keys.subarray(i * this.keySize, (i + 1) * this.keySize), b.values.subarray(i * this.valueSize, (i + 1) * this.valueSize)];
          }
        }
        return;
      }
      this.#batch = false;
    }
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  /** One batch, or undefined when this map type or kernel has no batch lookup. */
  #lookupBatch(cursor: Uint8Array | null): ReturnType<BpfNative['mapLookupBatch']> | undefined {
    this.#checkOpen();
    try {
      return this.#native.mapLookupBatch(this.fd, cursor, Math.max(1, Math.min(BATCH, this.maxEntries)));
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (cursor === null && (code === 'EINVAL' || code === 'ENOTSUPP' || code === 'ENOTSUP')) return undefined;
      throw nativeError(e, `map ${this.name}: lookup batch`);
    }
  }

  #checkOpen(): void {
    if (!this.#isOpen()) throw new EbpmError('CLOSED', `map ${this.name}: its object is closed`);
  }

  #check(what: string, bytes: Uint8Array, want: number): void {
    this.#checkOpen();
    if (!(bytes instanceof Uint8Array)) throw new EbpmError('MAP_SIZE_MISMATCH', `map ${this.name}: ${what} must be a Uint8Array`);
    if (bytes.length !== want) {
      throw new EbpmError('MAP_SIZE_MISMATCH', `map ${this.name}: ${what} has ${bytes.length} bytes, map wants ${want}`, {
        hint: 'encode keys and values with the layout the map was declared with',
        data: { map: this.name, what, got: bytes.length, want },
      });
    }
  }

  #call<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw nativeError(e, `map ${this.name}: ${op}`);
    }
  }
}
