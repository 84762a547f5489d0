import { EbpmError, isEbpmError } from '../core/errors.js';
import { MAX_MANIFEST_BYTES, type Descriptor } from '../core/oci.js';
import { isGraphNode, parseNode } from './graph.js';
import {
  canListReferrers,
  canMount,
  canPushReference,
  fetchAll,
  type Content,
  type ReadOnlyStorage,
  type ReadOnlyTarget,
  type Storage,
  type Target,
} from './storage.js';
import { VerifiedContent } from './verify.js';

/**
 * `CopyGraphOptions` tunes `copyGraph` (after oras-go v2.6 `CopyGraphOptions`). Hooks let a UI
 * follow progress; the algorithm never renders anything.
 */
export interface CopyGraphOptions {
  /** Transfers in flight at once. Default 3, as oras-go, dockerd and containerd; values ≤ 0 mean the default. */
  concurrency?: number;
  /** Largest manifest or index fetched. Default `MAX_MANIFEST_BYTES` (4 MiB). */
  maxMetadataBytes?: number;
  /** Most descriptors (manifests and blobs) in one graph; a bigger one fails with `GRAPH_TOO_LARGE`. Default `DEFAULT_MAX_NODES`. */
  maxNodes?: number;
  /**
   * Most bytes in one graph, by the descriptors' declared sizes (which the verifying pass holds
   * every byte to), counted as each manifest is parsed, before its children are asked for; a
   * bigger graph fails with `GRAPH_TOO_LARGE`. Default unbounded.
   */
  maxBytes?: number;
  /** Also copy, recursively, the manifests whose `subject` is a copied manifest (signatures, SBOMs). Default false. */
  referrers?: boolean;
  /** When the destination can mount (`Mounter`), try mounting blobs from this repository before copying bytes. */
  mountFrom?: string;
  /**
   * The source is local and the destination remote (a push): each manifest is read while the
   * destination is asked whether it has it, and the destination is asked about its children
   * at once, one round trip instead of two before their uploads. A destination that had the
   * manifest was asked about its children for nothing. Default false.
   */
  lookAhead?: boolean;
  /**
   * Nothing is written to the destination, and no hook called, before this resolves: the
   * destination's checks and the source's reads go ahead meanwhile (a push checks its version
   * tag). A rejection fails the copy with its reason, nothing written.
   */
  gate?: Promise<unknown>;
  signal?: AbortSignal;
  onCopyStart?(desc: Descriptor): void;
  /** Bytes of `desc` pushed so far. */
  onCopyProgress?(desc: Descriptor, bytes: number): void;
  onCopyDone?(desc: Descriptor): void;
  /** `desc` was already at the destination (a manifest's subgraph is then taken as present too). */
  onSkipped?(desc: Descriptor): void;
  onMounted?(desc: Descriptor): void;
}

/** `CopyOptions` tunes `copy`: the graph options plus what to record on the destination tag. */
export interface CopyOptions extends CopyGraphOptions {
  /** Annotations merged into the root descriptor given to `dst.tag` (e.g. `dev.ebpm.pulled-at` for the local store). */
  annotations?: Record<string, string>;
}

/** `CopyStats` counts what a copy did. */
export interface CopyStats {
  copied: number;
  skipped: number;
  mounted: number;
  /** Bytes pushed to the destination. */
  bytes: number;
}

/** `DEFAULT_CONCURRENCY` is 3, consistent with oras-go, dockerd and containerd. */
export const DEFAULT_CONCURRENCY = 3;

/**
 * `DEFAULT_MAX_NODES` is 1000 descriptors: an ebpm package is a handful, a multi-platform index
 * with signatures a few dozen; a graph of thousands costs minutes of requests for nothing ebpm runs.
 */
export const DEFAULT_MAX_NODES = 1000;

type Side = 'source' | 'destination';

/**
 * `copyGraph` copies the graph rooted at `root` from `src` to `dst`, children before parents so
 * that a destination never holds a manifest whose children are missing. Content the destination
 * already has is skipped (with its whole subgraph); every byte read from `src` is verified, once
 * (the destination receives it as `VerifiedContent`). It is the one copy routine: push, pull,
 * export and import all use it. On failure it waits for the transfers in flight to stop, then
 * throws an error naming the side and the descriptor (`data.side`, `data.descriptor`).
 */
