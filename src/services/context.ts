/**
 * `Context` is what the distribution services share: the settings (config file plus
 * environment), the local store, and a way to reach a registry by host, remote or embedded,
 * behind one interface (`RegistryHost`) so that every service runs the same code against both.
 */
import { readFile } from 'node:fs/promises';
import { EMBEDDED_REGISTRY, EMPTY_CONFIG, parseConfig, settingsFrom, type Config, type Settings } from '../core/config.js';
import { EbpmError } from '../core/errors.js';
import { configFile, localRegistryDir, storeDir, userStoreDir, type Env } from '../core/paths.js';
import type { Deleter, ReferrerLister, TagLister, Target } from '../content/storage.js';
import { Registry, type ClientOptions } from '../registry/client.js';
import { dockerCredentials } from '../registry/credentials.js';
import { OciLayout } from '../store/layout.js';
import { LocalRegistry } from '../store/registry-dir.js';

/** `RemoteRepository` is a registry repository as the services use it (remote `Repository` or `LocalRepository`). */
export type RemoteRepository = Target & TagLister & Deleter & ReferrerLister;

/** `RegistryHost` is a registry: its repositories and its catalog. */
export interface RegistryHost {
  readonly host: string;
  repository(name: string): RemoteRepository;
  catalog(signal?: AbortSignal): Promise<string[]>;
}

export interface Context {
  readonly env: Env;
  readonly settings: Settings;
  /** Where the store lives (see `storeDir`). */
  readonly storePath: string;
  /** Opens (creating if needed) the local store. */
  store(): Promise<OciLayout>;
  /** The sudo user's store, read-only, when running as root under sudo and it exists. */
  userStore(): Promise<OciLayout | undefined>;
  /** The registry at `host`: the embedded one for `EMBEDDED_REGISTRY`, else a remote client. */
  registry(host: string): RegistryHost;
  /** Client options for remote registries (insecure hosts, timeouts, credentials). */
  readonly client: ClientOptions;
}

export interface ContextOptions {
  /** One line per HTTP exchange (`--verbose`). */
  readonly debug?: (line: string) => void;
}

/** `loadConfig` reads the config file; a missing file is the empty config, a bad one `CONFIG_INVALID`. */
export async function loadConfig(env: Env): Promise<Config> {
  const path = configFile(env);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_CONFIG;
    throw new EbpmError('CONFIG_INVALID', `config ${path}: unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      hint: 'check the permissions of the file, or point EBPM_CONFIG elsewhere',
      data: { path },
    });
  }
  return parseConfig(bytes, path);
}

/**
 * `openContext` reads the settings once. `EBPM_HTTP_TIMEOUT_MS` bounds how long a registry may
 * stay silent (headers and body; default 30 s), so a stalled server fails instead of hanging.
 */
export async function openContext(env: Env, opts: ContextOptions = {}): Promise<Context> {
  const settings = settingsFrom(await loadConfig(env), env);
  const timeout = env.EBPM_HTTP_TIMEOUT_MS === undefined ? undefined : Number(env.EBPM_HTTP_TIMEOUT_MS);
  if (timeout !== undefined && !(Number.isSafeInteger(timeout) && timeout > 0)) {
    throw new EbpmError('CONFIG_INVALID', `EBPM_HTTP_TIMEOUT_MS=${JSON.stringify(env.EBPM_HTTP_TIMEOUT_MS)}: not a positive whole number`, {
      hint: 'give milliseconds, e.g. EBPM_HTTP_TIMEOUT_MS=30000, or unset it',
    });
  }
  const client: ClientOptions = {
    credentials: dockerCredentials(env),
    // One streamed PUT per blob up to 512 MiB: every registry we know takes it, and 8 MiB PATCH
    // chunks cost a round trip each. Bigger blobs go in chunks, which a broken upload resumes.
    chunkThreshold: 512 << 20,
    insecure: settings.insecure,
    ...(timeout === undefined ? {} : { timeouts: { headersMs: timeout, bodyMs: timeout } }),
    ...(opts.debug === undefined ? {} : { debug: opts.debug }),
  };
  const storePath = storeDir(env);
  const registries = new Map<string, RegistryHost>();
  let store: Promise<OciLayout> | undefined;
  return {
    env,
    settings,
    storePath,
    client,
    store() {
      store ??= OciLayout.open(storePath, { reserve: true }).catch((e: unknown) => {
        store = undefined;
        throw e;
      });
      return store;
    },
    async userStore() {
      const path = userStoreDir(env, env.SUDO_USER === undefined ? undefined : await homeOf(env.SUDO_USER));
      return path === undefined ? undefined : OciLayout.open(path, { create: false }).catch(() => undefined);
    },
    registry(host) {
      let r = registries.get(host);
      if (r === undefined) {
        r = host === EMBEDDED_REGISTRY ? new LocalRegistry(host, localRegistryDir(env)) : new Registry(host, client);
        registries.set(host, r);
      }
      return r;
    },
  };
}

/** `homeOf` looks a user's home directory up in /etc/passwd (sudo resets HOME to root's). */
async function homeOf(user: string): Promise<string | undefined> {
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f[5]) return f[5];
  }
  return undefined;
}
