import { createReadStream } from 'node:fs';
import { chmod, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { digestProblem, digesterFor, type Digester } from '../core/digest.js';
import { decodeJson, isObject } from '../core/json.js';
import {
  ANNOTATION_EBPM_PULLED_AT,
  ANNOTATION_EBPM_SOURCE,
  ANNOTATION_REF_NAME,
  ANNOTATION_TITLE,
  ANNOTATION_VERSION,
  MAX_MANIFEST_BYTES,
  isIndexType,
  isManifestType,
  parseIndex,
  parseManifest,
  type Descriptor,
} from '../core/oci.js';
import { fetchAll, notFound } from '../content/storage.js';
import { isGraphNode } from '../content/graph.js';
import { BLOBS_DIR, isReferrerEntry, type OciLayout } from './layout.js';

/**
 * Store maintenance after cacache `lib/verify.js`: `verifyStore` is a list of named steps, each
 * timed, whose stats are merged and returned for the UI to print.
 */

/** `VerifyStats` is what `verifyStore` found and fixed. */
export interface VerifyStats {
  /** Blobs whose bytes matched their name. */
  verifiedBlobs: number;
  /** Digests of blobs whose bytes did not match their name, removed. */
  corruptBlobs: string[];
  /**
   * Manifests and indexes whose graph lost a blob, removed as well: a manifest held means its
   * whole graph is held (copies skip it), so pulling one of them again copies what is missing.
   */
  brokenManifests: string[];
  /** Files under `blobs/` that are not named like a digest, removed. */
  strayFiles: string[];
  /** Index entries whose graph was incomplete, dropped: pull them again. */
  droppedEntries: { ref: string | undefined; digest: string; missing: string }[];
  /** Referrer manifests found in `blobs/` without their index entry (a crash between the two), re-listed. */
  adoptedReferrers: number;
  /** Temp files of writers that no longer run, removed from `ingest/`. */
  cleanedTemp: number;
  /** Blobs made read-only again. */
  fixedPerms: number;
  /** Each step's name and duration, in order. */
  steps: { name: string; ms: number }[];
}

type Step = (layout: OciLayout, stats: VerifyStats, scratch: Scratch) => Promise<void>;
interface Scratch {
  bad: string[];
  /** Every intact blob that reads as a manifest or index (by its `mediaType`), tagged or not. */
  nodes: Descriptor[];
  referrers: Descriptor[];
}

/**
 * `verifyStore` checks and repairs a layout: clean dead writers' temp files, re-hash every blob
 * (removing corrupt ones, and the manifests whose graph that broke), drop index entries whose
 * graph is incomplete, re-list orphaned referrers, and make blobs read-only. Safe to run beside
 * writers: removals happen under the store lock.
 */
export async function verifyStore(layout: OciLayout): Promise<VerifyStats> {
  const stats: VerifyStats = {
    verifiedBlobs: 0,
    corruptBlobs: [],
    brokenManifests: [],
    strayFiles: [],
    droppedEntries: [],
    adoptedReferrers: 0,
    cleanedTemp: 0,
    fixedPerms: 0,
    steps: [],
  };
  const scratch: Scratch = { bad: [], nodes: [], referrers: [] };
  const steps: Step[] = [cleanTemp, rehashBlobs, checkIndex, adoptReferrers, fixPerms];
  for (const step of steps) {
    const t0 = performance.now();
    await step(layout, stats, scratch);
    stats.steps.push({ name: step.name, ms: Math.round(performance.now() - t0) });
  }
  return stats;
}

async function cleanTemp(layout: OciLayout, stats: VerifyStats): Promise<void> {
  await layout.cleanIngest();
  // Opening the store to write cleans too: those count.
  stats.cleanedTemp += layout.takeCleaned().entries;
}

/** Hashing happens outside the lock (it is slow); removal waits for `checkIndex`, under the lock. */
async function rehashBlobs(layout: OciLayout, stats: VerifyStats, scratch: Scratch): Promise<void> {
  for (const { digest, path } of await listBlobs(layout)) {
    if (digestProblem(digest) !== undefined) {
      if (
        await unlink(path).then(
          () => true,
          () => false,
        )
      )
        stats.strayFiles.push(digest);
      continue;
    }
    let digester: Digester;
    try {
      digester = digesterFor(digest);
    } catch {
      continue; // An algorithm ebpm cannot check: leave it, as the layout spec allows.
    }
    const head: Buffer[] = [];
    let size = 0;
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      digester.update(chunk);
      if (size + chunk.byteLength <= MAX_MANIFEST_BYTES) head.push(chunk);
      size += chunk.byteLength;
    }
    if (digester.digest() !== digest) {
      scratch.bad.push(digest);
      continue;
    }
    stats.verifiedBlobs++;
    const node = size <= MAX_MANIFEST_BYTES ? nodeCandidate(digest, Buffer.concat(head)) : undefined;
    if (node !== undefined) {
      scratch.nodes.push(node.desc);
      if (node.referrer) scratch.referrers.push(node.desc);
    }
  }
}

