/**
 * `ebpm push [path...] [--to destination]`: publish built packages. Name and version come from
 * the package metadata; the destination repository is `[registry/][namespace/]<name>` (the
 * default registry and namespace unless given). Rules (registry-spec/package-v1.md §"Versions and tags"):
 * the version tag is immutable, so pushing other content to an existing version is
 * `VERSION_EXISTS` unless `force`; pushing the same content again is a no-op; the floating tags
 * `M.m`, `M` (unless `floatingTags` is false) and `latest` move only to a stable version no lower
 * than every stable version of their line there (version.ts `floatingTags`). Then each namespace's search
 * index is updated once (search-index.ts); a failure there does not undo a push and is reported.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OUT_DIR } from '../build/sources.js';
import { EbpmError, isCode, withContext } from '../core/errors.js';
import type { Descriptor } from '../core/oci.js';
import { formatReference, parseReference, type Reference } from '../core/reference.js';
import { copyTagged } from '../content/copy.js';
import { pushTagged, type ReadOnlyTarget } from '../content/storage.js';
import { readPackages } from '../package/artifact.js';
import { SOURCE_MANIFEST } from '../package/source-manifest.js';
import { floatingTags, versionTag } from '../package/version.js';
import { LAYOUT_FILE } from '../store/layout.js';
import type { Context } from './context.js';
import { openLayout, openLocal } from './local-source.js';
import { isMissing, openRepository, parseUserReference, resolveStored } from './resolve.js';
import {
  indexRepositoryOf,
  INDEX_REPOSITORY,
  INDEX_TAG,
  mergeEntry,
  namespaceOf,
  readIndexArtifact,
  resolveIndexDigest,
  uploadIndexBlobs,
  writeIndexArtifact,
  type IndexArtifact,
  type IndexEntry,
} from './search-index.js';
import { walk } from './search.js';
import { copyHooks, PACKAGE_CONCURRENCY, settleAll, type OnTransferEvent } from './transfer.js';
import type { SigningKey } from '../sign/keys.js';
import type { SignatureFormat } from '../sign/verify.js';
import { copySignatures, signPackage, storedRepository, type SignResult } from './sign.js';

export interface PushRequest {
  /** A package directory (its `out/` layout, else built in memory), or an OCI layout, optionally `:tag`. */
  readonly path: string;
  /**
   * The argument as given: when nothing is at `path`, the reference of a package the local store
   * holds (`ebpm tag` then `ebpm push`, as with docker), pushed to that reference's repository.
   */
  readonly reference?: string;
  /** Tags to set besides the version and floating tags (`--tag stable`): valid tags, none a version (the command checks). */
  readonly tags?: readonly string[];
  /** `[registry/][namespace/]name` to push to instead of the default registry and the package name. */
  readonly destination?: string;
  readonly force?: boolean;
  /** `--no-floating-tags` is false: only `latest` moves, not `M.m` and `M`. */
  readonly floatingTags?: boolean;
  /** `--sign --key`: sign the pushed digest in the destination (sign.ts). */
  readonly sign?: { readonly key: SigningKey; readonly format: SignatureFormat };
  readonly signal?: AbortSignal;
  readonly onEvent?: OnTransferEvent;
}

export interface PushResult {
  /** `host/repo:version-tag` */
  readonly reference: string;
  readonly name: string;
  readonly version: string;
  readonly digest: string;
  /** Tags set by this push: the version tag, then the floating tags (`M.m`, `M`, `latest`) it moved. */
  readonly tags: readonly string[];
  /** The version tag already held this content: nothing was sent. */
  readonly unchanged: boolean;
  readonly blobs: number;
  readonly bytes: number;
  /** Why the search index could not be updated, if it could not. */
  readonly indexError?: string;
  /** The signature `--sign` made. */
  readonly signature?: SignResult;
}

/** `push` runs one push; errors read `push <path>: …`. */
export async function push(ctx: Context, req: PushRequest): Promise<PushResult> {
  const [outcome] = await pushAll(ctx, [req]);
  if (outcome!.status === 'rejected') throw outcome!.reason;
  return outcome!.value;
}

/**
 * `pushAll` pushes packages, `PACKAGE_CONCURRENCY` at a time, then updates the search index of
 * each namespace once with all of them (one write per namespace, and no lost update between
 * this run's own pushes), while their floating tags move. The index update is drafted while the
 * packages upload (`IndexDraft`), so what is left after them is a HEAD and a manifest PUT.
 * Outcomes come back in request order.
 */
