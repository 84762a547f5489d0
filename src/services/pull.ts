/**
 * `ebpm pull`: copy a package from its registry into the local store, under the pull policy:
 * - `always`: resolve at the registry every time;
 * - `missing` (default): a reference pinned to a version tag or a digest is taken from the store
 *   when there (no network at all); `latest`, bare names and ranges re-resolve at the registry,
 *   and fall back to the store when the registry cannot be reached;
 * - `never`: the store only.
 * Re-resolving a package already stored costs one manifest request (plus the tag list for
 * ranges and bare names): the copy finds the root manifest present and moves nothing, and the
 * signature lookups (trust.ts, sign.ts) are skipped when the store holds the package under that
 * name and a decision for its digest under the current policy is recorded. A first pull reads
 * the signatures once, for the trust check and the store alike. The store is only tagged once
 * the whole graph is in (OciLayout.tag), so an interrupted pull leaves no entry behind.
 */
import { EbpmError, isCode, withContext } from '../core/errors.js';
import { formatPlatform, hostPlatform } from '../core/arch.js';
import { ANNOTATION_EBPM_PULLED_AT, ANNOTATION_EBPM_SOURCE, type Descriptor, type Platform } from '../core/oci.js';
import type { Fetcher } from '../content/storage.js';
import { formatReference, type Reference } from '../core/reference.js';
import { copyGraph } from '../content/copy.js';
import { DEFAULT_PULL_DEADLINE_MS, deadline } from '../registry/deadline.js';
import type { OciLayout } from '../store/layout.js';
import { dropBroken } from '../store/maintenance.js';
import type { Context } from './context.js';
import { isMissing, isOffline, openRepository, parseUserReference, resolveRemote, resolveStored, selectPlatform, type Resolved } from './resolve.js';
import { packageFromTarget, type PackageSource, type PullPolicy } from './run-source.js';
import { copyHooks, type OnTransferEvent } from './transfer.js';
import { nearPath, nearStoredName, withStoredGuess } from './guess.js';
import { findAttachedTags, pullSignatures, type FoundSignatures } from './sign.js';
import { admitResolved, requirementFor, type Admission } from './trust.js';

export interface PullRequest {
  readonly reference: string;
  readonly policy: PullPolicy;
  readonly includePrerelease?: boolean;
  /** The platform an index must offer (`--platform`); this machine's by default. */
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
  readonly onEvent?: OnTransferEvent;
  /** What the caller found for this reference in the store (`resolveStored`), which need not be looked up again. */
  readonly stored?: Resolved;
}

export interface PullResult {
  /** The store's name for it: `host/repo:tag` (or `host/repo@digest`). */
  readonly reference: string;
  readonly tag: string | undefined;
  readonly digest: string;
  /** The manifest (or index) as resolved once and admitted: what `run` loads, by digest. */
  readonly descriptor: Descriptor;
  /** Where it came from this time: the registry, or the store (policy, or offline). */
  readonly from: 'registry' | 'store';
  /** The registry could not be reached and the store answered instead. */
  readonly offline: boolean;
  /** Blobs and bytes copied now (0 when up to date). */
  readonly blobs: number;
  readonly bytes: number;
  /** The store already held it under this name: nothing changed. */
  readonly upToDate: boolean;
  /** The trust policy's decision (trust.ts); `decision.warn`: tell the user it is not signed by a trusted key. */
  readonly trust: Admission;
  /**
   * A multi-platform package: the platform asked for and its manifest, and every platform the
   * index offers (all of them are stored: the store keeps the package as published).
   */
  readonly platform?: { readonly platform: string; readonly digest: string; readonly offered: readonly string[] };
}

/**
 * `pull` runs one pull; errors read `pull <reference>: …`. What asks the registry runs under one
 * deadline (`timeouts.pullMs`), besides each request's own: a registry that answers every request
 * just in time must still not keep a pull going forever. What the store answers starts no timer.
 */
export async function pull(ctx: Context, req: PullRequest): Promise<PullResult> {
  try {
    return await pullRef(ctx, parseUserReference(ctx, req.reference), req);
  } catch (e) {
    throw withContext(`pull ${req.reference}`, await withStoredGuess(ctx, req.reference, e));
  }
}

/** A tag other than `latest`, or a digest, names fixed content: the store may answer without asking. */
function isPinned(ref: Reference): boolean {
  return ref.digest !== undefined || (ref.tag !== undefined && ref.tag !== 'latest');
}

