/**
 * Where `run` and `check` find a package: local paths first, then registry references through
 * the pull service (loaded only when no local path matched, so a local run does not pay for it).
 */
import type { Context } from '../services/context.js';
import { localSource, resolvePackage, type PackageSource, type PullPolicy, type ResolvedPackage } from '../services/run-source.js';
import type { Io } from './command.js';
import { writeNotices } from './format.js';
import { loadEnvPolicy } from '../sign/policy-file.js';
import type { TrustPolicy } from '../sign/policy.js';

const registrySource: PackageSource = {
  async resolve(arg, opts) {
    const { referenceSource } = await import('../services/pull.js');
    return referenceSource(opts.context).resolve(arg, opts);
  },
};

export const PACKAGE_SOURCES: readonly PackageSource[] = [localSource(), registrySource];

/** A package a command resolved, and the command's one context, opened on first use. */
export interface OpenedPackage {
  readonly pkg: ResolvedPackage;
  readonly context: () => Promise<Context>;
  /** The command's trust policy, read once. */
  readonly trustPolicy: () => TrustPolicy;
}

/**
 * `openPackage` resolves `source` for `run` and `check` and prints the build's notices of a
 * directory on stderr. The trust policy is read once, and the context (configuration,
 * credentials, registries) opened only when a reference needs it: a local package never opens it.
 */
export async function openPackage(source: string, pull: PullPolicy, io: Io): Promise<OpenedPackage> {
  let policy: TrustPolicy | undefined;
  const trustPolicy = () => (policy ??= loadEnvPolicy(io.env));
  let ctx: Promise<Context> | undefined;
  const context = () => (ctx ??= import('./dist.js').then((d) => d.context(io, false, trustPolicy)));
  const pkg = await resolvePackage(source, PACKAGE_SOURCES, { pull, env: io.env, cwd: io.cwd, context, trustPolicy });
  writeNotices(io.stderr, pkg.notices);
  return { pkg, context, trustPolicy };
}
