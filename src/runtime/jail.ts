/**
 * `Jail` keeps a guest's WASI path calls beneath its `--dir` directories.
 *
 * node:wasi (uvwasi 0.0.x) checks a guest path only as text: it normalizes `a/../b`, refuses a
 * result outside the directory, resolves a symbolic link in the last component itself, and then
 * hands `<host dir>/<rest>` to the kernel, which follows every link in between. A link in the
 * host directory (`etc -> /etc`, `up -> ../../..`) thus led the guest out, as root when ebpm runs
 * as root. Before a path call is passed on, `Jail` computes the host path uvwasi will use (the
 * same normalization, the same fd table) and walks it component by component with lstat,
 * resolving links itself (at most MAX_LINKS), like openat2's RESOLVE_BENEATH: a step that leaves
 * the directory's real path is refused with ENOTCAPABLE, the errno uvwasi gives every other path
 * outside a preopen, so a guest sees one errno for "outside what you were given".
 *
 * Paths are byte strings (latin1: one char per byte), as the guest and the kernel see them.
 * The guest is single-threaded and cannot change the tree between the check and the call; another
 * host process that swaps a checked directory for a link in that window can (README, Security).
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';

/** WASI errno values (wasi_snapshot_preview1 `errno`). */
export const WASI_ELOOP = 32;
export const WASI_ENAMETOOLONG = 37;
export const WASI_ENOTCAPABLE = 76;
/** Longest path the kernel takes (PATH_MAX, with its NUL): longer ones are refused before any work, as the kernel does. */
const PATH_MAX = 4096;
/** Links followed in one path before ELOOP (Linux's limit). */
const MAX_LINKS = 40;
/** Links uvwasi follows in a last component before ELOOP (UVWASI__MAX_SYMLINK_FOLLOWS). */
const UVWASI_MAX_FOLLOWS = 32;

interface Root {
  /** The host directory as given to node:wasi (its fd's "real path"). */
  readonly host: string;
  /** Its real path: where every walk starts and what it must stay beneath. */
  readonly real: string;
}

/** A directory fd as uvwasi holds it: the path it checks guest paths against, and where it is below the root. */
interface DirFd {
  readonly root: Root;
  readonly guest: string;
  readonly rel: readonly string[];
}

/**
 * Whether a call's last component is followed: by uvwasi (the guest's SYMLINK_FOLLOW), and by
 * the kernel (uvwasi's path_open never passes O_NOFOLLOW).
 */
export interface Follow {
  readonly uvwasi: boolean;
  readonly kernel: boolean;
}

export type Checked = { readonly errno: number } | { readonly errno: 0; readonly rel?: readonly string[]; readonly root?: Root };

const latin1 = (utf8: string) => Buffer.from(utf8, 'utf8').toString('latin1');
/** uvwasi's normalization of an absolute path: `.`, `..` and repeated slashes resolved as text, no trailing slash. */
const normalize = (p: string) => posix.normalize(p).replace(/(.)\/+$/, '$1');
const fsPath = (p: string) => Buffer.from(p, 'latin1');

export class Jail {
  private readonly fds = new Map<number, DirFd>();

  /** `preopens`: guest path → host directory (absolute), in the order node:wasi numbers them from fd 3. */
  constructor(preopens: Readonly<Record<string, string>>) {
    let fd = 3;
    for (const [guest, host] of Object.entries(preopens)) {
      const root = { host: latin1(host), real: latin1(realpathSync(host)) };
      this.fds.set(fd++, { root, guest: normalize(latin1(guest)), rel: [] });
    }
  }

