import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface SourceFile {
  /** Path inside the archive, `/`-separated, relative. */
  readonly path: string;
  readonly bytes: Uint8Array;
}

/**
 * `sourceTarball` packs files as a deterministic ustar+gzip: entries sorted by path, every
 * header with the same `mtime` (the package's creation time), mode 0644, uid/gid 0 and no user
 * names; node's gzip writes MTIME 0 and OS 3, so equal inputs give equal bytes, hence digests.
 */
export async function sourceTarball(files: readonly SourceFile[], mtime: Date): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of sorted) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name: f.path, size: f.bytes.length, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime, type: 'file' }, Buffer.from(f.bytes), (e) =>
        e ? reject(e) : resolve(),
      );
    });
  }
  pack.finalize();
  await done;
  return new Uint8Array(gzipSync(Buffer.concat(chunks), { level: 9 }));
}
