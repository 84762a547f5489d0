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

/** Where root keeps the store and the embedded registry (FHS: state that survives reboots). */
export const SYSTEM_STATE_DIR = '/var/lib/ebpm';

/**
 * `storeDir` is the local store (an OCI image layout): `$EBPM_STORE`; else for root (`uid` 0,
 * the caller's user id: `process.getuid()`, or what a test injects) `/var/lib/ebpm/store`, so
 * every `sudo ebpm run` shares one; else `$XDG_CACHE_HOME/ebpm/store` (`~/.cache/ebpm/store`):
 * pulled packages can always be pulled again.
 */
export function storeDir(env: Env, uid: number | undefined): string {
  if (env.EBPM_STORE) return env.EBPM_STORE;
  if (uid === 0) return join(SYSTEM_STATE_DIR, 'store');
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'ebpm', 'store');
}

/**
 * `userStoreDir` is the store of the user who ran `sudo` (`SUDO_USER`, whose home is `home`),
 * which root reads after its own: `sudo ebpm run sigsnoop` finds what the user pulled without
 * writing to it. Undefined when not under sudo or with `$EBPM_STORE` set.
 */
export function userStoreDir(env: Env, uid: number | undefined, home: string | undefined): string | undefined {
  if (env.EBPM_STORE || uid !== 0 || !env.SUDO_USER || env.SUDO_USER === 'root' || home === undefined) return undefined;
  return join(home, '.cache', 'ebpm', 'store');
}

/**
 * `localRegistryDir` is the embedded default registry (one OCI layout per repository), used when
 * no registry is configured: `$EBPM_LOCAL_REGISTRY`; else for root `/var/lib/ebpm/registry`; else
 * `$XDG_DATA_HOME/ebpm/registry` (`~/.local/share/ebpm/registry`): pushed packages are data, not cache.
 */
export function localRegistryDir(env: Env, uid: number | undefined): string {
  if (env.EBPM_LOCAL_REGISTRY) return env.EBPM_LOCAL_REGISTRY;
  if (uid === 0) return join(SYSTEM_STATE_DIR, 'registry');
  return join(env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share'), 'ebpm', 'registry');
}

/** `configFile` is `$EBPM_CONFIG`, else `$XDG_CONFIG_HOME/ebpm/config.json` (`~/.config/ebpm/config.json`). */
export function configFile(env: Env): string {
  if (env.EBPM_CONFIG) return env.EBPM_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'ebpm', 'config.json');
}
