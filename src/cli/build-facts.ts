/**
 * What `ebpm version` reports of the build that runs: ebpm's and node's versions, the libbpf
 * the addon was compiled against, the architecture, and whether this process started from the
 * start-up snapshot (and if not, which of bin/ebpm.js's conditions failed). Nothing here runs
 * at load: the snapshot evaluates this module when it is built.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ociArch } from '../core/arch.js';

/** ebpm's version (package.json's; `dist/version` holds it for bin/ebpm.js's `--version`). */
export const VERSION = '0.1.0';

/** Whether the start-up snapshot started this process, and why not. */
export type SnapshotUse = { readonly inUse: true } | { readonly inUse: false; readonly reason: string };

export interface BuildFacts {
  readonly version: string;
  readonly node: string;
  /** `major.minor` of the libbpf headers the addon was compiled with; null when the addon does not load. */
  readonly libbpf: string | null;
  /** As OCI platforms name it (`amd64`). */
  readonly arch: string;
  readonly snapshot: SnapshotUse;
}

/**
 * `snapshotUse` tells whether this process runs from the snapshot (node was given
 * `--snapshot-blob`), and otherwise checks, in bin/ebpm.js's order, what kept it from it.
 * `dist` is the bundle's directory; `execPath` the node that runs.
 */
export function snapshotUse(dist: string, execArgv: readonly string[], execPath: string): SnapshotUse {
  if (execArgv.includes('--snapshot-blob')) return { inUse: true };
  const blob = join(dist, 'ebpm.blob');
  // bin/ebpm.js's stamp: the node that made the snapshot.
  const stamp = `${blob}.node`;
  // In a checkout and in an installed package alike (npm run build runs it too).
  const make = `node ${join(dirname(dist), 'scripts', 'snapshot.mjs')}`;
  if (!existsSync(blob) || !existsSync(stamp)) return { inUse: false, reason: `${blob} is missing (${make} makes it)` };
  // Its lines: the node that made it, then the V8 flags a start from it repeats (read as sh's
  // `read` does: a line counts when its newline ends it).
  const [built = '', ...rest] = readFileSync(stamp, 'utf8').split('\n');
  if (rest.length < 2) return { inUse: false, reason: `${stamp} names no V8 flags: an older ebpm made it (${make} makes a new one)` };
  const node = statSync(execPath, { bigint: true });
  const same = existsSync(built) && ((b) => b.ino === node.ino && b.dev === node.dev)(statSync(built, { bigint: true }));
  if (!same) return { inUse: false, reason: `it was made by ${built}, and this is ${execPath} (${make} makes one for it)` };
  // The stamp carries the node's modification time (touch -r): a node upgraded in place differs.
  if (node.mtimeNs !== statSync(stamp, { bigint: true }).mtimeNs)
    return { inUse: false, reason: `${execPath} changed since it was made (${make} makes a new one)` };
  return { inUse: false, reason: 'started as node bin/ebpm.js, or by the agent' };
}

/** `buildFacts` gathers the facts; `libbpf` is asked of the addon by the caller (loading it may fail). */
export function buildFacts(libbpf: string | null): BuildFacts {
  const dist = fileURLToPath(new URL('../../dist', import.meta.url));
  return {
    version: VERSION,
    node: process.version,
    libbpf,
    arch: ociArch(process.arch),
    snapshot: snapshotUse(dist, process.execArgv, process.execPath),
  };
}