async function pullRef(ctx: Context, ref: Reference, req: PullRequest): Promise<PullResult> {
  const store = await ctx.store();
  if (req.policy === 'never' || (req.policy === 'missing' && isPinned(ref))) {
    const stored = req.stored ?? (await resolveStored(store, ref, resolveOptions(req)));
    if (stored !== undefined) return fromStore(ctx, store, stored, req, false);
    if (req.policy === 'never') throw notStored(ref, store.root);
  }
  const limit = deadline(
    ctx.client.timeouts?.pullMs ?? DEFAULT_PULL_DEADLINE_MS,
    'pull',
    'the registry is too slow to pull from in time; try again later, or raise EBPM_PULL_DEADLINE_MS',
    req.signal,
  );
  try {
    return await pullRemote(ctx, store, ref, { ...req, signal: limit.signal });
  } finally {
    limit.clear();
  }
}

function resolveOptions(req: PullRequest): { includePrerelease: boolean; signal?: AbortSignal } {
  return { includePrerelease: req.includePrerelease ?? false, ...(req.signal ? { signal: req.signal } : {}) };
}

/** `fromStore` is the pull's result for `r`, as the store holds it: nothing copied, admitted under the trust policy. */
async function fromStore(ctx: Context, store: OciLayout, r: Resolved, req: PullRequest, offline: boolean): Promise<PullResult> {
  return {
    ...(await platformOf(store, r, req.platform ?? hostPlatform(), req.signal)),
    reference: r.storeRef,
    tag: r.tag,
    digest: r.descriptor.digest,
    descriptor: r.descriptor,
    from: 'store',
    offline,
    blobs: 0,
    bytes: 0,
    upToDate: true,
    trust: await admitResolved(ctx, r, store, req.signal),
  };
}

/** `pullRemote` resolves `ref` at its registry and copies it in; the store answers instead when it cannot be reached (`missing`). */
async function pullRemote(ctx: Context, store: OciLayout, ref: Reference, req: PullRequest): Promise<PullResult> {
  const opts = resolveOptions(req);
  req.onEvent?.({ kind: 'resolving', ref: formatReference(ref) });
  let resolved: Resolved;
  try {
    resolved = await resolveRemote(ctx, ref, opts);
  } catch (e) {
    if (req.policy !== 'missing' || !isOffline(e)) throw e;
    const stored = await resolveStored(store, ref, opts);
    if (stored === undefined) throw e;
    return fromStore(ctx, store, stored, req, true);
  }
  req.onEvent?.({ kind: 'resolved', ref: resolved.storeRef, digest: resolved.descriptor.digest });
  // An index without the platform is refused before anything is copied.
  const platform = await platformOf(await openRepository(ctx, resolved.ref), resolved, req.platform ?? hostPlatform(), req.signal);
  const stats = await fetchInto(ctx, store, resolved, req);
  return {
    ...platform,
    reference: resolved.storeRef,
    tag: resolved.tag,
    digest: resolved.descriptor.digest,
    descriptor: resolved.descriptor,
    from: 'registry',
    offline: false,
    blobs: stats.copied,
    bytes: stats.bytes,
    upToDate: stats.upToDate,
    trust: stats.trust,
  };
}

/**
 * `fetchInto` copies a resolved manifest's graph into the store and tags it, recording when and
 * from where (`dev.ebpm.pulled-at`, `dev.ebpm.source`). A ref already pointing at the digest is left as it is.
 */
export async function fetchInto(
  ctx: Context,
  store: OciLayout,
  r: Resolved,
  req: Pick<PullRequest, 'signal' | 'onEvent'>,
): Promise<{ copied: number; bytes: number; upToDate: boolean; trust: Admission }> {
  const current = await store.resolve(r.storeRef).catch(() => undefined);
  const upToDate = current?.digest === r.descriptor.digest;
  // Read before the admission starts, so that no await lies between its start and its being awaited.
  const policy = await ctx.trustPolicy();
  const repo = await openRepository(ctx, r.ref);
  let found: FoundSignatures | undefined;
  const admission = admitResolved(ctx, r, 'registry', req.signal, (f) => (found = f));
  // A package stored anew always takes its signatures along: cosign's tags are asked for beside
  // the download instead of after it (awaited by pullSignatures; marked handled meanwhile).
  const attached = upToDate ? undefined : findAttachedTags(repo, r.descriptor, req.signal);
  attached?.catch(() => undefined);
  const copyIn = async () => copyGraph(repo, store, r.descriptor, { ...copyHooks(req.onEvent), ...(req.signal ? { signal: req.signal } : {}) });
  // A scope that requires a signature decides before the copy, so a refused package is never
  // stored; one that cannot refuse (`warn`, `none`) has its signatures looked up beside the copy.
  const [trust, copied] =
    requirementFor(policy, `${r.ref.registry}/${r.ref.repository}`) === 'require-signature'
      ? [await admission, await copyIn()]
      : await Promise.all([admission, copyIn()]);
  let stats = copied;
  if (!upToDate) {
    const source = `${r.ref.registry}/${r.ref.repository}@${r.descriptor.digest}`;
    const entry: Descriptor = { ...r.descriptor, annotations: { [ANNOTATION_EBPM_PULLED_AT]: new Date().toISOString(), [ANNOTATION_EBPM_SOURCE]: source } };
    try {
      await store.tag(entry, r.storeRef);
    } catch (e) {
      if (!isCode(e, 'GRAPH_INCOMPLETE')) throw e;
      // The store held the manifest without all of its graph (a blob lost outside ebpm), so the
      // copy skipped it: remove what is broken, and the copy again is an ordinary one.
      await dropBroken(store, [r.descriptor]);
      stats = await copyIn();
      await store.tag(entry, r.storeRef);
    }
  }
  // Stored under this name with a decision current under this policy: its signatures were
  // stored with it, so a re-pull asks the registry for nothing more than the manifest.
  if (!(upToDate && trust.cached)) await pullSignatures(ctx, store, r, req.signal, found, attached);
  return { copied: stats.copied, bytes: stats.bytes, upToDate, trust };
}

