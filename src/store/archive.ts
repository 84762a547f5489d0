import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, mkdtemp, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { digestProblem } from '../core/digest.js';
import { EbpmError, isEbpmError, withContext } from '../core/errors.js';
import { canonicalJson } from '../core/json.js';
import { ANNOTATION_EBPM_PULLED_AT, ANNOTATION_EBPM_SOURCE, ANNOTATION_REF_NAME, MAX_MANIFEST_BYTES, type Descriptor } from '../core/oci.js';
import { copyGraph } from '../content/copy.js';
import { canListReferrers, checkRef, type ReadOnlyTarget } from '../content/storage.js';
import { verifyContent } from '../content/verify.js';
import { diskError } from './disk.js';
import { BLOBS_DIR, INDEX_FILE, LAYOUT_FILE, OciLayout, tagConflict } from './layout.js';

/*
 * `ebpm export` / `ebpm import`: an OCI image layout as a tar (the form `docker save`-style tools
 * and skopeo's `oci-archive:` read). Both go through `copyGraph`, the one copy routine.
 */

/** Fixed metadata makes the same content give the same archive bytes. */
const EPOCH = new Date(0);
const DIR_MODE = 0o755;
type TarHeader = Parameters<tar.Pack['entry']>[0];
const FILE_MODE = 0o644;

/** `ArchiveEntry` is one tagged manifest carried by an archive. */
export interface ArchiveEntry {
  ref: string;
  descriptor: Descriptor;
}

/**
 * `exportArchive` copies `refs` (each with its referrers, when `src` can list them) from `src`
 * into a temporary layout and writes it to `to` as a deterministic tar: sorted entries, fixed
 * mtimes, owners and modes, ebpm's local `dev.ebpm.*` annotations left out. A file `to` appears
 * whole or not at all; a stream (`ebpm export <ref> -`: stdout) is written to and left open,
 * and a reader of a tar cut short by a failure finds it truncated (`importArchive` refuses it).
 */
