/**
 * Where `run`, `check` and the library's `run` find a package: local paths first, then registry
 * references through the pull service (loaded only when no local path matched, so a local run
 * does not pay for it).
 */
export { PULL_POLICIES, type PullPolicy, type ResolveOptions, type ResolvedPackage } from '../services/run-source.js';
import { localSource, resolvePackage, type PackageSource, type ResolveOptions, type ResolvedPackage } from '../services/run-source.js';

const registrySource: PackageSource = {
  async resolve(arg, opts) {
    const { referenceSource } = await import('./pull.js');
    return referenceSource(opts.context).resolve(arg, opts);
  },
};

export const PACKAGE_SOURCES: readonly PackageSource[] = [localSource(), registrySource];

/** `resolveSource` resolves a path or a reference to a package ready to run, admitted by the trust policy. */
export function resolveSource(source: string, opts: ResolveOptions): Promise<ResolvedPackage> {
  return resolvePackage(source, PACKAGE_SOURCES, opts);
}
