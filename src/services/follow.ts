/**
 * `ebpm run --follow`: whether the registry has a newer version of what a run follows, asked
 * with one request per check (the tag list for a range, a HEAD of the tag for a floating tag),
 * so that a check that finds nothing new costs the registry as little as it can. The newer
 * version itself comes through the normal pull path (run-source.ts), trust policy included.
 * What a run does with it depends on the package: run.ts swaps BPF objects make before break,
 * run-wasm.ts swaps the guest over the same objects.
 */
import semver from 'semver';
import { EbpmError, withContext } from '../core/errors.js';
import { formatReference, pickVersion, tagToVersion, type Reference } from '../core/reference.js';
import type { Context } from './context.js';
import { openRepository, parseUserReference } from './resolve.js';
import type { ResolvedPackage } from './run-source.js';

/**
 * `followedReference` is the reference `source` names when it can be followed: a range, a tag
 * or a bare name (`latest`), in a registry. A path or a digest is `USAGE`.
 */
export function followedReference(ctx: Context, pkg: ResolvedPackage): Reference {
  const usage = (why: string) =>
    new EbpmError('USAGE', `run ${pkg.source} --follow: ${why}`, { hint: 'follow a range or a floating tag of a registry package: name@^1, name:1' });
  if (pkg.digest === undefined) throw usage('not a registry reference');
  const ref = parseUserReference(ctx, pkg.source);
  if (ref.digest !== undefined) throw usage('a digest names one version');
  return ref;
}

/**
 * `hasNewer` tells whether `ref` now names something newer than `current`: for a range, a
 * higher matching version than the one running; for a tag (or `latest`), another digest.
 */
export async function hasNewer(ctx: Context, ref: Reference, current: ResolvedPackage, signal?: AbortSignal): Promise<boolean> {
  const repo = await openRepository(ctx, ref);
  try {
    if (ref.range !== undefined) {
      const tag = pickVersion(await repo.tags(signal), ref.range, { includePrerelease: false });
      const version = tag === undefined ? undefined : tagToVersion(tag);
      return version !== undefined && semver.gt(version, current.metadata.version);
    }
    return (await repo.resolve(ref.tag ?? 'latest', signal)).digest !== current.digest;
  } catch (e) {
    throw withContext(`check ${formatReference(ref)}`, e);
  }
}
