/**
 * The minimal kernel BTF of each BPF object (bpf/btf-min.ts), kept for the rest of this boot so
 * a run hands libbpf a few hundred bytes for CO-RE instead of the whole /sys/kernel/btf/vmlinux.
 *
 * One file per object, named by a digest of what its relocations depend on (its `.BTF` and
 * `.BTF.ext`: a Wasm guest rewriting `.rodata` still hits), in a directory named by the boot id
 * (/proc/sys/kernel/random/boot_id), since another kernel may have other types. The directory is
 * `$EBPM_BTF_CACHE`, else /run/ebpm/btf for root, else `$XDG_RUNTIME_DIR/ebpm/btf`, else none
 * (no cache). A file steers relocations, so one is used only when it and its directories are
 * the effective user's own and writable by no one else; files are written whole (temp, rename).
 * A run that missed writes the files at its end (`fill`), never on its way to the first event.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { coreRoots, minimalBtf } from '../bpf/btf-min.js';
import { elfSections } from '../bpf/elf.js';
import { parseObject } from '../bpf/object.js';
import { phase } from '../core/phases.js';
import type { Env } from '../core/paths.js';

/** Bumped whenever `minimalBtf` changes what it keeps, so files of an older ebpm are not used. */
const FORMAT = 'ebpm-min-btf-1';
const VMLINUX = '/sys/kernel/btf/vmlinux';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

export interface BtfCache {
  /**
   * `lookup` is the path of `object`'s minimal BTF made earlier in this boot, or undefined; an
   * object that missed is remembered for `fill`.
   */
  lookup(object: Uint8Array): string | undefined;
  /** `discard` removes a file a load failed with. */
  discard(path: string): void;
  /** `fill` writes the minimal BTF of every object that missed; it never throws. */
  fill(): void;
}

/** `btfCacheBase` is where the per-boot directories are (the module comment); undefined: no cache. */
export function btfCacheBase(env: Env, euid: number | undefined): string | undefined {
  if (env.EBPM_BTF_CACHE) return env.EBPM_BTF_CACHE;
  if (euid === 0) return '/run/ebpm/btf';
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'ebpm', 'btf') : undefined;
}

/**
 * `btfCacheKey` names an object's file: a digest of its `.BTF` and `.BTF.ext`, or undefined for
 * an object without them (or bytes that are not an object).
 */
export function btfCacheKey(object: Uint8Array): string | undefined {
  let btf: Uint8Array | undefined;
  let ext: Uint8Array | undefined;
  try {
    [btf, ext] = elfSections(object, ['.BTF', '.BTF.ext']);
  } catch {
    return undefined; // not an object: its load says so
  }
  if (btf === undefined || ext === undefined) return undefined;
  const h = createHash('sha256').update(`${FORMAT}\0${btf.length}\0`);
  return h.update(btf).update(ext).digest('hex');
}

/**
 * `btfCache` is the cache of this boot for the effective user, or undefined where there is none.
 * `boot` is the boot id, read from the kernel unless given (the start-up snapshot's warm-up
 * gives one of its own: the build machine's is not to be kept).
 */
export function btfCache(env: Env, euid: number | undefined = process.geteuid?.(), boot?: string): BtfCache | undefined {
  const base = btfCacheBase(env, euid);
  if (base === undefined || euid === undefined) return undefined;
  try {
    boot ??= readFileSync(BOOT_ID, 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!/^[0-9a-f-]{36}$/.test(boot)) return undefined;
  const dir = join(base, boot);
  const missed = new Map<string, Uint8Array>();
  // The directory and file are the user's alone, and no one else can move what leads to them.
  const ours = (path: string, kind: 'dir' | 'file') => {
    try {
      const s = lstatSync(path);
      return (kind === 'dir' ? s.isDirectory() : s.isFile()) && s.uid === euid && (s.mode & 0o022) === 0;
    } catch {
      return false;
    }
  };
  const safe = () => ours(base, 'dir') && ours(dir, 'dir') && ancestorsSafe(resolve(base), euid);
  return {
    lookup(object) {
      const key = btfCacheKey(object);
      if (key === undefined) return undefined;
      const path = join(dir, `${key}.btf`);
      if (ours(path, 'file') && safe()) {
        phase('btf-cached');
        return path;
      }
      missed.set(key, object);
      return undefined;
    },
    discard(path) {
      rmSync(path, { force: true });
    },
    fill() {
      if (missed.size === 0) return;
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        if (!safe()) return;
        let kernel: Uint8Array | undefined;
        for (const [key, object] of missed) {
          const roots = coreRoots(parseObject(object));
          if ('refused' in roots) continue;
          kernel ??= readFileSync(VMLINUX);
          const min = minimalBtf(kernel, roots);
          if ('refused' in min) continue;
          const path = join(dir, `${key}.btf`);
          const temp = `${path}.${process.pid}.tmp`;
          try {
            writeFileSync(temp, min.btf, { mode: 0o600, flag: 'wx' });
            renameSync(temp, path);
          } finally {
            rmSync(temp, { force: true });
          }
        }
      } catch {
        // A cache that cannot be written costs the next run its speed, not its result.
      } finally {
        missed.clear();
      }
    },
  };
}

/**
 * `ancestorsSafe`: every directory above `path`, as written and with links resolved, belongs to
 * root or `euid`, and one that others may write is sticky (/tmp), so that no other user can move
 * the cache away and put another in its place; a link on the way is root's or `euid`'s.
 */
function ancestorsSafe(path: string, euid: number): boolean {
  const owned = (uid: number) => uid === 0 || uid === euid;
  const chain = (from: string) => {
    for (let d = from; ; d = dirname(d)) {
      const s = lstatSync(d);
      if (s.isSymbolicLink() ? !owned(s.uid) : !s.isDirectory() || !owned(s.uid) || ((s.mode & 0o022) !== 0 && (s.mode & 0o1000) === 0)) return false;
      if (d === dirname(d)) return true;
    }
  };
  try {
    const written = dirname(path);
    const resolved = realpathSync.native(written);
    // Without a link on the way the two chains are one.
    return chain(written) && (resolved === written || chain(resolved));
  } catch {
    return false;
  }
}

/**
 * `loadCached` opens `object` with `open` (given the BTF path CO-RE is to use: undefined for the
 * kernel's own) and loads it with `load`: against its cached minimal BTF when `cache` has one,
 * and when that load fails, the file is removed and the object opened and loaded again against
 * the kernel's own BTF, whose failure is the one that counts. Every object it gives up is closed.
 */
export function loadCached<T extends { close(): void }>(
  cache: BtfCache | undefined,
  object: Uint8Array,
  open: (btfPath: string | undefined) => T,
  load: (opened: T) => void,
): T {
  const cached = cache?.lookup(object);
  if (cached !== undefined) {
    const o = open(cached);
    try {
      load(o);
      return o;
    } catch {
      o.close();
      cache!.discard(cached);
    }
  }
  const o = open(undefined);
  try {
    load(o);
  } catch (e) {
    o.close();
    throw e;
  }
  return o;
}
