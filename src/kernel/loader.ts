/**
 * The explicit lifecycle of a BPF object over the addon, in the order of libbpf-bootstrap's
 * bootstrap.c: open → configure (globals, program selection) → load (verify) → attach → use
 * (maps, events) → close in reverse. Every native handle is owned by an object with `close()`
 * and `[Symbol.dispose]`; closing the `BpfObject` closes its readers and links first.
 */
import { EbpmError } from '../core/errors.js';
import { EventReader } from './events.js';
import { hasKprobes } from './features.js';
import { attachError, loadError, nativeError } from './loader-errors.js';
import { BpfMap } from './loader-map.js';
import { resolveTarget, type AttachTarget } from './loader-targets.js';
import { loadNative, LOG_LEVELS, type BpfNative, type LinkHandle, type LogLevel, type ObjectHandle, type ObjectMapInfo, type ProgramInfo } from './native.js';
import { isEventMapType } from '../bpf/event-maps.js';

export { BpfMap, type UpdateFlag } from './loader-map.js';
export { EventReader, parseBatch, type EventBatch } from './events.js';
export type { ObjectMapInfo, ProgramInfo } from './native.js';
export type { AttachTarget } from './loader-targets.js';

export interface OpenOptions {
  /** Object name (libbpf prefixes internal map names with it); sanitised to [A-Za-z0-9_]. */
  readonly name: string;
  /** BTF of the target kernel for CO-RE, when /sys/kernel/btf/vmlinux is missing or wrong. */
  readonly btfPath?: string | undefined;
  /** The addon; tests pass a fake. */
  readonly native?: BpfNative | undefined;
}

/** `setBpfLog` routes libbpf's messages at or above `level` to `logger` (null: keep them quiet). */
export function setBpfLog(logger: ((level: LogLevel, message: string) => void) | null, level: LogLevel = 'warn', native: BpfNative = loadNative()): void {
  native.setLogger(logger, LOG_LEVELS[level]);
}

/** `BpfLink` is one attachment; `close()` detaches it. */
export class BpfLink implements Disposable {
  #native: BpfNative;
  #handle: LinkHandle;
  #onClose: () => void;
  #closed = false;

