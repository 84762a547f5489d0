import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  createReadStream,
  fdatasync,
  fsync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  writev,
  writevSync,
  type Stats,
} from 'node:fs';
import { mkdir, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { digesterFor, isDigest, parseDigest, shortDigest } from '../core/digest.js';
import { EbpmError, isCode } from '../core/errors.js';
import { canonicalJson, decodeJson, isObject } from '../core/json.js';
import {
  ANNOTATION_EBPM_SUBJECT,
  ANNOTATION_REF_NAME,
  MAX_MANIFEST_BYTES,
  MEDIA_TYPE_IMAGE_INDEX,
  isIndexType,
  isManifestType,
  parseIndex,
  type Descriptor,
  type ImageIndex,
} from '../core/oci.js';
import { isGraphNode, parseNode, referrerDescriptor, type GraphNode } from '../content/graph.js';
import {
  checkRef,
  closeContent,
  fetchAll,
  notFound,
  type Content,
  type Deleter,
  type ReferrerLister,
  type TagLister,
  type Target,
  type Untagger,
} from '../content/storage.js';
import { VerifiedContent } from '../content/verify.js';
import { diskError } from './disk.js';
import { isAlive, selfOwner, unlinkQuiet, withLock, type LockOptions } from './lock.js';

/*
 * An OCI image layout directory (image-spec v1.1.1 `image-layout.md`): `oci-layout`, `index.json`
 * and `blobs/<alg>/<encoded>`, readable by skopeo and oras. Crash-safe with cacache's mechanics:
 * - every blob is hashed on the way in (by this pass, or by the `VerifiedContent` pass it is
 *   handed, whose chunks are the very bytes written), written to `ingest/` (same filesystem),
 *   fsynced, made read-only and renamed into place, so a blob's bytes always match its name;
 * - `index.json` is replaced atomically (temp + fsync + rename) under an inter-process lock,
 *   re-read inside the lock (read-modify-write);
 * - a manifest or index is written only after its children (copyGraph's order), so a manifest
 *   held means its whole graph is held and a copy skips it, graph and all; maintenance that
 *   removes a blob removes the manifests above it too (maintenance.ts: prune, `verifyStore`, `dropBroken`);
 * - an index entry is written only once its whole graph is present, so entries never point at
 *   missing blobs. Tags are `org.opencontainers.image.ref.name` annotations; referrer manifests
 *   (with a `subject`) get untagged entries so they can be found; ebpm's per-tag metadata is
 *   `dev.ebpm.*` annotations, so the layout stays standard;
 * - a full disk or a read-only one is an error saying so (`NO_SPACE`, `READ_ONLY`), and the
 *   local store keeps a small `reserve` file so that rm and prune work on a full disk (`freeing`).
 */

export const LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
export const BLOBS_DIR = 'blobs';
/** `INGEST_DIR` holds temp files named `<pid>.<start>.<random>`, so that a dead writer's leftovers can be told (`cleanIngest`). */
export const INGEST_DIR = 'ingest';
/** Temp files whose name does not say who wrote them (another tool's) are removed once this old. */
const ANONYMOUS_TEMP_MS = 10 * 60 * 1000;
/**
 * `IO_CHUNK_BYTES` is how much one read or write of a blob moves: 1 MiB instead of streams'
 * 64 KiB default means 64 times fewer thread-pool round trips, hash updates and socket writes.
 */
const IO_CHUNK_BYTES = 1 << 20;
/**
 * Blobs up to `IO_CHUNK_BYTES`, `oci-layout` and `index.json` are read and written
 * synchronously, and so are the store's directory, stat, open, close, chmod and rename calls:
 * they are manifests, configs, BPF objects and a few KiB of JSON, which a system call moves in
 * well under a millisecond, while each fs/promises call is a thread-pool round trip, which costs
 * this machine 60-110 µs of CPU against 3-5 for the call itself. `ebpm run` reads several
 * before its first event, and a pull of 50 small packages writes about 150 blobs and 50 index
 * files. What can wait on the device stays on the thread pool: every `fsync`, and the writes of
 * a larger blob, which overlap its transfer.
 */
const SYNC_IO_BYTES = IO_CHUNK_BYTES;
/**
 * `WRITEBACK_BYTES`: a larger blob asks the device to take what it has written so far each time
 * this much more is written (fdatasync, on the thread pool, while the transfer goes on), so that
 * its closing fsync waits for the last few MiB instead of the whole blob (about 25 ms of a
 * 64 MiB pull here).
 */
const WRITEBACK_BYTES = 8 << 20;
const LOCK_FILE = 'index.json.lock';
/**
 * `RESERVE_FILE` holds `RESERVE_BYTES` of zeros that `freeing` gives up when the disk is full,
 * so that rm and prune still find room for the lock file and a new index.json (256 KiB: an
 * index of several hundred entries).
 */
const RESERVE_FILE = 'reserve';
const RESERVE_BYTES = 256 << 10;
const LAYOUT_HEADER = { imageLayoutVersion: '1.0.0' };

/** `OciLayoutOptions` configure an `OciLayout`. */
export interface OciLayoutOptions extends LockOptions {
  /** Create the directory and its `oci-layout` and `index.json` if missing. Default true. */
  create?: boolean;
  /** Keep a reserve of disk space for `freeing` (the local store). Default false. */
  reserve?: boolean;
}

/** `OciLayout` is a `Target` (plus `Deleter`, `Untagger`, `TagLister`, `ReferrerLister`) over an OCI layout directory. */
export class OciLayout implements Target, Deleter, Untagger, TagLister, ReferrerLister {
  private readonly writes = new Map<string, Promise<void>>();
  /** What `cleanIngest` removed since `takeCleaned` last asked (opening cleans too, before prune can count). */
  private cleaned = { entries: 0, bytes: 0 };

  private constructor(
    readonly root: string,
    private readonly lockOpts: LockOptions,
    private readonly reserved: boolean,
  ) {}

  /**
   * `open` opens (and by default creates) the layout at `root`; a foreign or broken layout is
   * `LAYOUT_INVALID`. Opened to write (`create`), it first clears what killed writers left in `ingest/`.
   */
  static async open(root: string, opts: OciLayoutOptions = {}): Promise<OciLayout> {
    const layout = new OciLayout(root, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }, opts.reserve ?? false);
    if (opts.create ?? true) {
      // On an existing store none of this writes, so a read-only store opens. Its checks (two
      // mkdirs, a readdir, three stats) are synchronous, as its reads are (`SYNC_IO_BYTES`):
      // each is a syscall, where fs/promises would take a thread-pool round trip.
      try {
        mkdirSync(join(root, BLOBS_DIR, 'sha256'), { recursive: true });
        mkdirSync(join(root, INGEST_DIR), { recursive: true });
        await layout.cleanIngest();
        // A new store's files are written and fsynced side by side: one journal commit, not three in a row.
        await Promise.all([
          layout.createOnce(LAYOUT_FILE, JSON.stringify(LAYOUT_HEADER)),
          layout.createOnce(INDEX_FILE, canonicalJson(emptyIndex())),
          layout.reserved ? layout.reserve() : undefined,
        ]);
      } catch (e) {
        throw diskError(e, root);
      }
    }
    let header: Uint8Array;
    try {
      header = readFileSync(join(root, LAYOUT_FILE));
    } catch (e) {
      throw invalid(root, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no oci-layout file' : (e as Error).message);
    }
    const parsed = decodeJson(header);
    if (parsed === undefined || !isObject(parsed.value) || parsed.value.imageLayoutVersion !== '1.0.0') {
      throw invalid(root, 'oci-layout is not {"imageLayoutVersion":"1.0.0"}');
    }
    await layout.readIndex();
    return layout;
  }

  /**
   * `cleanIngest` removes the temp files and scratch directories (`tempDir`) of writers that no
   * longer run (killed mid-write; a name says whose it is, see `ingestPath`), and unnamed ones
   * older than `ANONYMOUS_TEMP_MS`. A live writer's stay, however old. One readdir, of a
   * directory usually empty. Returns how many went; `takeCleaned` tells them and their bytes.
   */
  async cleanIngest(): Promise<number> {
    const dir = join(this.root, INGEST_DIR);
    let cleaned = 0;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      names = [];
    }
    for (const name of names) {
      const m = /^(\d+)\.(\d+)\.[0-9a-f]+$/.exec(name);
      const path = join(dir, name);
      const stale =
        m !== null
          ? !isAlive({ pid: Number(m[1]), start: m[2]! })
          : Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now()) > ANONYMOUS_TEMP_MS;
      if (!stale) continue;
      const bytes = await diskBytes(path);
      if (
        await rm(path, { recursive: true }).then(
          () => true,
          () => false,
        )
      ) {
        cleaned++;
        this.cleaned = { entries: this.cleaned.entries + 1, bytes: this.cleaned.bytes + bytes };
      }
    }
    return cleaned;
  }

  /** `takeCleaned` is what `cleanIngest` removed (temp files, scratch directories) and their bytes since the last call. */
  takeCleaned(): { entries: number; bytes: number } {
    const c = this.cleaned;
    this.cleaned = { entries: 0, bytes: 0 };
    return c;
  }

  /**
   * `tempDir` makes a scratch directory in `ingest/` (same filesystem as the blobs, named like a
   * temp file), for work too big for memory (an archive unpacked before import). The caller
   * removes it; if the process is killed, the next writer's `cleanIngest` does.
   */
  async tempDir(): Promise<string> {
    const dir = this.ingestPath();
    await this.writing(async () => {
      await mkdir(join(this.root, INGEST_DIR), { recursive: true });
      await mkdir(dir);
    });
    return dir;
  }

  /**
   * `reserve` keeps `RESERVE_BYTES` of the disk for `freeing` (best effort: on a disk already
   * full, or read-only, there is no reserve until space comes back).
   */
  private async reserve(): Promise<void> {
    const path = join(this.root, RESERVE_FILE);
    if (statQuiet(path)?.size === RESERVE_BYTES) return;
    await this.writeAtomic(RESERVE_FILE, Buffer.alloc(RESERVE_BYTES)).catch(() => undefined);
  }

  /**
   * `freeing` runs `f`, a change that frees space (rm, prune). On a disk too full for even its
   * lock file and new index, it gives up the reserve, runs `f` again, and takes the reserve back
   * from the space `f` freed.
   */
  async freeing<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (!this.reserved || !isCode(e, 'NO_SPACE')) throw e;
      await unlink(join(this.root, RESERVE_FILE)).catch(() => undefined);
      const result = await f();
      await this.reserve();
      return result;
    }
  }

  /** `blobPath` is where the blob `digest` lives. */
  blobPath(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return join(this.root, BLOBS_DIR, algorithm, encoded);
  }

  /** `readIndex` reads `index.json` as it is now (it is only ever replaced whole). */
  async readIndex(): Promise<ImageIndex> {
    return this.readIndexFile().index;
  }

  /** `readIndexFile` is `index.json` parsed, and its bytes. */
  private readIndexFile(): { index: ImageIndex; bytes: Buffer } {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(this.root, INDEX_FILE));
    } catch (e) {
      throw invalid(this.root, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no index.json' : (e as Error).message);
    }
    try {
      return { index: parseIndex(bytes), bytes };
    } catch (e) {
      throw invalid(this.root, `index.json: ${(e as Error).message}`, e);
    }
  }

  /**
   * `updateIndex` applies `change` to a fresh read of `index.json` under the store lock and
   * replaces the file atomically if the result differs. `change` may throw to abort.
   */
  async updateIndex<T>(change: (manifests: Descriptor[]) => Promise<{ manifests: Descriptor[]; result: T }>): Promise<T> {
    return this.writing(() =>
      withLock(
        join(this.root, LOCK_FILE),
        async () => {
          const { index, bytes } = this.readIndexFile();
          const { manifests, result } = await change(index.manifests);
          // One serialisation, compared with the file as read (ebpm writes it canonical).
          const next = canonicalJson({ ...index, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests });
          if (next !== bytes.toString()) await this.writeAtomic(INDEX_FILE, next);
          return result;
        },
        this.lockOpts,
      ),
    );
  }

  /** `writing` runs a write to the store, making a full or read-only disk an error that says so (`diskError`). */
  private async writing<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw diskError(e, this.root);
    }
  }

  async fetch(desc: Descriptor): Promise<Content> {
    try {
      if (desc.size <= SYNC_IO_BYTES) return readSmall(this.blobPath(desc.digest), desc.size);
      return createReadStream('', { fd: openSync(this.blobPath(desc.digest), 'r'), highWaterMark: Math.min(IO_CHUNK_BYTES, Math.max(desc.size, 1)) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(desc.digest, { digest: desc.digest });
      throw e;
    }
  }

  /** `exists` is true when a blob of the right name and size is present. */
  async exists(desc: Descriptor): Promise<boolean> {
    try {
      const st = statSync(this.blobPath(desc.digest));
      return st.isFile() && st.size === desc.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * `push` writes a blob crash-safely. Concurrent pushes of one digest in this process share one
   * write; across processes each writes its own temp file and the renames are idempotent. A pushed
   * referrer manifest (one with a `subject`) also gets an untagged index entry.
   */
  async push(expected: Descriptor, content: Content, signal?: AbortSignal): Promise<void> {
    digesterFor(expected.digest);
    if (isGraphNode(expected) && expected.size > MAX_MANIFEST_BYTES) {
      throw new EbpmError('MANIFEST_TOO_LARGE', `${expected.digest}: manifest of ${expected.size} bytes is over the ${MAX_MANIFEST_BYTES}-byte limit`, {
        hint: 'manifests are metadata; this one is broken or hostile',
        data: { size: expected.size, limit: MAX_MANIFEST_BYTES },
      });
    }
    const inflight = this.writes.get(expected.digest);
    if (
      inflight !== undefined &&
      (await inflight.then(
        () => true,
        () => false,
      ))
    )
      return closeContent(content);
    if (await this.exists(expected)) {
      await closeContent(content);
      // A crash may have come between the rename and the referrer entry: a re-push repairs it.
      if (isGraphNode(expected)) await this.registerReferrer(expected, await fetchAll(this, expected, MAX_MANIFEST_BYTES, signal));
      return;
    }
    const write = this.writing(() => this.writeBlob(expected, content, signal));
    this.writes.set(expected.digest, write);
    try {
      await write;
    } finally {
      if (this.writes.get(expected.digest) === write) this.writes.delete(expected.digest);
    }
  }

  /** `resolve` takes a tag, or the digest of a manifest or index held in the layout. */
  async resolve(ref: string): Promise<Descriptor> {
    const manifests = (await this.readIndex()).manifests;
    const tagged = manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === ref);
    if (tagged !== undefined) return tagged;
    if (isDigest(ref)) {
      const listed = manifests.find((d) => d.digest === ref);
      if (listed !== undefined) return plain(listed);
      const mediaType = await this.sniffMediaType(ref);
      if (mediaType !== undefined) return { mediaType, digest: ref, size: (await stat(this.blobPath(ref))).size };
    }
    throw notFound(ref, { ref });
  }

  /**
   * `tag` points `ref` at `desc` (keeping its annotations, e.g. `dev.ebpm.pulled-at`) once the
   * whole graph of `desc` is present; otherwise `GRAPH_INCOMPLETE` names the first missing blob.
   */
  async tag(desc: Descriptor, ref: string): Promise<void> {
    await this.tagAll([{ ref, descriptor: desc }], { move: true });
  }

  /**
   * `tagAll` sets every tag of `tags` in one index update, or none: each graph must be whole
   * (`GRAPH_INCOMPLETE`), and unless `move`, a tag may not be moved to another digest
   * (`TAG_EXISTS`, naming the tag and both digests).
   */
  async tagAll(tags: readonly { ref: string; descriptor: Descriptor }[], opts: { move: boolean }): Promise<void> {
    for (const t of tags) checkRef(t.ref);
    await this.updateIndex(async (manifests) => {
      const refused = opts.move ? undefined : tagConflict(manifests, tags);
      if (refused !== undefined) throw refused;
      const next = [...manifests];
      for (const { ref, descriptor: desc } of tags) {
        // Checked inside the lock: prune sweeps under the same lock, so the graph cannot vanish before the write.
        const missing = await this.missingFrom(desc);
        if (missing !== undefined) throw incomplete(desc, missing);
        const at = next.findIndex((d) => d.annotations?.[ANNOTATION_REF_NAME] === ref);
        const entry: Descriptor = { ...plain(desc), annotations: { ...desc.annotations, [ANNOTATION_REF_NAME]: ref } };
        if (at < 0) next.push(entry);
        else next[at] = entry;
      }
      return { manifests: next, result: undefined };
    });
  }

  async untag(ref: string): Promise<void> {
    await this.updateIndex(async (manifests) => {
      const next = manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== ref);
      if (next.length === manifests.length) throw notFound(ref, { ref });
      return { manifests: next, result: undefined };
    });
  }

  async tags(): Promise<string[]> {
    return (await this.tagged()).map((t) => t.tag).sort();
  }

  /** `tagged` is every tagged entry of `index.json` as it is now, in its order: the tags and what each resolves to, from one read. */
  async tagged(): Promise<{ tag: string; descriptor: Descriptor }[]> {
    const out: { tag: string; descriptor: Descriptor }[] = [];
    for (const d of (await this.readIndex()).manifests) {
      const tag = d.annotations?.[ANNOTATION_REF_NAME];
      if (tag !== undefined) out.push({ tag, descriptor: d });
    }
    return out;
  }

  /**
   * `delete` removes a blob and the index entries naming it. A blob another entry's graph still
   * uses is `IN_USE`: deleting it would leave that entry incomplete.
   */
  async delete(desc: Descriptor): Promise<void> {
    await this.updateIndex(async (manifests) => {
      const others = manifests.filter((d) => d.digest !== desc.digest);
      if ((await this.reachable(others)).has(desc.digest)) {
        throw new EbpmError('IN_USE', `${desc.digest}: still used by a tagged manifest`, {
          hint: 'untag the references that use it (ebpm rm), then prune',
          data: { digest: desc.digest },
        });
      }
      if (!(await this.exists(desc)) && others.length === manifests.length) throw notFound(desc.digest, { digest: desc.digest });
      return { manifests: others, result: undefined };
    });
    await unlink(this.blobPath(desc.digest)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /**
   * `referrers` reads the untagged entries that every referrer gets (`registerReferrer`;
   * `verifyStore` lists one again that lost its), not the tagged ones, the packages; and of
   * those, only the ones whose entry names `subject` or no subject (an older ebpm's). A run's
   * look for signatures thus reads what the package has, however many others the store holds.
   */
  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    const out = new Map<string, Descriptor>();
    for (const d of (await this.readIndex()).manifests) {
      const named = d.annotations?.[ANNOTATION_EBPM_SUBJECT];
      if (!isReferrerEntry(d) || (named !== undefined && named !== subject.digest)) continue;
      if (!isGraphNode(d) || out.has(d.digest)) continue;
      const node = await this.node(d).catch(() => undefined);
      if (node === undefined || node.subject?.digest !== subject.digest) continue;
      if (artifactType !== undefined && node.artifactType !== artifactType) continue;
      out.set(d.digest, referrerDescriptor(plain(d), node));
    }
    return [...out.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
  }

  /** `node` reads and verifies a manifest or index blob and parses its links. */
  async node(desc: Descriptor): Promise<GraphNode> {
    return parseNode(desc, await fetchAll(this, desc, MAX_MANIFEST_BYTES));
  }

  /** `missingFrom` walks the graph of `desc` and returns the first descriptor not (intact) in the layout. */
  async missingFrom(desc: Descriptor, seen = new Set<string>()): Promise<Descriptor | undefined> {
    if (seen.has(desc.digest)) return undefined;
    seen.add(desc.digest);
    if (!(await this.exists(desc))) return desc;
    if (!isGraphNode(desc)) return undefined;
    let node: GraphNode;
    try {
      node = await this.node(desc);
    } catch {
      return desc;
    }
    for (const child of node.children) {
      const m = await this.missingFrom(child, seen);
      if (m !== undefined) return m;
    }
    return undefined;
  }

  /**
   * `reachable` marks every blob in the graphs of `roots`, plus referrer entries (untagged, with
   * a `subject`) whose subject is marked, to a fixed point. Unreadable nodes are skipped.
   */
  async reachable(roots: Descriptor[]): Promise<Set<string>> {
    const marked = new Set<string>();
    const mark = async (d: Descriptor): Promise<void> => {
      if (marked.has(d.digest)) return;
      marked.add(d.digest);
      if (!isGraphNode(d)) return;
      const node = await this.node(d).catch(() => undefined);
      for (const c of node?.children ?? []) await mark(c);
    };
    const tagged = roots.filter((d) => !isReferrerEntry(d));
    let pending = roots.filter(isReferrerEntry);
    for (const d of tagged) await mark(d);
    for (let grew = true; grew; ) {
      grew = false;
      const rest: Descriptor[] = [];
      for (const d of pending) {
        const subject = isGraphNode(d) ? (await this.node(d).catch(() => undefined))?.subject : undefined;
        if (subject !== undefined && marked.has(subject.digest)) {
          await mark(d);
          grew = true;
        } else rest.push(d);
      }
      pending = rest;
    }
    return marked;
  }

  private async writeBlob(expected: Descriptor, content: Content, signal?: AbortSignal): Promise<void> {
    const { algorithm } = parseDigest(expected.digest);
    mkdirSync(join(this.root, BLOBS_DIR, algorithm), { recursive: true });
    mkdirSync(join(this.root, INGEST_DIR), { recursive: true });
    const tmp = this.ingestPath();
    const keep: Uint8Array[] | undefined = isGraphNode(expected) ? [] : undefined;
    const write = expected.size <= SYNC_IO_BYTES ? writeNow : writeBeside;
    let renamed = false;
    try {
      const fd = openSync(tmp, 'wx', 0o644);
      const writeback = new Writeback(fd);
      try {
        // Chunks are gathered into one writev(2) per IO_CHUNK_BYTES (or 256 chunks, well under
        // IOV_MAX); the pass ends (and throws on a mismatch) before the last batch is written
        // and long before the rename.
        let batch: Uint8Array[] = [];
        let batched = 0;
        for await (const chunk of VerifiedContent.of(expected, content, signal)) {
          keep?.push(chunk);
          batch.push(chunk);
          batched += chunk.byteLength;
          if (batched >= IO_CHUNK_BYTES || batch.length >= 256) {
            await write(fd, batch, batched);
            writeback.wrote(batched);
            batch = [];
            batched = 0;
          }
        }
        if (batched > 0) await write(fd, batch, batched);
        await writeback.settled();
        await fsyncFd(fd);
      } finally {
        // A failed transfer leaves no writeback running on a closed descriptor.
        await writeback.settled().catch(() => undefined);
        closeSync(fd);
      }
      chmodSync(tmp, 0o444);
      renameSync(tmp, this.blobPath(expected.digest));
      renamed = true;
    } finally {
      if (!renamed) unlinkQuiet(tmp);
    }
    if (keep !== undefined) await this.registerReferrer(expected, Buffer.concat(keep));
  }

  /** `registerReferrer` gives a referrer manifest its untagged index entry (`isReferrerEntry`; a tag is not one), once its graph is complete, so `referrers` finds it. */
  async registerReferrer(desc: Descriptor, bytes: Uint8Array): Promise<void> {
    const node = parseNode(desc, bytes);
    if (node.subject === undefined) return;
    const base = plain(desc);
    const entry: Descriptor = {
      ...base,
      ...(node.artifactType === undefined ? {} : { artifactType: node.artifactType }),
      annotations: { ...base.annotations, [ANNOTATION_EBPM_SUBJECT]: node.subject.digest },
    };
    await this.updateIndex(async (manifests) => {
      if (manifests.some((d) => d.digest === desc.digest && isReferrerEntry(d))) return { manifests, result: undefined };
      const missing = await this.missingFrom(desc);
      if (missing !== undefined) throw incomplete(desc, missing);
      return { manifests: [...manifests, entry], result: undefined };
    });
  }

  private async sniffMediaType(digest: string): Promise<string | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      if (st.size > MAX_MANIFEST_BYTES) return undefined;
      const bytes = await fetchAll(this, { mediaType: 'application/octet-stream', digest, size: st.size }, MAX_MANIFEST_BYTES);
      const parsed = decodeJson(bytes);
      const mt = parsed !== undefined && isObject(parsed.value) ? parsed.value.mediaType : undefined;
      return typeof mt === 'string' && (isManifestType(mt) || isIndexType(mt)) ? mt : undefined;
    } catch {
      return undefined;
    }
  }

  private ingestPath(): string {
    const { pid, start } = selfOwner();
    return join(this.root, INGEST_DIR, `${pid}.${start}.${randomBytes(8).toString('hex')}`);
  }

  private async writeAtomic(name: string, text: string | Uint8Array): Promise<void> {
    mkdirSync(join(this.root, INGEST_DIR), { recursive: true });
    const tmp = this.ingestPath();
    try {
      await writeSynced(tmp, text);
      renameSync(tmp, join(this.root, name));
    } catch (e) {
      unlinkQuiet(tmp);
      throw e;
    }
  }

  /** `createOnce` writes a file only if absent, atomically and without clobbering a concurrent creator (link(2) fails on EEXIST). */
  private async createOnce(name: string, text: string): Promise<void> {
    // The common case, an existing store, costs one stat instead of a temp file and its fsync.
    if (statQuiet(join(this.root, name)) !== undefined) return;
    const tmp = this.ingestPath();
    await writeSynced(tmp, text);
    try {
      linkSync(tmp, join(this.root, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
  }
}

function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [] };
}

/** `statQuiet` is the stat of `path`, or undefined when there is none to be had (missing, unreadable). */
function statQuiet(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * `readSmall` reads a blob of `size` declared bytes (`SYNC_IO_BYTES` at most) in chunks of that
 * size, as a stream of it would arrive, up to its end or the first chunk past `size` (where
 * verification refuses it): the consumer's checks see what they would see streaming.
 */
function readSmall(path: string, size: number): Uint8Array[] {
  const fd = openSync(path, 'r');
  try {
    const chunks: Uint8Array[] = [];
    for (let total = 0; total <= size; ) {
      const chunk = new Uint8Array(Math.max(size, 1));
      const n = readSync(fd, chunk);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    return chunks;
  } finally {
    closeSync(fd);
  }
}

/** `plain` keeps the fields an index entry records (no embedded data, no ref name). */
function plain(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.artifactType !== undefined) out.artifactType = d.artifactType;
  if (d.platform !== undefined) out.platform = d.platform;
  const { [ANNOTATION_REF_NAME]: _ref, ...rest } = d.annotations ?? {};
  if (Object.keys(rest).length > 0) out.annotations = rest;
  return out;
}

/** `writeNow` appends `chunks` (`total` bytes) to `fd` synchronously, a small blob's way (`SYNC_IO_BYTES`). */
async function writeNow(fd: number, chunks: Uint8Array[], total: number): Promise<void> {
  writeRest(fd, chunks, total, writevSync(fd, chunks));
}

/** `writeBeside` appends `chunks` to `fd` on the thread pool, a larger blob's way: the write overlaps its transfer. */
async function writeBeside(fd: number, chunks: Uint8Array[], total: number): Promise<void> {
  const written = await new Promise<number>((resolve, reject) => writev(fd, chunks, (e, n) => (e ? reject(e) : resolve(n))));
  writeRest(fd, chunks, total, written);
}

/** `writeRest` finishes a short write (the rare case: a signal, a filesystem's limit). */
function writeRest(fd: number, chunks: Uint8Array[], total: number, written: number): void {
  if (written === total) return;
  const rest = Buffer.concat(chunks, total);
  while (written < total) written += writeSync(fd, rest, written);
}

/**
 * `Writeback` starts an fdatasync of `fd` every `WRITEBACK_BYTES` written, one at a time, and
 * does not wait for it: `settled` does (and throws what it failed with).
 */
class Writeback {
  #since = 0;
  #running: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;

  constructor(private readonly fd: number) {}

  wrote(bytes: number): void {
    this.#since += bytes;
    if (this.#since < WRITEBACK_BYTES || this.#running !== undefined) return;
    this.#since = 0;
    this.#running = new Promise<void>((resolve) =>
      fdatasync(this.fd, (e) => {
        if (e) this.#failure ??= { error: e };
        this.#running = undefined;
        resolve();
      }),
    );
  }

  async settled(): Promise<void> {
    await this.#running;
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}

/**
 * `isReferrerEntry` tells an untagged `index.json` entry, which only a referrer gets
 * (`registerReferrer`), from a tagged one: `referrers` reads the former alone.
 */
export function isReferrerEntry(d: Descriptor): boolean {
  return d.annotations?.[ANNOTATION_REF_NAME] === undefined;
}

/** `fsyncFd` waits, on the thread pool, until `fd`'s data is on the device: the one step that must not hold the event loop. */
function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/** `writeSynced` creates `path` (which must not exist) holding `text`, on the device when it returns. */
async function writeSynced(path: string, text: string | Uint8Array): Promise<void> {
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeFileSync(fd, text);
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

function incomplete(desc: Descriptor, missing: Descriptor): EbpmError {
  return new EbpmError('GRAPH_INCOMPLETE', `${desc.digest}: ${missing.digest} is missing from the store`, {
    hint: 'copy the whole graph (children first) before tagging it',
    data: { digest: desc.digest, missing: missing.digest },
  });
}

/** `tagConflict` is `TAG_EXISTS` for the first of `tags` that `manifests` (an index) already gives another digest, else undefined. */
export function tagConflict(manifests: readonly Descriptor[], tags: readonly { ref: string; descriptor: Descriptor }[]): EbpmError | undefined {
  for (const { ref, descriptor } of tags) {
    const held = manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === ref);
    if (held !== undefined && held.digest !== descriptor.digest) return tagExists(ref, held.digest, descriptor.digest);
  }
  return undefined;
}

function tagExists(ref: string, existing: string, incoming: string): EbpmError {
  return new EbpmError('TAG_EXISTS', `${ref} already tags ${shortDigest(existing)}, not ${shortDigest(incoming)}`, {
    hint: `pass --force to move ${ref} to the new content, or remove it first (ebpm rm)`,
    data: { reference: ref, existing, incoming },
  });
}

function invalid(root: string, why: string, cause?: unknown): EbpmError {
  return new EbpmError('LAYOUT_INVALID', `${root}: not an OCI image layout: ${why}`, {
    hint: 'point ebpm at a directory holding oci-layout, index.json and blobs/, or at an empty one',
    data: { root },
    cause,
  });
}

/** `diskBytes` is the size of a file, or of every file below a directory (0 for what vanished meanwhile). */
async function diskBytes(path: string): Promise<number> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) return st?.size ?? 0;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await diskBytes(join(path, name));
  return total;
}
