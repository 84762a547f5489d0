/**
 * Where `run`, `check` and the library's `run` find a package: local paths first, then registry
 * references through the pull service (loaded only when no local path matched, so a local run
 * does not pay for it).
 */
import type { Context } from '../services/context.js';
export { PULL_POLICIES, type PullPolicy, type ResolvedPackage } from '../services/run-source.js';
import { localSource, resolvePackage, type PackageSource, type PullPolicy, type ResolvedPackage } from '../services/run-source.js';
import type { Env } from '../core/paths.js';
import type { TrustPolicy } from '../sign/policy.js';

const registrySource: PackageSource = {
  async resolve(arg, opts) {
    const { referenceSource } = await import('../services/pull.js');
    return referenceSource(opts.context).resolve(arg, opts);
  },
};

export const PACKAGE_SOURCES: readonly PackageSource[] = [localSource(), registrySource];

/** What `resolveSource` needs: the caller's environment, and its one context and trust policy, each opened on first use. */
export interface SourceOptions {
  readonly pull: PullPolicy;
  readonly env: Env;
  readonly cwd: string;
  readonly context: () => Promise<Context>;
  readonly trustPolicy: () => TrustPolicy | Promise<TrustPolicy>;
  readonly signal?: AbortSignal;
}

/** `resolveSource` resolves a path or a reference to a package ready to run, admitted by the trust policy. */
export function resolveSource(source: string, opts: SourceOptions): Promise<ResolvedPackage> {
  return resolvePackage(source, PACKAGE_SOURCES, opts);
}
