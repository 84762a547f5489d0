/**
 * `Context` is what the distribution services share: the settings (config file plus
 * environment), the local store, and a way to reach a registry by host, remote or embedded,
 * behind one interface (`RegistryHost`) so that every service runs the same code against both.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { EMBEDDED_REGISTRY, EMPTY_CONFIG, parseConfig, settingsFrom, type Config, type Settings } from '../core/config.js';
import { EbpmError } from '../core/errors.js';
import { MAX_MANIFEST_BYTES } from '../core/oci.js';
import { configFile, localRegistryDir, storeDir, userStoreDir, type Env } from '../core/paths.js';
import type { TrustPolicy } from '../sign/policy.js';
import type { Deleter, ReferrerLister, TagLister, Target } from '../content/storage.js';
import type { ClientOptions } from '../registry/client.js';
import type { Send } from '../registry/http.js';
import { OciLayout } from '../store/layout.js';

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
  /**
   * The registry at `host`: the embedded one for `EMBEDDED_REGISTRY`, else a remote client. The
   * registry client loads on first use: `ls`, `rm` and a run from a local path reach no registry.
   */
  registry(host: string): Promise<RegistryHost>;
  /** Client options for remote registries (insecure hosts, timeouts, credentials). */
  readonly client: ClientOptions;
  /**
   * The trust policy (`EBPM_TRUST_POLICY`, else the default place), read on first use and then
   * kept: every admission of one command decides under the same policy. Its parser and the
   * signature checks behind it load then too: `ls` and `rm` decide nothing.
   */
  trustPolicy(): Promise<TrustPolicy>;
}

export interface ContextOptions {
  /** One line per HTTP exchange (`--verbose`). */
  readonly debug?: (line: string) => void;
  /** The user id that picks root's or a user's store and registry (default `process.getuid()`). */
  readonly uid?: number;
  /** Registries to speak plain HTTP to besides loopback ones and the config's `insecure` list (`--plain-http <host>`). */
  readonly plainHttp?: readonly string[];
  /** The trust policy as the command already read it (default: read from `EBPM_TRUST_POLICY` or the default place on first use). */
  readonly trustPolicy?: () => TrustPolicy;
  /** Remote registries' innermost stage, instead of the network (`ClientOptions.wire`). */
  readonly wire?: Send;
}

