/**
 * A cpio archive in the "newc" format, the one the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII
 * header of 8-digit hex fields, the NUL-terminated name, padding to 4 bytes, the data, padding
 * to 4 bytes; the archive ends with an entry named `TRAILER!!!`.
 */

/**
 * One entry: a directory, a regular file with its bytes, a symbolic link to `target`, or a
 * character device (the initramfs needs /dev/console before anything can mount devtmpfs).
 */
export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'char'; readonly path: string; readonly major: number; readonly minor: number; readonly mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** A directory's link count counts its `.`. */
const linkCount = (mode: number) => ((mode & 0o170000) === S_IFDIR ? 2 : 1);
const hex = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** `newc` writes `entries`, in order (a directory before what it holds), as one archive. */
export function newc(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  const add = (path: string, mode: number, data: Uint8Array, ino: number, rdev: [number, number] = [0, 0]) => {
    const name = encoder.encode(`${path}\0`);
    // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    const fields = [ino, mode, 0, 0, linkCount(mode), 0, data.length, 0, 0, ...rdev, name.length, 0];
    const header = encoder.encode(`070701${fields.map(hex).join('')}`);
    parts.push(header, name, new Uint8Array(pad4(header.length + name.length)), data, new Uint8Array(pad4(data.length)));
  };
  for (const [i, e] of entries.entries()) {
    const path = e.path.replace(/^\/+/, '');
    switch (e.kind) {
      case 'dir':
        add(path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(), i + 1);
        break;
      case 'file':
        add(path, S_IFREG | (e.mode ?? 0o644), e.data, i + 1);
        break;
      case 'symlink':
        add(path, S_IFLNK | 0o777, encoder.encode(e.target), i + 1);
        break;
      case 'char':
        add(path, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(), i + 1, [e.major, e.minor]);
        break;
      default:
        throw new Error(`cpio: unknown entry ${JSON.stringify(e satisfies never)}`);
    }
  }
  add('TRAILER!!!', 0, new Uint8Array(), 0);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