export async function pushAll(ctx: Context, reqs: readonly PushRequest[], signal?: AbortSignal): Promise<PromiseSettledResult<PushResult>[]> {
  const drafts = new Map<string, IndexDraft>();
  const offers: (IndexUpdate | undefined)[] = new Array(reqs.length);
  let unoffered = reqs.length;
  const offer = (at: number, update: IndexUpdate | undefined) => {
    offers[at] = update;
    if (update !== undefined && !drafts.has(indexKey(update))) drafts.set(indexKey(update), new IndexDraft(ctx, update, signal));
    // Once every package has offered its entry (or failed before it could), the merged indexes are known.
    if (--unoffered === 0) for (const [key, d] of drafts) d.stage(offers.filter((u): u is IndexUpdate => u !== undefined && indexKey(u) === key));
  };
  const pushed = await settleAll(
    reqs.map((req, at) => ({ req, at })),
    PACKAGE_CONCURRENCY,
    async ({ req, at }) => {
      let offered = false;
      try {
        return await pushOne(ctx, req, (u) => {
          offered = true;
          offer(at, u);
        });
      } finally {
        if (!offered) offer(at, undefined);
      }
    },
  );
  // The floating tags are still on their way: the index update goes out beside them. An entry
  // names a version whose tag is set, so it belongs in the index whatever becomes of them.
  const floated = Promise.all(
    pushed.map(async (o, at): Promise<PromiseSettledResult<PushResult>> => {
      if (o.status !== 'fulfilled') return o;
      try {
        const moved = await o.value.floating;
        return { status: 'fulfilled', value: { ...o.value.result, tags: [...o.value.result.tags, ...moved] } };
      } catch (e) {
        return { status: 'rejected', reason: withContext(`push ${reqs[at]!.path}`, e) };
      }
    }),
  );
  const groups = new Map<string, { at: number; update: IndexUpdate }[]>();
  pushed.forEach((o, at) => {
    if (o.status !== 'fulfilled') return;
    const key = indexKey(o.value.update);
    groups.set(key, [...(groups.get(key) ?? []), { at, update: o.value.update }]);
  });
  const errors = new Map<number, string>();
  for (const [key, items] of groups) {
    try {
      await drafts.get(key)!.commit(items.map((i) => i.update));
    } catch (e) {
      for (const { at } of items) errors.set(at, e instanceof Error ? e.message : String(e));
    }
  }
  return (await floated).map((o, at) => {
    if (o.status !== 'fulfilled') return o;
    const indexError = errors.get(at);
    return { status: 'fulfilled', value: indexError === undefined ? o.value : { ...o.value, indexError } };
  });
}

const indexKey = (u: IndexUpdate) => `${u.host}/${u.repository}`;

/** A namespace's index as read: its manifest's digest (undefined: there is none) and entries. */
interface IndexBase {
  readonly digest: string | undefined;
  readonly entries: IndexEntry[];
}

/**
 * `IndexDraft` is the update of one namespace's search index during a push: the index is read
 * as soon as a package names the namespace, and once every package has offered its entry
 * (`stage`), the merged index's blobs go up beside the uploads still running. `commit` then
 * tags it with one manifest PUT when the packages it names were all pushed and one HEAD shows
 * nobody wrote the index meanwhile; otherwise it reads, merges and writes the index again.
 */
class IndexDraft {
  readonly #ctx: Context;
  readonly #host: string;
  readonly #repository: string;
  readonly #signal: AbortSignal | undefined;
  readonly #base: Promise<IndexBase>;
  #staged: Promise<{ readonly updates: readonly IndexUpdate[]; readonly base: IndexBase; readonly artifact: IndexArtifact }> | undefined;

