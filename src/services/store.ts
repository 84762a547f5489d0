/**
 * The local store's commands: `ls`, `rm`, `prune`, `verify` (with repair by re-pull), `tag`,
 * `export` and `import`. References name stored packages the way pull names them
 * (`host/repo:tag`); short forms resolve with the default registry, and versions and ranges pick
 * among what is stored (offline).
 */
import { resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { EbpmError, withContext } from '../core/errors.js';
import { withStoredGuess } from './guess.js';
import { ANNOTATION_EBPM_PULLED_AT, ANNOTATION_EBPM_SOURCE, ANNOTATION_REF_NAME, type Descriptor } from '../core/oci.js';
import type { ArchiveEntry } from '../store/archive.js';
import { list, prune, remove, verifyStore, type PruneStats, type StoreEntry, type VerifyStats } from '../store/maintenance.js';
import type { Context } from './context.js';
import type { Resolved } from './resolve.js';
import { isSideTag } from '../sign/payload.js';

// What only some of these commands use loads in them: `ls` reads the index and the packages' metadata only.

/**
 * `listStored` lists the packages the store holds, sorted by reference (their signatures are not
 * listed); with `filters`, those that match one of them (`matchesFilter`).
 */
export async function listStored(ctx: Context, filters: readonly string[] = []): Promise<StoreEntry[]> {
  return (await list(await ctx.store())).filter((e) => !isSideTag(e.ref) && (filters.length === 0 || filters.some((f) => matchesFilter(e, f))));
}

/**
 * `matchesFilter` tells whether `ebpm ls <filter>` shows `entry`: a filter with `*` or `?` is a
 * glob that must match the whole package name, reference, or reference without its registry
 * (`sig*`, `sigsnoop:1.*`; `*` is any run of characters, `/` included, `?` one); any other is
 * a part of the name or of the reference without its registry (`snoop`, `acme/`).
 */
export function matchesFilter(entry: Pick<StoreEntry, 'ref' | 'name'>, filter: string): boolean {
  const path = entry.ref.slice(entry.ref.indexOf('/') + 1);
  if (!/[*?]/.test(filter)) return entry.name.includes(filter) || path.includes(filter);
  const glob = new RegExp(
    `^${filter
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
    's',
  );
  return glob.test(entry.name) || glob.test(entry.ref) || glob.test(path);
}

/** `findStored` pins a user reference to a stored one, or throws `NOT_STORED`. */
export async function findStored(ctx: Context, input: string): Promise<Resolved> {
  const [{ parseUserReference, resolveStored }, { formatReference }] = await Promise.all([import('./resolve.js'), import('../core/reference.js')]);
  const ref = parseUserReference(ctx, input);
  const found = await resolveStored(await ctx.store(), ref);
  if (found === undefined) {
    throw await withStoredGuess(
      ctx,
      input,
      new EbpmError('NOT_STORED', `${formatReference(ref)}: not in the local store`, {
        hint: 'see what is stored with `ebpm ls`, or pull it first',
        data: { reference: formatReference(ref) },
      }),
    );
  }
  return found;
}

/** `removeStored` untags one stored reference and prunes what only it used. */
export async function removeStored(ctx: Context, input: string): Promise<{ reference: string; digest: string; pruned: PruneStats }> {
  try {
    const found = await findStored(ctx, input);
    const { removed, pruned } = await remove(await ctx.store(), found.storeRef);
    return { reference: found.storeRef, digest: removed.digest, pruned };
  } catch (e) {
    throw withContext(`rm ${input}`, e);
  }
}

/** `pruneStore` removes every blob no stored reference uses. */
export async function pruneStore(ctx: Context): Promise<PruneStats> {
  return prune(await ctx.store());
}

/** `VerifyReport` is what verify found and fixed, plus what re-pulling repaired. */
export interface VerifyReport extends VerifyStats {
  /** Dropped references pulled again (same digest). */
  readonly repaired: string[];
  /** Dropped references that could not be pulled again, with why. */
  readonly unrepaired: { ref: string; reason: string }[];
}

/**
 * `verifyAndRepair` re-hashes the whole store (maintenance.verifyStore) and, unless `repair` is
 * false, pulls every dropped reference again by digest from where it came from
 * (`dev.ebpm.source`, else its own name).
 */
export async function verifyAndRepair(ctx: Context, opts: { repair: boolean; signal?: AbortSignal }): Promise<VerifyReport> {
  const store = await ctx.store();
  const before = new Map((await store.readIndex()).manifests.map((d) => [d.annotations?.[ANNOTATION_REF_NAME] ?? '', d]));
  const stats = await verifyStore(store);
  const repaired: string[] = [];
  const unrepaired: { ref: string; reason: string }[] = [];
  if (opts.repair && stats.droppedEntries.length > 0) {
    const [{ fetchInto }, { isOffline }, { parseReference }] = await Promise.all([import('./pull.js'), import('./resolve.js'), import('../core/reference.js')]);
    const repairTarget = (storeRef: string, entry: Descriptor): Resolved => {
      const from = parseReference(entry.annotations?.[ANNOTATION_EBPM_SOURCE] ?? storeRef);
      const descriptor: Descriptor = {
        mediaType: entry.mediaType,
        digest: entry.digest,
        size: entry.size,
        ...(entry.artifactType ? { artifactType: entry.artifactType } : {}),
      };
      return { ref: { registry: from.registry, repository: from.repository }, tag: parseReference(storeRef).tag, descriptor, storeRef };
    };
    // Each is pulled from its recorded source repository, pinned to its digest.
    for (const dropped of stats.droppedEntries) {
      if (dropped.ref === undefined) continue;
      try {
        await fetchInto(ctx, store, repairTarget(dropped.ref, before.get(dropped.ref)!), opts.signal ? { signal: opts.signal } : {});
        repaired.push(dropped.ref);
      } catch (e) {
        unrepaired.push({ ref: dropped.ref, reason: isOffline(e) ? 'registry unreachable' : e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return { ...stats, repaired, unrepaired };
}

/** `tagStored` gives a stored package another name in the store (`ebpm tag <src> <dst>`; `dst` defaults its tag to `latest`). */
export async function tagStored(ctx: Context, src: string, dst: string): Promise<{ source: string; target: string; digest: string }> {
  try {
    const found = await findStored(ctx, src);
    const store = await ctx.store();
    const entry = await store.resolve(found.storeRef);
    const { parseUserReference } = await import('./resolve.js');
    const to = parseUserReference(ctx, dst);
    if (to.digest !== undefined || to.range !== undefined) {
      throw new EbpmError('USAGE', `tag: ${dst}: the new name takes a tag, not a digest or range`, { hint: 'usage: ebpm tag <source> <name[:tag]>' });
    }
    const target = `${to.registry}/${to.repository}:${to.tag ?? 'latest'}`;
    const { [ANNOTATION_EBPM_PULLED_AT]: pulledAt, [ANNOTATION_EBPM_SOURCE]: source } = entry.annotations ?? {};
    const annotations: Record<string, string> = {
      ...(pulledAt ? { [ANNOTATION_EBPM_PULLED_AT]: pulledAt } : {}),
      ...(source ? { [ANNOTATION_EBPM_SOURCE]: source } : {}),
    };
    await store.tag({ ...found.descriptor, ...(Object.keys(annotations).length ? { annotations } : {}) }, target);
    // cosign's `.sig`, `.att` and `.sbom` manifests are named beside the package (sign.ts): the new name gets those it lacks.
    const { storedSignatureRefs } = await import('./sign.js');
    const held = new Set(await store.tags());
    const from = `${found.ref.registry}/${found.ref.repository}:`;
    for (const ref of await storedSignatureRefs(store, [found])) {
      const side = `${to.registry}/${to.repository}:${ref.slice(from.length)}`;
      const d = await store.resolve(ref);
      if (!held.has(side)) await store.tag({ mediaType: d.mediaType, digest: d.digest, size: d.size }, side);
    }
    return { source: found.storeRef, target, digest: found.descriptor.digest };
  } catch (e) {
    throw withContext(`tag ${src}`, e);
  }
}

/**
 * `exportStored` writes stored packages (with their stored referrers) to an OCI layout tar: the
 * file `to` (relative to `cwd`), or a stream (`ebpm export <ref> -`: stdout), named `-` in errors.
 */
export async function exportStored(ctx: Context, inputs: readonly string[], to: string | NodeJS.WritableStream, cwd: string): Promise<ArchiveEntry[]> {
  const file = typeof to === 'string' ? to : '-';
  try {
    const found: Resolved[] = [];
    for (const i of inputs) found.push(await findStored(ctx, i));
    const store = await ctx.store();
    const [{ storedSignatureRefs }, { exportArchive }] = await Promise.all([import('./sign.js'), import('../store/archive.js')]);
    // cosign's `.sig`, `.att` and `.sbom` manifests are tagged beside the package (sign.ts): name them so they travel too.
    const refs = [...found.map((r) => r.storeRef), ...(await storedSignatureRefs(store, found))];
    return await exportArchive(store, refs, typeof to === 'string' ? resolvePath(cwd, to) : to);
  } catch (e) {
    throw withContext(`export ${file}`, typeof to === 'string' ? e : streamError(e));
  }
}

/** `streamError` says what a failed write to the stream an archive goes to (stdout) means; other errors pass unchanged. */
function streamError(e: unknown): unknown {
  const errno = e as NodeJS.ErrnoException;
  if (errno?.syscall !== 'write') return e;
  // The reader of a pipe went away (`| head`), or the terminal hung up.
  if (errno.code === 'EPIPE' || errno.code === 'EIO') {
    return new EbpmError('OUTPUT_FAILED', 'write stdout: the reader went away before the end of the archive', {
      hint: 'what it read is a truncated tar, which ebpm import refuses; export again to a reader that takes it all',
      cause: e,
    });
  }
  return new EbpmError('OUTPUT_FAILED', `write stdout: ${errno.code ?? errno.message}`, {
    hint: 'free space or fix where stdout goes, then export again',
    cause: e,
  });
}

/**
 * `importToStore` reads an OCI layout tar into the store, all or nothing (refusing traversal,
 * links and damage: store/archive.ts): the file `from` (relative to `cwd`), or a stream
 * (`ebpm import -`: stdin), named `-` in errors; `force` lets it move tags the store already has.
 */
export async function importToStore(ctx: Context, from: string | Readable, cwd: string, opts: { force: boolean }): Promise<ArchiveEntry[]> {
  const { importArchive } = await import('../store/archive.js');
  if (typeof from === 'string') return importArchive(resolvePath(cwd, from), await ctx.store(), opts);
  return importArchive('-', await ctx.store(), { ...opts, input: from });
}