/** `loadConfig` reads the config file; a missing file is the empty config, a bad one `CONFIG_INVALID`. */
export async function loadConfig(env: Env): Promise<Config> {
  const path = configFile(env);
  let bytes: Uint8Array;
  try {
    // A small file, read synchronously: fs/promises would start the thread pool for it.
    bytes = readFileSync(path);
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
 * `openContext` reads the settings once. Limits on what a registry may cost come from the
 * environment, each a positive whole number: `EBPM_HTTP_TIMEOUT_MS` bounds how long a registry
 * may stay silent (headers and body; default 30 s), `EBPM_HTTP_DEADLINE_MS` one request in all
 * (default 10 min), `EBPM_PULL_DEADLINE_MS` one pull in all (default 30 min),
 * `EBPM_MAX_BLOB_BYTES` the size of a blob a pull accepts (default 1 GiB), and
 * `EBPM_MAX_MANIFEST_BYTES` that of a manifest or index (default and at most 4 MiB, the most
 * any of ebpm's stores reads).
 */
export async function openContext(env: Env, opts: ContextOptions = {}): Promise<Context> {
  const settings = settingsFrom(await loadConfig(env), env, opts.plainHttp);
  const timeout = positive(env, 'EBPM_HTTP_TIMEOUT_MS', 'milliseconds, e.g. EBPM_HTTP_TIMEOUT_MS=30000');
  const requestMs = positive(env, 'EBPM_HTTP_DEADLINE_MS', 'milliseconds, e.g. EBPM_HTTP_DEADLINE_MS=600000');
  const pullMs = positive(env, 'EBPM_PULL_DEADLINE_MS', 'milliseconds, e.g. EBPM_PULL_DEADLINE_MS=1800000');
  const maxBlobBytes = positive(env, 'EBPM_MAX_BLOB_BYTES', 'bytes, e.g. EBPM_MAX_BLOB_BYTES=1073741824');
  const maxManifestBytes = positive(
    env,
    'EBPM_MAX_MANIFEST_BYTES',
    `bytes up to ${MAX_MANIFEST_BYTES}, e.g. EBPM_MAX_MANIFEST_BYTES=1048576`,
    MAX_MANIFEST_BYTES,
  );
  const client: ClientOptions = {
    // Loaded with the first credential asked for, as the registry client is (`registry`).
    credentials: async (host) => (await import('../registry/credentials.js')).dockerCredentials(env)(host),
    // One streamed PUT per blob up to 512 MiB: every registry we know takes it, and 8 MiB PATCH
    // chunks cost a round trip each. Bigger blobs go in chunks, which a broken upload resumes.
    chunkThreshold: 512 << 20,
    insecure: settings.insecure,
    timeouts: {
      ...(timeout === undefined ? {} : { headersMs: timeout, bodyMs: timeout }),
      ...(requestMs === undefined ? {} : { requestMs }),
      ...(pullMs === undefined ? {} : { pullMs }),
    },
    ...(maxBlobBytes === undefined ? {} : { maxBlobBytes }),
    ...(maxManifestBytes === undefined ? {} : { maxManifestBytes }),
    ...(opts.debug === undefined ? {} : { debug: opts.debug }),
    ...(opts.wire === undefined ? {} : { wire: opts.wire }),
  };
  const uid = opts.uid ?? process.getuid?.();
  const storePath = storeDir(env, uid);
  const registries = new Map<string, Promise<RegistryHost>>();
  let store: Promise<OciLayout> | undefined;
  let policy: Promise<TrustPolicy> | undefined;
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
      const path = userStoreDir(env, uid, env.SUDO_USER === undefined ? undefined : await homeOf(env.SUDO_USER));
      return path === undefined ? undefined : OciLayout.open(path, { create: false }).catch(() => undefined);
    },
    trustPolicy() {
      policy ??= (async () => opts.trustPolicy?.() ?? (await import('../sign/policy-file.js')).loadEnvPolicy(env))();
      return policy;
    },
    registry(host) {
      let r = registries.get(host);
      if (r === undefined) {
        r = (
          host === EMBEDDED_REGISTRY
            ? import('../store/registry-dir.js').then(({ LocalRegistry }) => new LocalRegistry(host, localRegistryDir(env, uid)))
            : import('../registry/client.js').then(({ Registry }) => new Registry(host, client))
        ).then(sharedRepositories);
        registries.set(host, r);
      }
      return r;
    },
  };
}

/**
 * `positive` reads `env[name]` as a positive whole number, at most `max`; unset is `undefined`,
 * anything else `CONFIG_INVALID`.
 */
function positive(env: Env, name: string, example: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const problem =
    !/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n <= 0 ? 'not a positive whole number' : n > max ? `over ${max}, the most ebpm accepts` : undefined;
  if (problem === undefined) return n;
  throw new EbpmError('CONFIG_INVALID', `${name}=${JSON.stringify(raw)}: ${problem}`, {
    hint: `give ${example}, or unset it`,
  });
}

/**
 * `sharedRepositories` opens each repository of `registry` once per context, so that resolving a
 * reference, checking its signatures and copying it share one repository and its caches
 * (referrers API support, manifests just pushed, blobs just found absent).
 */
function sharedRepositories(registry: RegistryHost): RegistryHost {
  const repositories = new Map<string, RemoteRepository>();
  return {
    host: registry.host,
    catalog: (signal) => registry.catalog(signal),
    repository(name) {
      let r = repositories.get(name);
      if (r === undefined) {
        r = registry.repository(name);
        repositories.set(name, r);
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