  constructor(ctx: Context, first: IndexUpdate, signal: AbortSignal | undefined) {
    [this.#ctx, this.#host, this.#repository, this.#signal] = [ctx, first.host, first.repository, signal];
    this.#base = this.#read();
    // A draft that fails is only a head start lost: commit reads again and reports that.
    this.#base.catch(() => undefined);
  }

  stage(updates: readonly IndexUpdate[]): void {
    this.#staged = this.#base.then(async (base) => {
      const entries = updates.reduce((all, u) => mergeEntry(all, u.entry, u.moveLatest), base.entries);
      return { updates, base, artifact: await uploadIndexBlobs(await this.#repo(), entries, this.#signal) };
    });
    this.#staged.catch(() => undefined);
  }

  /** Writes the index with `pushed`, the updates of the packages that were pushed, in request order. */
  async commit(pushed: readonly IndexUpdate[]): Promise<void> {
    const repo = await this.#repo();
    const staged = await this.#staged?.catch(() => undefined);
    if (
      staged !== undefined &&
      staged.updates.length === pushed.length &&
      staged.updates.every((u, i) => u === pushed[i]) &&
      (await resolveIndexDigest(repo, this.#signal)) === staged.base.digest
    ) {
      await pushTagged(repo, staged.artifact.manifest, [staged.artifact.manifestBytes], INDEX_TAG, this.#signal);
      return;
    }
    const { entries } = await this.#read();
    await writeIndexArtifact(
      repo,
      pushed.reduce((all, u) => mergeEntry(all, u.entry, u.moveLatest), entries),
      this.#signal,
    );
  }

  async #repo() {
    return (await this.#ctx.registry(this.#host)).repository(this.#repository);
  }

  /** The index now; a damaged one is rebuilt from the catalog (search only reads, so a push is where the index is repaired). */
  async #read(): Promise<IndexBase> {
    const registry = await this.#ctx.registry(this.#host);
    const repo = registry.repository(this.#repository);
    try {
      const found = await readIndexArtifact(repo, this.#signal);
      return { digest: found?.digest, entries: found?.entries ?? [] };
    } catch (e) {
      if (!isCode(e, 'SEARCH_INDEX_INVALID')) throw e;
      const namespace = namespaceOf(this.#repository);
      const digest = await resolveIndexDigest(repo, this.#signal);
      return { digest, entries: await walk(registry, namespace === undefined ? { host: this.#host } : { host: this.#host, namespace }, this.#signal) };
    }
  }
}

/** Ends the copy of a version the registry already holds with the same content: nothing to write. */
const UNCHANGED = new Error('the version is there, unchanged');

/** What a push contributes to its namespace's search index. */
interface IndexUpdate {
  readonly host: string;
  readonly repository: string;
  readonly entry: IndexEntry;
  readonly moveLatest: boolean;
}

/**
 * `pushOne` pushes one package up to its version tag and signature, and hands back the floating
 * tags' PUTs in flight (`floating`: the tags they moved), which `pushAll` awaits. It `offer`s
 * its index update before it uploads.
 */
async function pushOne(
  ctx: Context,
  req: PushRequest,
  offer: (update: IndexUpdate) => void,
): Promise<{ result: PushResult; update: IndexUpdate; floating: Promise<string[]> }> {
  let label = req.path;
  try {
    const extra = req.tags ?? [];
    const { source, root, repository } = await openSource(ctx, req);
    if (repository !== undefined) label = req.reference!;
    // Every platform of an index is checked; they share name and version.
    const m = (await readPackages(source, root))[0]!.metadata;
    const dest = destination(ctx, req.destination ?? repository, m.name);
    const tag = versionTag(m.version);
    const repo = await openRepository(ctx, dest);
    const where = `${dest.registry}/${dest.repository}`;
    req.onEvent?.({ kind: 'resolving', ref: where });
    // The version check and the copy's own checks go out together: nothing is written before the
    // first has passed, and nothing at all for a version already there with this content.
    const checked = repo
      .tags(req.signal)
      .catch((e: unknown) => {
        if (isMissing(e)) return [] as string[];
        throw e;
      })
      .then(async (tags) => {
        if (!tags.includes(tag)) return { tags, unchanged: false };
        const existing = await repo.resolve(tag, req.signal);
        if (existing.digest !== root.digest && !req.force) {
          throw new EbpmError('VERSION_EXISTS', `${where}:${tag} already holds ${existing.digest}`, {
            hint: `bump the version in ${SOURCE_MANIFEST} and rebuild, or pass --force to replace it`,
            data: { reference: `${where}:${tag}`, existing: existing.digest, pushing: root.digest },
          });
        }
        return { tags, unchanged: existing.digest === root.digest };
      });
    const copying = copyTagged(source, repo, root, tag, {
      ...copyHooks(req.onEvent),
      lookAhead: true,
      gate: checked.then(({ unchanged }) => {
        if (unchanged) throw UNCHANGED;
      }),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    // Awaited below, whatever the check says.
    copying.catch(() => undefined);
    const { tags, unchanged } = await checked.catch(async (e: unknown) => {
      await copying.catch(() => undefined);
      throw e;
    });
    req.onEvent?.({ kind: 'resolved', ref: `${where}:${tag}`, digest: root.digest });
    const floating = floatingTags(m.version, tags).filter((t) => t === 'latest' || req.floatingTags !== false);
    const moveLatest = floating.includes('latest');
    const entry = { name: m.name, repository: dest.repository, version: m.version, description: m.description ?? '', keywords: m.keywords };
    const update = { host: dest.registry, repository: indexRepositoryOf(namespaceOf(dest.repository)), entry, moveLatest };
    offer(update);
    let stats = { copied: 0, bytes: 0 };
    const set: string[] = [];
    if (unchanged) await copying.catch(() => undefined);
    else {
      stats = await copying;
      set.push(tag);
    }
    // Signatures the source holds travel with the package; `--sign` adds one.
    await copySignatures(source, repo, root, req.signal);
    const signature =
      req.sign === undefined
        ? undefined
        : await signPackage(repo, root, req.sign.key, { format: req.sign.format, repository: where, ...(req.signal ? { signal: req.signal } : {}) });
    // After the version tag, the floating and extra tags together: each is one manifest PUT of its own.
    const moving = Promise.all(
      [...floating, ...extra.filter((t) => !floating.includes(t))].map(async (t) => {
        if (unchanged && tags.includes(t) && (await repo.resolve(t, req.signal)).digest === root.digest) return undefined;
        await repo.tag(root, t, req.signal);
        return t;
      }),
    ).then((moved) => moved.filter((t) => t !== undefined));
    // Awaited by pushAll; marked handled here, so a failure is not reported as unhandled meanwhile.
    moving.catch(() => undefined);
    const result: PushResult = {
      reference: `${where}:${tag}`,
      name: m.name,
      version: m.version,
      digest: root.digest,
      tags: set,
      unchanged,
      blobs: stats.copied,
      bytes: stats.bytes,
      ...(signature === undefined ? {} : { signature }),
    };
    return { result, update, floating: moving };
  } catch (e) {
    throw withContext(`push ${label}`, e);
  }
}

/**
 * `openSource` finds what to push at `path`, as `openLocal` reads it: an OCI layout, a package
 * directory's `out/` layout (the same tag rule), or a package directory built in memory; else
 * the package the store holds under `reference`, with that reference's repository.
 */
async function openSource(ctx: Context, req: PushRequest): Promise<{ source: ReadOnlyTarget; root: Descriptor; repository?: string }> {
  const path = req.path;
  const local = await openLocal(path, process.cwd());
  if (local?.kind === 'layout') return { source: local.layout, root: local.descriptor };
  if (local?.kind === 'directory') {
    const out = join(local.path, OUT_DIR);
    if (await stat(join(out, LAYOUT_FILE)).catch(() => undefined)) {
      const built = await openLayout(out);
      return { source: built.layout, root: built.descriptor };
    }
    // Loaded only here: the build pipeline (clang, ELF and Wasm parsers) is not a push's usual path.
    const { buildToMemory } = await import('./build.js');
    const { store, tag } = await buildToMemory(local.path, ctx.env);
    return { source: store, root: await store.resolve(tag) };
  }
  const stored = local === undefined && req.reference !== undefined ? await storedSource(ctx, req.reference) : undefined;
  if (stored !== undefined) return stored;
  throw new EbpmError(
    'NOT_FOUND',
    local === undefined ? 'no such file or directory, nor a stored package' : 'a file, not a package directory or an OCI layout',
    {
      hint: 'run ebpm push in a package directory, or give the path of one, of a built layout, or a reference `ebpm ls` lists',
    },
  );
}

/** `storedSource` is the package the store holds under `input` (offline), read with its signatures beside it; undefined when it holds none. */
async function storedSource(ctx: Context, input: string): Promise<{ source: ReadOnlyTarget; root: Descriptor; repository: string } | undefined> {
  let ref: Reference;
  try {
    ref = parseUserReference(ctx, input);
  } catch {
    return undefined;
  }
  const store = await ctx.store();
  const found = await resolveStored(store, ref);
  if (found === undefined) return undefined;
  const repository = `${ref.registry}/${ref.repository}`;
  return { source: storedRepository(store, repository), root: found.descriptor, repository };
}

/** `destination` is the repository to push to: `dest` as given (without tag or version), or the default place for `name`. */
function destination(ctx: Context, dest: string | undefined, name: string): Reference {
  const d = ctx.settings.defaults;
  const defaults = d.namespace === undefined ? { registry: d.host } : { registry: d.host, namespace: d.namespace };
  const ref = parseReference(dest ?? name, defaults);
  if (ref.tag !== undefined || ref.digest !== undefined || ref.range !== undefined) {
    throw new EbpmError('USAGE', `push to ${formatReference(ref)}: the destination names a repository, not a tag or version`, {
      hint: 'the version comes from the package metadata; give [registry/][namespace/]name',
    });
  }
  if (ref.repository.split('/').pop() === INDEX_REPOSITORY) {
    throw new EbpmError('NAME_INVALID', `push to ${formatReference(ref)}: "${INDEX_REPOSITORY}" is reserved for the search index`, {
      hint: 'give the package another name',
    });
  }
  return ref;
}