export function copyGraph(src: ReadOnlyStorage, dst: Storage, root: Descriptor, opts: CopyGraphOptions = {}): Promise<CopyStats> {
  return copyGraphWith(src, dst, root, opts, undefined);
}

/**
 * `copyTagged` copies the graph rooted at `root` to `dst` and tags it `ref` there: when `dst`
 * can push by reference (`ReferencePusher`, a registry) and the root is not there yet, the root
 * goes in one request under `ref` instead of a push by digest and a tag (oras-go `Copy` does the
 * same). `tagged` is the descriptor given to `dst.tag` otherwise.
 */
export async function copyTagged(
  src: ReadOnlyStorage,
  dst: Target,
  root: Descriptor,
  ref: string,
  opts: CopyGraphOptions = {},
  tagged = root,
): Promise<CopyStats> {
  let pushed = false;
  const pushRoot = canPushReference(dst)
    ? async (content: VerifiedContent, signal: AbortSignal) => {
        await dst.pushReference(tagged, content, ref, signal);
        pushed = true;
      }
    : undefined;
  const stats = await copyGraphWith(src, dst, root, opts, pushRoot);
  if (!pushed) {
    try {
      await dst.tag(tagged, ref, opts.signal);
    } catch (e) {
      throw withSide('destination', `tag ${ref}`, e, root);
    }
  }
  return stats;
}

