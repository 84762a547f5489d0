import { homedir } from 'node:os';
import { join } from 'node:path';

/** `Env` is the part of the environment that decides where ebpm keeps its files. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * `cacheDir` holds rebuildable caches (generated vmlinux.h, search indexes):
 * `$EBPM_CACHE_DIR`, else `$XDG_CACHE_HOME/ebpm`, else `~/.cache/ebpm`.
 */
export function cacheDir(env: Env): string {
  if (env.EBPM_CACHE_DIR) return env.EBPM_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'ebpm');
}