export async function exportArchive(
  src: ReadOnlyTarget,
  refs: readonly string[],
  to: string | NodeJS.WritableStream,
  signal?: AbortSignal,
): Promise<ArchiveEntry[]> {
  const work = await mkdtemp(join(tmpdir(), 'ebpm-export-'));
  try {
    const layout = await OciLayout.open(work);
    const entries: ArchiveEntry[] = [];
    for (const ref of [...new Set(refs)].sort()) {
      const root = await src.resolve(ref, signal);
      await copyGraph(src, layout, root, { referrers: canListReferrers(src), ...(signal === undefined ? {} : { signal }) });
      const descriptor = withoutLocal(root);
      await layout.tag(descriptor, ref);
      entries.push({ ref, descriptor });
    }
    if (typeof to !== 'string') await writeTar(layout, to);
    else
      await writeTarFile(layout, to).catch((e: unknown) => {
        throw diskError(e, dirname(to));
      });
    return entries;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `ImportOptions` configure `importArchive`. */
export interface ImportOptions {
  /** Move tags the store already has to the archive's content (else `TAG_EXISTS`). */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  /** The archive's bytes (`ebpm import -`: stdin), read instead of opening the file, which then only names it in messages. */
  readonly input?: Readable;
}

/**
 * `importArchive` reads a tar written by `exportArchive` (or any OCI layout tar) into `dst`, all
 * or nothing. It unpacks into a scratch directory of the store (`tempDir`: a killed import's
 * copy goes with the next write), refusing anything but the layout's own files
 * (`ARCHIVE_UNSAFE`: `..`, absolute paths, links, devices, stray names), blobs whose bytes do
 * not match their name, a truncated tar, bad tag names and incomplete graphs
 * (`ARCHIVE_INVALID`); only then does it copy the blobs and set every tag in one index update,
 * refusing (`TAG_EXISTS`) to move a tag to other content unless `force`.
 */
export async function importArchive(file: string, dst: OciLayout, opts: ImportOptions = {}): Promise<ArchiveEntry[]> {
  const work = await dst.tempDir();
  try {
    return await importFrom(file, work, dst, opts);
  } catch (e) {
    throw isCodeOf(e, ['ARCHIVE_UNSAFE', 'ARCHIVE_INVALID', 'ARCHIVE_UNREADABLE']) ? e : withContext(`import ${file}`, diskError(e, dst.root));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function importFrom(file: string, work: string, dst: OciLayout, opts: ImportOptions): Promise<ArchiveEntry[]> {
  await unpack(file, work, opts.input);
  let layout: OciLayout;
  try {
    layout = await OciLayout.open(work, { create: false });
  } catch (e) {
    throw archiveInvalid(file, isEbpmError(e) ? e.message.replace(`${work}: `, '') : String(e), e);
  }
  const manifests = (await layout.readIndex()).manifests;
  const entries: ArchiveEntry[] = [];
  for (const d of manifests) {
    const missing = await layout.missingFrom(d);
    if (missing !== undefined) throw archiveInvalid(file, `${d.digest}: ${missing.digest} is missing`);
    const ref = d.annotations?.[ANNOTATION_REF_NAME];
    if (ref === undefined) continue;
    try {
      checkRef(ref);
    } catch (e) {
      throw archiveInvalid(file, (e as Error).message, e);
    }
    entries.push({ ref, descriptor: d });
  }
  // Refused before any copying; `tagAll` checks again under the store lock.
  const refused = opts.force ? undefined : tagConflict((await dst.readIndex()).manifests, entries);
  if (refused !== undefined) throw refused;
  for (const d of manifests) await copyGraph(layout, dst, d, opts.signal === undefined ? {} : { signal: opts.signal });
  await dst.tagAll(entries, { move: opts.force ?? false });
  return entries;
}

/** `writeTarFile` writes the tar beside `file`, fsyncs it and renames it into place, so that `file` is whole or absent. */
async function writeTarFile(layout: OciLayout, file: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const out = createWriteStream(tmp, { flags: 'wx', mode: FILE_MODE });
  try {
    await writeTar(layout, out);
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(resolve);
    });
    const fh = await open(tmp, 'r');
    await fh.sync().finally(() => fh.close());
    await rename(tmp, file);
  } catch (e) {
    out.destroy();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** `writeTar` writes the layout to `out` as a tar and resolves once `out` has taken it all; it leaves `out` open. */
async function writeTar(layout: OciLayout, out: NodeJS.WritableStream): Promise<void> {
  const index = await layout.readIndex();
  // Referrer entries arrive in completion order: sort tagged entries by ref, then the rest by digest.
  const key = (d: Descriptor): string => (d.annotations?.[ANNOTATION_REF_NAME] !== undefined ? `0${d.annotations[ANNOTATION_REF_NAME]}` : `1${d.digest}`);
  const manifests = [...index.manifests].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  const indexText = canonicalJson({ ...index, manifests });
  const blobs: { name: string; path: string; size: number }[] = [];
  for (const alg of (await readdir(join(layout.root, BLOBS_DIR))).sort()) {
    for (const enc of (await readdir(join(layout.root, BLOBS_DIR, alg))).sort()) {
      const path = join(layout.root, BLOBS_DIR, alg, enc);
      blobs.push({ name: `${BLOBS_DIR}/${alg}/${enc}`, path, size: (await stat(path)).size });
    }
  }
  const pack = tar.pack();
  // `out` is written to by hand, not piped: a stream's pipe would end stdout with the tar.
  const written = (async () => {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) if (!out.write(chunk)) await drained(out);
    // An empty write's callback comes once `out` has taken every byte before it.
    await new Promise<void>((resolve, reject) => out.write('', (e) => (e ? reject(e) : resolve())));
  })();
  // A failed write (a full disk, a reader gone) ends the entry being added too: see addFile.
  const onError = (e: Error) => pack.destroy(e);
  out.on('error', onError);
  // Awaited once everything is added; until then a failure must not count as unhandled.
  written.catch(() => undefined);
  const header = (name: string, type: 'file' | 'directory', size = 0): TarHeader => ({
    name,
    type,
    size,
    mode: type === 'file' ? FILE_MODE : DIR_MODE,
    mtime: EPOCH,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
  });
  try {
    const dirs = [...new Set(blobs.map((b) => dirname(b.name)))].sort();
    pack.entry(header(`${BLOBS_DIR}/`, 'directory'));
    for (const d of dirs) pack.entry(header(`${d}/`, 'directory'));
    for (const b of blobs) await addFile(pack, header(b.name, 'file', b.size), b.path);
    pack.entry(header(INDEX_FILE, 'file', Buffer.byteLength(indexText)), indexText);
    const layoutText = JSON.stringify({ imageLayoutVersion: '1.0.0' });
    pack.entry(header(LAYOUT_FILE, 'file', Buffer.byteLength(layoutText)), layoutText);
    pack.finalize();
    await written;
  } catch (e) {
    pack.destroy();
    await written.catch(() => undefined);
    throw e;
  } finally {
    out.removeListener('error', onError);
  }
}

/** `drained` waits for `out` to take more, or rejects when it fails. */
function drained(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      out.removeListener('drain', done);
      out.removeListener('error', done);
      if (e) reject(e);
      else resolve();
    };
    out.once('drain', done);
    out.once('error', done);
  });
}