async function copyGraphWith(
  src: ReadOnlyStorage,
  dst: Storage,
  root: Descriptor,
  opts: CopyGraphOptions,
  pushRoot: ((content: VerifiedContent, signal: AbortSignal) => Promise<void>) | undefined,
): Promise<CopyStats> {
  const o = resolveOptions(opts);
  if (o.referrers && !canListReferrers(src)) {
    throw new EbpmError('UNSUPPORTED', 'copy referrers: the source cannot list referrers', {
      hint: 'copy without referrers, or from a store that supports the OCI 1.1 referrers API',
    });
  }
  const internal = new AbortController();
  const signal = o.signal === undefined ? internal.signal : AbortSignal.any([o.signal, internal.signal]);
  const slots = new Semaphore(o.concurrency);
  const visits = new Map<string, Promise<void>>();
  const stats: CopyStats = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  let declared = 0;
  let first: unknown;

  const tooLarge = (desc: Descriptor, nodes: number): EbpmError =>
    new EbpmError('GRAPH_TOO_LARGE', `${desc.digest}: the graph holds more than ${o.maxNodes} descriptors (${nodes} so far)`, {
      hint: 'the package names far more manifests and blobs than any package needs; it is broken or hostile',
      data: { descriptor: desc, maxNodes: o.maxNodes },
    });
  const tooHeavy = (desc: Descriptor, bytes: number): EbpmError =>
    new EbpmError('GRAPH_TOO_LARGE', `${desc.digest}: the graph declares more than ${o.maxBytes} bytes (${bytes} so far)`, {
      hint: 'the content is far larger than allowed here; it is broken or hostile',
      data: { descriptor: desc, maxBytes: o.maxBytes },
    });
  const overBytes = (more: number) => o.maxBytes !== undefined && declared + more > o.maxBytes;

  const visit = (desc: Descriptor): Promise<void> => {
    let p = visits.get(desc.digest);
    if (p === undefined) {
      const refused = visits.size >= o.maxNodes ? tooLarge(desc, visits.size + 1) : overBytes(desc.size) ? tooHeavy(desc, declared + desc.size) : undefined;
      declared += desc.size;
      p = (refused === undefined ? copyNode(desc) : Promise.reject(refused)).catch((e: unknown) => {
        if (first === undefined) first = e;
        internal.abort();
        throw e;
      });
      visits.set(desc.digest, p);
    }
    return p;
  };

  // Awaited by every node once its check is answered; it may reject before any is.
  o.gate?.catch(() => undefined);

  /** The destination's answers asked for ahead (`lookAhead`), by digest, each taken once. */
  const asked = new Map<string, Promise<boolean>>();
  const exists = (desc: Descriptor): Promise<boolean> => {
    const ahead = asked.get(desc.digest);
    asked.delete(desc.digest);
    return ahead ?? dst.exists(desc, signal);
  };

  const readNode = async (desc: Descriptor) => {
    const bytes = await slots.run(() => onSide('source', 'fetch', desc, () => fetchAll(src, desc, o.maxMetadataBytes, signal)));
    const node = await onSide('source', 'parse', desc, async () => parseNode(desc, bytes));
    // No look ahead past a graph the limits refuse (below).
    if (o.lookAhead && visits.size + node.children.length <= o.maxNodes) {
      for (const c of node.children) {
        if (visits.has(c.digest) || asked.has(c.digest)) continue;
        const answer = dst.exists(c, signal);
        // Awaited when the child is visited; not at all when the destination had this node.
        answer.catch(() => undefined);
        asked.set(c.digest, answer);
      }
    }
    return { bytes, node };
  };

  const copyNode = async (desc: Descriptor): Promise<void> => {
    signal.throwIfAborted();
    const ahead = o.lookAhead && isGraphNode(desc) ? readNode(desc) : undefined;
    ahead?.catch(() => undefined);
    const present = await onSide('destination', 'check', desc, () => exists(desc));
    await o.gate;
    if (present) {
      stats.skipped++;
      o.onSkipped?.(desc);
    } else if (isGraphNode(desc)) {
      const { bytes, node } = await (ahead ?? readNode(desc));
      // Counted before any child is asked for: an index of thousands fails at once.
      const fresh = new Map(node.children.filter((c) => !visits.has(c.digest)).map((c) => [c.digest, c.size]));
      if (visits.size + fresh.size > o.maxNodes) throw tooLarge(desc, visits.size + fresh.size);
      const weight = [...fresh.values()].reduce((a, b) => a + b, 0);
      if (overBytes(weight)) throw tooHeavy(desc, declared + weight);
      await Promise.all(node.children.map(visit));
      await slots.run(() => transfer(desc, [bytes], async () => [bytes]));
    } else if (
      o.mountFrom !== undefined &&
      canMount(dst) &&
      (await slots.run(() => onSide('destination', 'mount', desc, () => dst.mount(desc, o.mountFrom!, signal))))
    ) {
      stats.mounted++;
      o.onMounted?.(desc);
    } else {
      await slots.run(async () => {
        const open = async (): Promise<Content> => (desc.data !== undefined ? [Buffer.from(desc.data, 'base64')] : src.fetch(desc, signal));
        await transfer(desc, await onSide('source', 'fetch', desc, open), open);
      });
    }
    if (o.referrers && isGraphNode(desc) && canListReferrers(src)) {
      const found = await onSide('source', 'list referrers of', desc, () => src.referrers(desc, undefined, signal));
      await Promise.all(found.map(visit));
    }
  };

  // transfer pushes source bytes through one verifying pass (or the source's own, when it hands
  // over `VerifiedContent`), which the destination then takes as verified instead of hashing
  // again; it tells source-side failures (a broken or lying stream) from destination-side ones
  // although both surface from `push`. The pass can start over from `reopen` (the content read
  // again), for a destination that retries an upload; progress then counts from 0 again.
  const transfer = async (desc: Descriptor, content: Content, reopen: () => Promise<Content>): Promise<void> => {
    o.onCopyStart?.(desc);
    const fromSource = new WeakSet<object>();
    let n = 0;
    const pass = (c: Content): VerifiedContent => {
      n = 0;
      return VerifiedContent.of(desc, c, signal)
        .observe(
          (chunk) => {
            n += chunk.byteLength;
            o.onCopyProgress?.(desc, n);
          },
          (e) => {
            for (const c of causes(e)) fromSource.add(c);
          },
        )
        .withReopen(async () => pass(await onSide('source', 'fetch', desc, reopen)));
    };
    try {
      const verified = pass(content);
      await (pushRoot !== undefined && desc.digest === root.digest ? pushRoot(verified, signal) : dst.push(desc, verified, signal));
    } catch (e) {
      throw sideError(causes(e).some((c) => fromSource.has(c)) ? 'source' : 'destination', 'push', desc, e, signal);
    }
    stats.copied++;
    stats.bytes += n;
    o.onCopyDone?.(desc);
  };

  const onSide = async <T>(side: Side, op: string, desc: Descriptor, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw sideError(side, op, desc, e, signal);
    }
  };

  try {
    await visit(root);
  } catch {
    // Let every transfer in flight stop before reporting, so callers may clean up safely.
    for (let settled = -1; settled !== visits.size; ) {
      settled = visits.size;
      await Promise.allSettled(visits.values());
    }
    if (o.signal?.aborted) throw aborted(o.signal);
    throw first;
  }
  return stats;
}

