// Loading the trust policy from disk: the only file in src/sign that touches the filesystem.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Env } from '../core/paths.js';
import { EbpmError } from '../core/errors.js';
import { DEFAULT_POLICY, parsePolicy, type TrustPolicy } from './policy.js';

/**
 * `policyPath` is where the trust policy lives: `$EBPM_TRUST_POLICY`, else
 * `$XDG_CONFIG_HOME/ebpm/trust-policy.json`, else `~/.config/ebpm/trust-policy.json`.
 */
export function policyPath(env: Env): string {
  if (env.EBPM_TRUST_POLICY) return env.EBPM_TRUST_POLICY;
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'ebpm', 'trust-policy.json');
}

/** `loadEnvPolicy` loads the policy at `policyPath(env)`; one named by `EBPM_TRUST_POLICY` must exist. */
export function loadEnvPolicy(env: Env): TrustPolicy {
  return loadPolicy(policyPath(env), { explicit: Boolean(env.EBPM_TRUST_POLICY) });
}

/**
 * `loadPolicy` reads and parses the policy at `path`; relative key paths are resolved against
 * the policy file's directory. A missing file is `DEFAULT_POLICY` (warn everywhere), unless the
 * path was given `explicit`ly: then a typo must not weaken the policy, so it is
 * `TRUST_POLICY_NOT_FOUND` (exit 3). An unreadable file is `POLICY_UNREADABLE`.
 */
export function loadPolicy(path: string, opts: { readonly explicit?: boolean } = {}): TrustPolicy {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') {
      if (!opts.explicit) return DEFAULT_POLICY;
      throw new EbpmError('TRUST_POLICY_NOT_FOUND', `trust policy ${path}: no such file (EBPM_TRUST_POLICY)`, {
        hint: 'fix the path in EBPM_TRUST_POLICY, or unset it to use ~/.config/ebpm/trust-policy.json (or the default policy when that is absent)',
        data: { path },
      });
    }
    throw new EbpmError('POLICY_UNREADABLE', `trust policy ${path}: ${(e as { code?: string }).code ?? 'cannot read'}`, {
      cause: e,
      hint: 'make the file readable, or remove it to use the default policy (warn when unsigned)',
    });
  }
  const base = dirname(resolve(path));
  return parsePolicy(bytes, path, (p) => readFileSync(isAbsolute(p) ? p : join(base, p), 'utf8'));
}
