/** How `run` and `check` open the package they were given (api/sources.ts finds it). */
import type { Context } from '../api/context.js';
import { resolveSource, type PullPolicy, type ResolvedPackage } from '../api/sources.js';
import type { Io } from './command.js';
import { writeNotices } from './format.js';
import { loadEnvPolicy } from '../sign/policy-file.js';
import type { TrustPolicy } from '../sign/policy.js';

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
 * `onWasm`: `ResolveOptions.onWasm`.
 */
export async function openPackage(source: string, pull: PullPolicy, io: Io, onWasm?: () => void): Promise<OpenedPackage> {
  let policy: TrustPolicy | undefined;
  const trustPolicy = () => (policy ??= loadEnvPolicy(io.env));
  let ctx: Promise<Context> | undefined;
  const context = () => (ctx ??= import('./dist.js').then((d) => d.context(io, false, trustPolicy)));
  const pkg = await resolveSource(source, { pull, env: io.env, cwd: io.cwd, context, trustPolicy, ...(onWasm === undefined ? {} : { onWasm }) });
  writeNotices(io.stderr, pkg.notices);
  return { pkg, context, trustPolicy };
}