/** The platform `want` of a resolved index (`selectPlatform`, which refuses an index without it); nothing for a plain manifest. */
async function platformOf(target: Fetcher, r: Resolved, want: Platform, signal?: AbortSignal): Promise<Pick<PullResult, 'platform'>> {
  const choice = await selectPlatform(target, r.descriptor, want, signal ? { signal } : {});
  if (choice.platforms.length === 0) return {};
  return {
    platform: { platform: formatPlatform(want), digest: choice.descriptor.digest, offered: choice.platforms.map((m) => formatPlatform(m.platform)) },
  };
}

function notStored(ref: Reference, where: string): EbpmError {
  return new EbpmError('NOT_STORED', `${formatReference(ref)}: not in the local store (${where})`, {
    hint: 'pull it first (ebpm pull), or run with --pull missing; root and users have separate stores (EBPM_STORE picks one)',
    data: { reference: formatReference(ref), store: where },
  });
}

/**
 * `referenceSource` lets `ebpm run` take registry references: pulled under the run's policy,
 * then read from the store. As root under sudo, a reference not in root's store is looked up,
 * read-only, in the sudo user's store before any network is used (policies `missing`, `never`).
 */
export function referenceSource(open: () => Promise<Context>): PackageSource {
  return {
    async resolve(arg, opts) {
      const ctx = await open();
      let ref: Reference;
      try {
        ref = parseUserReference(ctx, arg);
      } catch {
        return undefined;
      }
      const name = ref.repository.split('/').pop()!;
      let inRoot: Resolved | undefined;
      if (opts.pull !== 'always') {
        const user = await ctx.userStore();
        inRoot = await resolveStored(await ctx.store(), ref, {});
        const inUser = inRoot === undefined && user !== undefined ? await resolveStored(user, ref, {}) : undefined;
        if (inUser !== undefined && user !== undefined) {
          // What was admitted is what is read: the descriptor resolved once, never the tag again.
          const trust = await admitResolved(ctx, inUser, user, opts.signal);
          return {
            ...(await packageFromTarget(user, inUser.descriptor, { source: arg, name, ...(opts.signal ? { signal: opts.signal } : {}), onWasm: opts.onWasm })),
            trust,
            digest: inUser.descriptor.digest,
          };
        }
      }
      const r = await pull(ctx, {
        reference: arg,
        policy: opts.pull,
        ...(inRoot ? { stored: inRoot } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      }).catch(async (e: unknown) => {
        throw isMissing(e) ? await unknownPackage(ctx, arg, name, opts.cwd, e) : e;
      });
      try {
        return {
          ...(await packageFromTarget(await ctx.store(), r.descriptor, {
            source: arg,
            name,
            ...(opts.signal ? { signal: opts.signal } : {}),
            onWasm: opts.onWasm,
          })),
          trust: r.trust,
          digest: r.descriptor.digest,
        };
      } catch (e) {
        throw withContext(arg, e);
      }
    },
  };
}

/**
 * `unknownPackage` is what `run` says of an argument that is neither a path nor a package where
 * it looked: both, not a pull's "push to create it", with the closest path or stored name if one is near.
 */
async function unknownPackage(ctx: Context, arg: string, name: string, cwd: string, cause: unknown): Promise<EbpmError> {
  const why = (cause as Error).message.replace(`pull ${arg}: `, '');
  const near = (await nearPath(cwd, arg)) ?? (await nearStoredName(ctx, name));
  return new EbpmError('NOT_FOUND', `${arg}: no such file or directory, and ${why}`, {
    hint: near === undefined ? 'check the name and version; `ebpm ls` lists the stored packages' : `did you mean ${near}?`,
    data: { reference: arg },
    cause,
  });
}