/**
 * `copy` resolves `srcRef` in `src`, copies its graph to `dst` and tags it `dstRef` there.
 * It returns the root descriptor as tagged.
 */
export async function copy(src: ReadOnlyTarget, srcRef: string, dst: Target, dstRef: string, opts: CopyOptions = {}): Promise<Descriptor> {
  let root: Descriptor;
  try {
    root = await src.resolve(srcRef, opts.signal);
  } catch (e) {
    throw withSide('source', `resolve ${srcRef}`, e, undefined);
  }
  const tagged: Descriptor = opts.annotations === undefined ? root : { ...root, annotations: { ...root.annotations, ...opts.annotations } };
  await copyTagged(src, dst, root, dstRef, opts, tagged);
  return tagged;
}

function resolveOptions(
  opts: CopyGraphOptions,
): CopyGraphOptions & Required<Pick<CopyGraphOptions, 'concurrency' | 'maxMetadataBytes' | 'maxNodes' | 'referrers'>> {
  return {
    ...opts,
    maxNodes: opts.maxNodes ?? DEFAULT_MAX_NODES,
    concurrency: opts.concurrency !== undefined && opts.concurrency > 0 ? opts.concurrency : DEFAULT_CONCURRENCY,
    maxMetadataBytes: opts.maxMetadataBytes ?? MAX_MANIFEST_BYTES,
    referrers: opts.referrers ?? false,
  };
}

/**
 * `causes` is `e` and its chain of causes: a destination may hand a source's failure on wrapped
 * in context (the registry client does, and `withContext` keeps the innermost cause).
 */
function causes(e: unknown): object[] {
  const out: object[] = [];
  for (let c = e; typeof c === 'object' && c !== null && out.length < 16; c = (c as { cause?: unknown }).cause) out.push(c);
  return out;
}

function sideError(side: Side, op: string, desc: Descriptor, e: unknown, signal: AbortSignal): EbpmError {
  if (isEbpmError(e) && e.data?.side !== undefined) return e;
  if (signal.aborted && !isEbpmError(e)) return aborted(signal);
  return withSide(side, `${op} ${desc.digest}`, e, desc);
}

function withSide(side: Side, context: string, e: unknown, desc: Descriptor | undefined): EbpmError {
  const inner = isEbpmError(e) ? e : undefined;
  const message = e instanceof Error ? e.message : String(e);
  // The registry client names its operations the way this does (`fetch <digest>: …`): once is enough.
  const chain = message.startsWith(`${context}: `) ? message : `${context}: ${message}`;
  return new EbpmError(inner?.code ?? 'INTERNAL', `${side}: ${chain}`, {
    cause: e,
    hint: inner?.hint,
    data: { ...inner?.data, side, descriptor: desc },
  });
}

/** `aborted` is the reason of an abort that is an `EbpmError` (a deadline), else `ABORTED`. */
function aborted(signal: AbortSignal): EbpmError {
  if (isEbpmError(signal.reason)) return signal.reason;
  return new EbpmError('ABORTED', 'copy: aborted', { cause: signal.reason });
}

/** `Semaphore` bounds transfers in flight; a slot is held only during one transfer, never while waiting on children. */
class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await f();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.free++;
    }
  }
}