  constructor(
    native: BpfNative,
    handle: LinkHandle,
    readonly program: string,
    onClose: () => void,
  ) {
    this.#native = native;
    this.#handle = handle;
    this.#onClose = onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Detaches; harmless twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.linkDestroy(this.#handle);
    this.#onClose();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

type Phase = 'opened' | 'loaded' | 'failed' | 'closed';

export class BpfObject implements Disposable {
  readonly name: string;
  readonly #native: BpfNative;
  readonly #handle: ObjectHandle;
  readonly #btfPath: string | undefined;
  #phase: Phase = 'opened';
  /** Links and readers in creation order, closed in reverse. */
  readonly #owned = new Set<BpfLink | EventReader>();
  readonly #maps = new Map<string, BpfMap>();

  private constructor(native: BpfNative, handle: ObjectHandle, name: string, btfPath: string | undefined) {
    this.#native = native;
    this.#handle = handle;
    this.name = name;
    this.#btfPath = btfPath;
  }

  /** Parses `bytes` with libbpf (`bpf_object__open_mem`); nothing reaches the kernel yet. */
  static open(bytes: Uint8Array, opts: OpenOptions): BpfObject {
    const native = opts.native ?? loadNative();
    const name = opts.name.replace(/[^A-Za-z0-9_]/g, '_') || 'obj';
    try {
      return new BpfObject(native, native.objectOpen(bytes, name, opts.btfPath ?? null), name, opts.btfPath);
    } catch (e) {
      const err = nativeError(e, `open ${name}`);
      if (err.code !== 'KERNEL_ERROR') throw err;
      throw new EbpmError('BAD_OBJECT', err.message, { cause: e, hint: 'build it with `clang -target bpf -g -O2` (BTF is required)', data: { ...err.data } });
    }
  }

  get loaded(): boolean {
    return this.#phase === 'loaded';
  }

  get closed(): boolean {
    return this.#phase === 'closed';
  }

  programs(): ProgramInfo[] {
    this.#check('list programs');
    return this.#native.objectPrograms(this.#handle);
  }

  maps(): ObjectMapInfo[] {
    this.#check('list maps');
    return this.#native.objectMaps(this.#handle);
  }

  /** A copy of a global data section's initial bytes (`.rodata`, `.bss`, `.data`). */
  global(section: string): Uint8Array {
    this.#check(`read ${section}`);
    return this.#do(`read ${section}`, () => this.#native.objectGlobal(this.#handle, section));
  }

  /** Replaces a global data section's initial bytes (same length); before `load()` only. */
  setGlobal(section: string, bytes: Uint8Array): void {
    this.#check(`set ${section}`, 'opened');
    const size = this.global(section).length;
    if (bytes.length !== size) {
      throw new EbpmError('GLOBAL_SIZE_MISMATCH', `${this.name}: set ${section}: has ${size} bytes, got ${bytes.length}`, {
        hint: 'start from global(section) and patch the variables at their offsets',
        data: { section, want: size, got: bytes.length },
      });
    }
    this.#do(`set ${section}`, () => this.#native.objectSetGlobal(this.#handle, section, bytes));
  }

  /** Loads only the named programs (others stay unloaded); before `load()` only. */
  selectPrograms(names: readonly string[]): void {
    this.#check('select programs', 'opened');
    const all = this.programs().map((p) => p.name);
    const unknown = names.filter((n) => !all.includes(n));
    if (unknown.length > 0) {
      throw new EbpmError('NO_SUCH_PROGRAM', `${this.name}: select programs: no program ${unknown.join(', ')}`, { hint: `programs: ${all.join(', ')}` });
    }
    for (const p of all) this.#do(`select ${p}`, () => this.#native.programSetAutoload(this.#handle, p, names.includes(p)));
  }

  /**
   * Sizes map `name` as user space does before load (`bpf_map__set_max_entries`,
   * `bpf_map__set_value_size`); an omitted size is kept.
   */
  setMapSize(name: string, size: { readonly maxEntries?: number; readonly valueSize?: number }): void {
    this.#check(`size map ${name}`, 'opened');
    this.#do(`size map ${name}`, () => this.#native.objectSetMapSize(this.#handle, name, size.maxEntries ?? 0, size.valueSize ?? 0));
  }

  /** Relocates (CO-RE) and loads maps and programs: the verifier runs here. */
  load(): void {
    this.#check('load', 'opened');
    const ctx = { object: this.name, programs: this.programs(), maps: this.maps(), btfPath: this.#btfPath, root: process.geteuid?.() === 0 };
    try {
      this.#native.objectLoad(this.#handle);
    } catch (e) {
      this.#phase = 'failed';
      throw loadError(e, ctx);
    }
    this.#phase = 'loaded';
  }

  /**
   * Attaches `program`: by its section when `target` is undefined, else to the target (an
   * interface that does not exist is `ATTACH_TARGET_NOT_FOUND`).
   */
  attach(program: string, target?: AttachTarget): BpfLink {
    this.#check(`attach ${program}`, 'loaded');
    const info = this.programs().find((p) => p.name === program);
    if (!info) throw new EbpmError('NO_SUCH_PROGRAM', `${this.name}: attach ${program}: no such program`);
    if (info.fd < 0) throw new EbpmError('NOT_LOADED', `${this.name}: attach ${program}: program was not selected for loading`);
    const resolved = target === undefined ? null : resolveTarget(target, `attach ${program}`);
    let handle: LinkHandle;
    try {
      handle = this.#native.programAttach(this.#handle, program, resolved);
    } catch (e) {
      throw attachError(e, info, target, { kprobes: hasKprobes() });
    }
    const link: BpfLink = new BpfLink(this.#native, handle, program, () => this.#owned.delete(link));
    this.#owned.add(link);
    return link;
  }

  /**
   * Attaches every loaded program, as a skeleton's `__attach()` does: to its target in
   * `targets` (by program name), else by its section. A failure detaches what was attached.
   */
  attachAll(targets: ReadonlyMap<string, AttachTarget> = new Map()): BpfLink[] {
    const links: BpfLink[] = [];
    try {
      for (const p of this.programs()) if (p.fd >= 0) links.push(this.attach(p.name, targets.get(p.name)));
    } catch (e) {
      for (const l of links.reverse()) l.close();
      throw e;
    }
    return links;
  }

  /** The loaded map `name` (for globals, the internal name: `<object>.rodata`). */
  map(name: string): BpfMap {
    this.#check(`map ${name}`, 'loaded');
    const cached = this.#maps.get(name);
    if (cached) return cached;
    const info = this.maps().find((m) => m.name === name);
    if (!info) {
      throw new EbpmError('NO_SUCH_MAP', `${this.name}: map ${name}: no such map`, {
        hint: `maps: ${this.maps()
          .map((m) => m.name)
          .join(', ')}`,
      });
    }
    const map = new BpfMap(this.#native, info.fd, () => this.#phase === 'loaded');
    this.#maps.set(name, map);
    return map;
  }

  /** A reader of the ring buffer or perf event array `name` (`perfPages` per CPU, default 64). */
  events(name: string, opts: { readonly perfPages?: number } = {}): EventReader {
    const map = this.map(name);
    if (!isEventMapType(map.type)) {
      throw new EbpmError('NOT_AN_EVENT_MAP', `${this.name}: events ${name}: map type ${map.type} is not ringbuf or perf_event_array`);
    }
    const handle = this.#do(`events ${name}`, () => this.#native.readerOpen(map.fd, opts.perfPages ?? null));
    const reader: EventReader = new EventReader(this.#native, handle, name, () => this.#owned.delete(reader));
    this.#owned.add(reader);
    return reader;
  }

  /** Closes readers and links (newest first), then the object. Harmless twice. */
  close(): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    for (const r of [...this.#owned].reverse()) r.close();
    this.#native.objectClose(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(what: string, phase?: Phase): void {
    if (this.#phase === 'closed') throw new EbpmError('CLOSED', `${this.name}: ${what}: object is closed`);
    if (phase && this.#phase !== phase) {
      const why = this.#phase === 'failed' ? 'its load failed' : this.#phase === 'loaded' ? 'already loaded' : 'not loaded yet';
      throw new EbpmError('WRONG_PHASE', `${this.name}: ${what}: ${why}`, { hint: 'open → setGlobal/selectPrograms → load → attach/map/events → close' });
    }
  }

  #do<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const err = nativeError(e, `${this.name}: ${what}`);
      throw (e as { code?: unknown }).code === 'ENOENT' ? new EbpmError('NOT_FOUND', err.message, { cause: e }) : err;
    }
  }
}