/** `addFile` streams a file into the tar, respecting back-pressure, and fails when the pack is destroyed. */
async function addFile(pack: tar.Pack, header: TarHeader, path: string): Promise<void> {
  let done!: (e?: Error | null) => void;
  const finished = new Promise<void>((resolve, reject) => (done = (e) => (e ? reject(e) : resolve())));
  const sink = pack.entry(header, done);
  const failed = new Promise<never>((_, reject) => sink.once('error', reject));
  failed.catch(() => undefined);
  finished.catch(() => undefined);
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    if (!sink.write(chunk)) await Promise.race([new Promise<void>((r) => sink.once('drain', () => r())), failed]);
  }
  sink.end(undefined);
  await Promise.race([finished, failed]);
}

/** The only paths an OCI layout tar may hold (after an optional `./`). */
type Place = { kind: 'dir'; parts: string[] } | { kind: 'meta'; name: string } | { kind: 'blob'; alg: string; enc: string };

function place(file: string, header: tar.Header): Place {
  const raw = header.name;
  const name = raw.replace(/^\.\/+/, '').replace(/\/+$/, '');
  const parts = name === '' || name === '.' ? [] : name.split('/');
  if (raw.startsWith('/') || raw.includes('\\') || parts.some((p: string) => p === '..' || p === '.' || p === '')) {
    throw unsafe(file, raw, 'path escapes the layout');
  }
  if (header.type !== 'file' && header.type !== 'directory') throw unsafe(file, raw, `${header.type ?? 'unknown'} entries are not allowed`);
  const isDir = header.type === 'directory';
  if (
    isDir &&
    (parts.length === 0 || (parts[0] === BLOBS_DIR && parts.length <= 2 && (parts.length < 2 || /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/.test(parts[1]!))))
  ) {
    return { kind: 'dir', parts };
  }
  if (!isDir && parts.length === 1 && (parts[0] === INDEX_FILE || parts[0] === LAYOUT_FILE)) return { kind: 'meta', name: parts[0] };
  if (!isDir && parts.length === 3 && parts[0] === BLOBS_DIR && digestProblem(`${parts[1]}:${parts[2]}`) === undefined) {
    return { kind: 'blob', alg: parts[1]!, enc: parts[2]! };
  }
  throw unsafe(file, raw, 'not part of an OCI layout');
}

