/**
 * `ebpm cp <src-ref> <dst-ref>`: copy a package to another repository or registry, as `oras cp`
 * and `skopeo copy` do, with everything attached to it (signatures in every shape, attestations,
 * SBOMs: sign.ts `copySignatures`). The source is the local store when it holds the reference
 * (offline, as `verify` reads it: trust.ts `locatePackage`), else its registry. The destination
 * keeps the source's tag unless it names one; a version tag holding other content there is
 * `VERSION_EXISTS` unless `force`, as for push. Floating tags and the search index are push's.
 */
import { EbpmError, withContext } from '../core/errors.js';
import { formatReference } from '../core/reference.js';
import { copyTagged } from '../content/copy.js';
import { tagVersion } from '../package/version.js';
import type { Context } from './context.js';
import { isMissing, openRepository, parseUserReference } from './resolve.js';
import { copySignatures, type CopiedSignatures } from './sign.js';
import { copyHooks, type OnTransferEvent } from './transfer.js';
import { locatePackage } from './trust.js';

export interface CopyRequest {
  readonly source: string;
  readonly destination: string;
  /** Replace a version tag that holds other content at the destination. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly onEvent?: OnTransferEvent;
}

export interface CopyResult {
  /** The source as resolved: the store's name for it, or `host/repo:tag` at its registry. */
  readonly source: string;
  readonly from: 'store' | 'registry';
  /** `host/repo:tag` */
  readonly destination: string;
  readonly digest: string;
  /** The destination's tag held this content already: no package content was sent. */
  readonly unchanged: boolean;
  readonly blobs: number;
  readonly bytes: number;
  /** What was attached to the package at the source and the destination holds now. */
  readonly attached: CopiedSignatures;
}

/** `copyPackage` runs one copy; errors read `cp <source>: …`. */
export async function copyPackage(ctx: Context, req: CopyRequest): Promise<CopyResult> {
  try {
    const dst = parseUserReference(ctx, req.destination);
    if (dst.digest !== undefined || dst.range !== undefined) {
      throw new EbpmError('USAGE', `${req.destination}: the destination takes a tag, not a digest or version range`, {
        hint: 'give [registry/][namespace/]name[:tag]; without a tag the source keeps its own',
      });
    }
    const where = await locatePackage(ctx, req.source, req.signal);
    const root = where.resolved.descriptor;
    const tag = dst.tag ?? where.resolved.tag;
    if (tag === undefined) {
      throw new EbpmError('USAGE', `${req.destination}: name a tag for the copy`, {
        hint: `the source is named by its digest; give ${formatReference({ ...dst, tag: 'TAG' })}`,
      });
    }
    const repo = await openRepository(ctx, dst);
    const destination = `${dst.registry}/${dst.repository}:${tag}`;
    req.onEvent?.({ kind: 'resolving', ref: destination });
    const held = await repo.resolve(tag, req.signal).catch((e: unknown) => {
      if (isMissing(e)) return undefined;
      throw e;
    });
    const unchanged = held?.digest === root.digest;
    if (held !== undefined && !unchanged && tagVersion(tag) !== undefined && !req.force) {
      throw new EbpmError('VERSION_EXISTS', `${destination} already holds ${held.digest}`, {
        hint: 'versions are immutable; pass --force to replace it, or copy to another tag',
        data: { reference: destination, existing: held.digest, copying: root.digest },
      });
    }
    req.onEvent?.({ kind: 'resolved', ref: destination, digest: root.digest });
    const opts = { ...copyHooks(req.onEvent), ...(req.signal ? { signal: req.signal } : {}) };
    const stats = unchanged ? { copied: 0, bytes: 0 } : await copyTagged(where.source, repo, root, tag, opts);
    const attached = await copySignatures(where.source, repo, root, req.signal);
    return {
      source: where.resolved.storeRef,
      from: where.from,
      destination,
      digest: root.digest,
      unchanged,
      blobs: stats.copied,
      bytes: stats.bytes,
      attached,
    };
  } catch (e) {
    throw withContext(`cp ${req.source}`, e);
  }
}
