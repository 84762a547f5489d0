/**
 * Progress of push and pull, as events a view can follow: the copy routine's hooks turned into
 * one stream. Services emit; `src/cli` renders. Nothing here knows about terminals.
 */
import { ANNOTATION_TITLE, type Descriptor } from '../core/oci.js';
import type { CopyGraphOptions } from '../content/copy.js';

/** `TransferEvent` is one step of a push or pull. */
export type TransferEvent =
  /** Resolving a reference (a spinner's worth of waiting). */
  | { readonly kind: 'resolving'; readonly ref: string }
  /** The reference names this manifest. */
  | { readonly kind: 'resolved'; readonly ref: string; readonly digest: string }
  /** A blob starts moving: `label` is its title, else its media type. */
  | { readonly kind: 'blob-start'; readonly digest: string; readonly size: number; readonly label: string }
  | { readonly kind: 'blob-progress'; readonly digest: string; readonly bytes: number }
  | { readonly kind: 'blob-done'; readonly digest: string }
  /** Already at the destination (or mounted): nothing moved. */
  | { readonly kind: 'blob-skipped'; readonly digest: string; readonly size: number; readonly label: string };

export type OnTransferEvent = (e: TransferEvent) => void;

/** `labelOf` is what a view calls a blob. */
export function labelOf(d: Descriptor): string {
  return d.annotations?.[ANNOTATION_TITLE] ?? d.mediaType;
}

/** `copyHooks` maps `copyGraph`'s hooks onto `onEvent`. */
export function copyHooks(
  onEvent: OnTransferEvent | undefined,
): Pick<CopyGraphOptions, 'onCopyStart' | 'onCopyProgress' | 'onCopyDone' | 'onSkipped' | 'onMounted'> {
  if (onEvent === undefined) return {};
  return {
    onCopyStart: (d) => onEvent({ kind: 'blob-start', digest: d.digest, size: d.size, label: labelOf(d) }),
    onCopyProgress: (d, bytes) => onEvent({ kind: 'blob-progress', digest: d.digest, bytes }),
    onCopyDone: (d) => onEvent({ kind: 'blob-done', digest: d.digest }),
    onSkipped: (d) => onEvent({ kind: 'blob-skipped', digest: d.digest, size: d.size, label: labelOf(d) }),
    onMounted: (d) => onEvent({ kind: 'blob-skipped', digest: d.digest, size: d.size, label: labelOf(d) }),
  };
}

/**
 * `PACKAGE_CONCURRENCY` is how many packages one `ebpm push`/`ebpm pull` moves at once (each
 * with its own blob concurrency): enough to hide round trips on many small packages without
 * flooding a registry.
 */
export const PACKAGE_CONCURRENCY = 4;

/** `settleAll` runs `f` over `items`, `limit` at a time, and returns every outcome in input order. */
export async function settleAll<T, R>(items: readonly T[], limit: number, f: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