/** `openArchive` opens the tar to import: a missing or unreadable path is the user's to fix (`ARCHIVE_UNREADABLE`), not a damaged archive. */
async function openArchive(file: string): Promise<FileHandle> {
  const unreadable = (why: string, cause?: unknown) =>
    new EbpmError('ARCHIVE_UNREADABLE', `import ${file}: ${why}`, { hint: 'give the path of a tar written by ebpm export', data: { file }, cause });
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw unreadable(e.code === 'ENOENT' ? 'no such file or directory' : e.code === 'EACCES' ? 'permission denied' : `cannot open (${e.code})`, e);
  });
  // A pipe or a FIFO is fine (`import <(…)`); a directory would fail later as a read error.
  if ((await fh.stat()).isDirectory()) {
    await fh.close();
    throw unreadable('a directory, not a tar archive');
  }
  return fh;
}

async function unpack(file: string, into: string, given?: Readable): Promise<void> {
  const extract = tar.extract();
  const input: Readable = given ?? (await openArchive(file)).createReadStream();
  input.on('error', (e: Error) => extract.destroy(e));
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      const where = place(file, entry.header);
      const size = entry.header.size ?? 0;
      if (where.kind === 'dir') {
        await mkdir(join(into, ...where.parts), { recursive: true });
        entry.resume();
        continue;
      }
      let path: string;
      const raw = entry as unknown as AsyncIterable<Uint8Array>;
      let body: AsyncIterable<Uint8Array> = raw;
      if (where.kind === 'meta') {
        if (size > MAX_MANIFEST_BYTES) throw archiveInvalid(file, `${where.name} is over ${MAX_MANIFEST_BYTES} bytes`);
        path = join(into, where.name);
      } else {
        // A blob must hash to its name: check it now, before anything reaches the destination.
        body = verifyContent({ mediaType: 'application/octet-stream', digest: `${where.alg}:${where.enc}`, size }, raw);
        await mkdir(join(into, BLOBS_DIR, where.alg), { recursive: true });
        path = join(into, BLOBS_DIR, where.alg, where.enc);
      }
      const out = await open(path, 'wx', FILE_MODE).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'EEXIST' ? archiveInvalid(file, `${entry.header.name} appears twice`) : e;
      });
      try {
        for await (const chunk of body) await out.write(chunk);
      } finally {
        await out.close();
      }
    }
  } catch (e) {
    input.destroy();
    if (isEbpmError(e)) throw isCodeOf(e, ['ARCHIVE_UNSAFE', 'ARCHIVE_INVALID']) ? e : archiveInvalid(file, e.message, e);
    if ((e as NodeJS.ErrnoException).path === file) throw archiveInvalid(file, (e as Error).message, e);
    // A system error writing the scratch copy (a full disk) is the store's, not the archive's.
    if ((e as NodeJS.ErrnoException).syscall !== undefined) throw e;
    // What the tar parser throws ("Unexpected end of data", "Stream was destroyed", "Invalid tar header") says little to a user.
    throw archiveInvalid(file, 'the archive is truncated or corrupt', e);
  }
}

function isCodeOf(e: unknown, codes: string[]): boolean {
  return isEbpmError(e) && codes.includes(e.code);
}

function withoutLocal(d: Descriptor): Descriptor {
  const { [ANNOTATION_EBPM_PULLED_AT]: _p, [ANNOTATION_EBPM_SOURCE]: _s, [ANNOTATION_REF_NAME]: _r, ...rest } = d.annotations ?? {};
  const out: Descriptor = { ...d };
  delete out.annotations;
  delete out.data;
  if (Object.keys(rest).length > 0) out.annotations = rest;
  return out;
}

function unsafe(file: string, name: string, why: string): EbpmError {
  return new EbpmError('ARCHIVE_UNSAFE', `import ${file}: entry ${JSON.stringify(name.slice(0, 200))}: ${why}`, {
    hint: 'the archive is not a plain OCI layout tar; do not trust where it came from',
    data: { file, entry: name },
  });
}

function archiveInvalid(file: string, why: string, cause?: unknown): EbpmError {
  return new EbpmError('ARCHIVE_INVALID', `import ${file}: ${why}`, {
    hint: 'the archive is damaged or incomplete; export it again',
    data: { file, ...(isEbpmError(cause) ? { code: cause.code, ...cause.data } : {}) },
    cause,
  });
}
