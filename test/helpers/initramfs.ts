/**
 * `initramfs` packs a directory tree into a gzip'd newc cpio archive, the format the kernel
 * unpacks as its initial root (Documentation/driver-api/early-userspace/buffer-format.rst):
 * regular files, directories and symbolic links, owned by root, in a sorted walk so the same
 * tree gives the same bytes. `extra` adds files (path → bytes and mode) on top of the tree.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

interface Entry {
  readonly path: string;
  readonly mode: number;
  readonly data: Uint8Array;
}

export function initramfs(root: string, extra: ReadonlyMap<string, { bytes: Uint8Array; mode: number }> = new Map()): Buffer {
  const entries = new Map<string, Entry>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      if (st.isDirectory()) {
        entries.set(path, { path, mode: S_IFDIR | 0o755, data: new Uint8Array() });
        walk(path);
      } else if (st.isSymbolicLink()) entries.set(path, { path, mode: S_IFLNK | 0o777, data: Buffer.from(readlinkSync(join(root, path))) });
      else if (st.isFile()) entries.set(path, { path, mode: S_IFREG | (st.mode & 0o777), data: readFileSync(join(root, path)) });
    }
  };
  walk('');
  for (const [path, f] of extra) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!entries.has(dir)) entries.set(dir, { path: dir, mode: S_IFDIR | 0o755, data: new Uint8Array() });
    }
    entries.set(path, { path, mode: S_IFREG | f.mode, data: f.bytes });
  }
  const chunks: Buffer[] = [];
  let ino = 1;
  const add = (e: Entry) => {
    const name = Buffer.from(`${e.path}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, e.data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((n) => n.toString(16).padStart(8, '0')).join('')}`);
    chunks.push(header, name, Buffer.alloc(pad(header.length + name.length)), Buffer.from(e.data), Buffer.alloc(pad(e.data.length)));
  };
  for (const e of [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) add(e);
  add({ path: 'TRAILER!!!', mode: 0, data: new Uint8Array() });
  return gzipSync(Buffer.concat(chunks));
}

/** Bytes that pad `n` up to a multiple of 4. */
function pad(n: number): number {
  return (4 - (n % 4)) % 4;
}