async function checkIndex(layout: OciLayout, stats: VerifyStats, scratch: Scratch): Promise<void> {
  await layout.updateIndex(async (manifests) => {
    for (const digest of scratch.bad) {
      if (
        await unlink(layout.blobPath(digest)).then(
          () => true,
          () => false,
        )
      )
        stats.corruptBlobs.push(digest);
    }
    const kept: Descriptor[] = [];
    for (const d of manifests) {
      const missing = await layout.missingFrom(d);
      if (missing === undefined) kept.push(d);
      else stats.droppedEntries.push({ ref: d.annotations?.[ANNOTATION_REF_NAME], digest: d.digest, missing: missing.digest });
    }
    stats.brokenManifests = await unlinkBroken(layout, [...manifests, ...scratch.nodes]);
    return { manifests: kept, result: undefined };
  });
}

/**
 * `dropBroken` restores, under the store lock, the invariant copies rely on over the graphs of
 * `roots`: a manifest or index held whose graph is incomplete (a blob lost outside ebpm) is
 * removed, so that copying it again is an ordinary copy instead of a skip. Returns their digests.
 */
export async function dropBroken(layout: OciLayout, roots: Descriptor[]): Promise<string[]> {
  return layout.updateIndex(async (manifests) => ({ manifests, result: await unlinkBroken(layout, roots) }));
}

/** `unlinkBroken` removes every manifest or index held in the graphs of `roots` whose own graph is incomplete; the caller holds the lock. */
async function unlinkBroken(layout: OciLayout, roots: Descriptor[]): Promise<string[]> {
  const whole = new Map<string, boolean>();
  const removed: string[] = [];
  const check = async (d: Descriptor): Promise<boolean> => {
    const known = whole.get(d.digest);
    if (known !== undefined) return known;
    let ok = await layout.exists(d);
    if (ok && isGraphNode(d)) {
      const node = await layout.node(d).catch(() => undefined);
      // Every child is checked, not only up to the first missing one: broken nodes below are removed too.
      let complete = node !== undefined;
      for (const c of node?.children ?? []) complete = (await check(c)) && complete;
      if (
        !complete &&
        (await unlink(layout.blobPath(d.digest)).then(
          () => true,
          () => false,
        ))
      )
        removed.push(d.digest);
      ok = complete;
    }
    whole.set(d.digest, ok);
    return ok;
  };
  for (const r of roots) await check(r);
  return removed.sort();
}

async function adoptReferrers(layout: OciLayout, stats: VerifyStats, scratch: Scratch): Promise<void> {
  // A referrer is listed by its untagged entry (OciLayout.referrers reads no tagged one).
  const listed = new Set((await layout.readIndex()).manifests.filter(isReferrerEntry).map((d) => d.digest));
  for (const desc of scratch.referrers) {
    if (listed.has(desc.digest) || !(await layout.exists(desc))) continue;
    const ok = await layout.registerReferrer(desc, await fetchAll(layout, desc, MAX_MANIFEST_BYTES)).then(
      () => true,
      () => false,
    );
    if (ok) stats.adoptedReferrers++;
  }
}

async function fixPerms(layout: OciLayout, stats: VerifyStats): Promise<void> {
  for (const { path } of await listBlobs(layout)) {
    const st = await stat(path).catch(() => undefined);
    if (st === undefined || (st.mode & 0o777) === 0o444) continue;
    await chmod(path, 0o444);
    stats.fixedPerms++;
  }
}

/** A verified blob whose `mediaType` says manifest or index is a graph node; one with a `subject` might be a referrer that lost its entry. */
function nodeCandidate(digest: string, bytes: Uint8Array): { desc: Descriptor; referrer: boolean } | undefined {
  if (bytes[0] !== 0x7b) return undefined;
  const parsed = decodeJson(bytes);
  if (parsed === undefined || !isObject(parsed.value)) return undefined;
  const mt = parsed.value.mediaType;
  if (typeof mt !== 'string' || !(isManifestType(mt) || isIndexType(mt))) return undefined;
  return { desc: { mediaType: mt, digest, size: bytes.byteLength }, referrer: parsed.value.subject !== undefined };
}

async function listBlobs(layout: OciLayout): Promise<{ digest: string; path: string }[]> {
  const out: { digest: string; path: string }[] = [];
  const root = join(layout.root, BLOBS_DIR);
  for (const alg of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(join(root, alg)).catch(() => [] as string[])) {
      out.push({ digest: `${alg}:${name}`, path: join(root, alg, name) });
    }
  }
  return out.sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