  /**
   * Checks `path` (raw bytes from the guest, up to a NUL as uvwasi reads them) relative to
   * directory `fd`. Errno 0 lets the call through; `rel` and `root` then say where it lands, for
   * `opened`. An fd that is no directory the guest holds is let through: uvwasi refuses it
   * (EBADF, ENOTCAPABLE, ENOTDIR).
   */
  check(fd: number, path: Uint8Array, follow: Follow): Checked {
    const dir = this.fds.get(fd);
    if (!dir) return { errno: 0 };
    const nul = path.indexOf(0);
    const length = nul < 0 ? path.length : nul;
    if (length >= PATH_MAX) return { errno: WASI_ENAMETOOLONG };
    let input = Buffer.from(path.buffer, path.byteOffset, length).toString('latin1');
    for (let follows = 0; ; follows++) {
      const rest = this.relative(dir, input);
      if (!rest) return { errno: WASI_ENOTCAPABLE };
      const parts = [...dir.rel, ...rest];
      const walked = walk(dir.root, parts, follow.kernel && !follow.uvwasi);
      if (typeof walked === 'number') return { errno: walked };
      if (!follow.uvwasi) return { errno: 0, rel: parts, root: dir.root };
      // uvwasi follows a link in the last component itself, reading its target as a guest path.
      let target: string;
      try {
        target = readlinkSync(fsPath(walked), { encoding: 'latin1' });
      } catch {
        return { errno: 0, rel: parts, root: dir.root };
      }
      if (follows + 1 >= UVWASI_MAX_FOLLOWS) return { errno: WASI_ELOOP };
      input = target;
    }
  }

  /** Records the fd path_open returned for a path `check` let through. */
  opened(fd: number, at: Checked): void {
    if (!('root' in at) || !at.root || !at.rel) return;
    const host = at.rel.length === 0 ? at.root.host : `${at.root.host}/${at.rel.join('/')}`;
    this.fds.set(fd, { root: at.root, guest: normalize(host), rel: at.rel });
  }

  closed(fd: number): void {
    this.fds.delete(fd);
  }

  renumbered(from: number, to: number): void {
    const dir = this.fds.get(from);
    this.fds.delete(from);
    if (dir) this.fds.set(to, dir);
    else this.fds.delete(to);
  }

  /** uvwasi's normalization: the components below `dir` that `input` names, or undefined outside it. */
  private relative(dir: DirFd, input: string): string[] | undefined {
    const full = normalize(input.startsWith('/') ? input : `${dir.guest}/${input}`);
    if (!full.startsWith(dir.guest)) return undefined;
    const rest = full.slice(dir.guest.length).replace(/^\//, '');
    const parts = rest.split('/').filter((p) => p !== '' && p !== '.');
    return parts[0] === '..' ? undefined : parts;
  }
}

/**
 * Walks `parts` from `root.real` as the kernel would, following every link but the last
 * component's (unless `followLast`). Returns the host path reached, or an errno when a step
 * leaves the root. A component that is missing, unreadable or no directory ends the walk: the
 * kernel stops there too (or creates the last one).
 */
function walk(root: Root, parts: readonly string[], followLast: boolean): string | number {
  const queue = [...parts];
  let cur = root.real;
  let links = 0;
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (cur === root.real) return WASI_ENOTCAPABLE;
      cur = posix.dirname(cur);
      continue;
    }
    const next = cur === '/' ? `/${name}` : `${cur}/${name}`;
    if (queue.length === 0 && !followLast) return next;
    let link: string;
    try {
      if (!lstatSync(fsPath(next)).isSymbolicLink()) {
        cur = next;
        continue;
      }
      link = readlinkSync(fsPath(next), { encoding: 'latin1' });
    } catch {
      return next;
    }
    if (++links > MAX_LINKS) return WASI_ELOOP;
    let target = link.split('/');
    if (link.startsWith('/')) {
      // An absolute link is followed only when it names the root itself, as the user gave it or as its real path.
      const base = [root.real, root.host].find((b) => b === '/' || link === b || link.startsWith(`${b}/`));
      if (base === undefined) return WASI_ENOTCAPABLE;
      target = link.slice(base.length).split('/');
      cur = root.real;
    }
    queue.unshift(...target);
  }
  return cur;
}

/** Real paths `--dir` refuses without `--allow-system-dir`: the whole host, its processes, devices and kernel settings. */
const SYSTEM = ['/proc', '/sys', '/dev'];

/** `systemDir` names what a `--dir` of `real` (a real path) would expose, or undefined for an ordinary directory. */
export function systemDir(real: string): string | undefined {
  if (real === '/') return 'the whole host file system';
  const top = SYSTEM.find((s) => real === s || real.startsWith(`${s}/`));
  if (top === '/proc') return "the host's processes, their memory and environment";
  if (top === '/sys') return "the kernel's settings";
  if (top === '/dev') return "the host's devices";
  return undefined;
}