/** `PruneStats` is what `prune` reclaimed. */
export interface PruneStats {
  removedBlobs: number;
  /** Temp files of writers that no longer run (partial downloads) and import scratch directories, removed from `ingest/`. */
  removedPartial: number;
  /** Bytes of both. */
  reclaimedBytes: number;
  /** Untagged referrer entries whose subject is gone, dropped. */
  droppedReferrers: number;
}

/**
 * `prune` is mark-and-sweep: mark every blob reachable from tagged index entries, plus referrers
 * of marked manifests (and their graphs); drop referrer entries whose subject is unmarked; remove
 * every unmarked blob. It runs under the store lock, and `tag` re-checks its graph under the same
 * lock, so a copy racing a prune fails cleanly instead of tagging a swept blob. What dead writers
 * left in `ingest/` goes too, and counts, also when opening the store removed it already.
 */
export async function prune(layout: OciLayout): Promise<PruneStats> {
  const swept = await layout.freeing(() => sweep(layout));
  await layout.cleanIngest();
  const partial = layout.takeCleaned();
  return { ...swept, removedPartial: partial.entries, reclaimedBytes: swept.reclaimedBytes + partial.bytes };
}

/** `sweep` is one pass of `prune`. */
async function sweep(layout: OciLayout): Promise<PruneStats> {
  return layout.updateIndex(async (manifests) => {
    const marked = await layout.reachable(manifests);
    const kept = manifests.filter((d) => marked.has(d.digest));
    const stats: PruneStats = { removedBlobs: 0, removedPartial: 0, reclaimedBytes: 0, droppedReferrers: manifests.length - kept.length };
    for (const { digest, path } of await listBlobs(layout)) {
      if (marked.has(digest)) continue;
      const size = (await stat(path).catch(() => undefined))?.size ?? 0;
      if (
        await unlink(path).then(
          () => true,
          () => false,
        )
      ) {
        stats.removedBlobs++;
        stats.reclaimedBytes += size;
      }
    }
    return { manifests: kept, result: stats };
  });
}

/** `remove` untags `ref` (`NOT_FOUND` if absent) and prunes what only it used (and what dead writers left). */
export async function remove(layout: OciLayout, ref: string): Promise<{ removed: Descriptor; pruned: PruneStats }> {
  const removed = await layout.freeing(() =>
    layout.updateIndex(async (manifests) => {
      const hit = manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === ref);
      if (hit === undefined) throw notFound(ref, { ref });
      return { manifests: manifests.filter((d) => d !== hit), result: hit };
    }),
  );
  return { removed, pruned: await prune(layout) };
}

/** `StoreEntry` is one tagged package in the store, as `ebpm ls` shows it. */
export interface StoreEntry {
  ref: string;
  /** The manifest's `org.opencontainers.image.title`, else the reference without its tag. */
  name: string;
  /** The manifest's `org.opencontainers.image.version`, else the tag part of the reference ('' if none). */
  version: string;
  digest: string;
  mediaType: string;
  artifactType: string | undefined;
  /** Bytes of the whole graph: the root and every distinct blob below it. */
  size: number;
  pulledAt: string | undefined;
  source: string | undefined;
}

/** `list` describes every tagged entry of the layout, sorted by reference. */
export async function list(layout: OciLayout): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for (const d of (await layout.readIndex()).manifests) {
    const ref = d.annotations?.[ANNOTATION_REF_NAME];
    if (ref === undefined) continue;
    const colon = ref.lastIndexOf(':');
    const [repo, tag] = colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, ''];
    // A multi-platform package's index carries the title and version annotations as its manifests do.
    const annotations = isManifestType(d.mediaType)
      ? parseManifest(await fetchAll(layout, d, MAX_MANIFEST_BYTES), d.mediaType).annotations
      : isIndexType(d.mediaType)
        ? parseIndex(await fetchAll(layout, d, MAX_MANIFEST_BYTES), d.mediaType).annotations
        : undefined;
    out.push({
      ref,
      name: annotations?.[ANNOTATION_TITLE] ?? repo,
      version: annotations?.[ANNOTATION_VERSION] ?? tag,
      digest: d.digest,
      mediaType: d.mediaType,
      artifactType: d.artifactType,
      size: await graphSize(layout, d),
      pulledAt: d.annotations?.[ANNOTATION_EBPM_PULLED_AT],
      source: d.annotations?.[ANNOTATION_EBPM_SOURCE],
    });
  }
  return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}

async function graphSize(layout: OciLayout, root: Descriptor): Promise<number> {
  const seen = new Map<string, number>();
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.set(d.digest, d.size);
    if (isGraphNode(d)) for (const c of (await layout.node(d)).children) await walk(c);
  };
  await walk(root);
  let total = 0;
  for (const n of seen.values()) total += n;
  return total;
}
