import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { EbpmError } from '../core/errors.js';
import { decodeJson, isObject, notObjectReason, type JsonObject } from '../core/json.js';
import type { Env } from '../core/paths.js';
import type { Credential, CredentialFunc } from './auth.js';
import { Registry, type ClientOptions } from './client.js';
import { registryFailure } from './codes.js';

/**
 * Credentials the way Docker keeps them (docker/cli `cli/config/configfile/file.go`,
 * `cli/config/types/authconfig.go`; docker-credential-helpers `credentials/credentials.go`):
 * `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` with `auths` entries (`auth` =
 * base64 `user:password`, or `username`/`password`, `identitytoken`, `registrytoken`), and
 * `credHelpers[host]` or else `credsStore` naming a `docker-credential-<name>` program spoken to
 * over stdin/stdout (`get`, `store`, `erase`). Secrets never reach a message, a hint or `data`.
 */

/** `dockerConfigPath` is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: Env): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** `DockerConfig` is the part of `config.json` ebpm reads; `raw` keeps the rest for rewriting. */
export interface DockerConfig {
  readonly auths: Readonly<Record<string, JsonObject>>;
  readonly credsStore: string | undefined;
  readonly credHelpers: Readonly<Record<string, string>>;
  readonly raw: JsonObject;
}

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function configError(path: string, problem: string): EbpmError {
  return registryFailure('DOCKER_CONFIG_INVALID', `docker config ${path}: ${problem}`, {
    hint: 'fix or remove the file, then run `ebpm login <host>` again',
    data: { path, problem },
  });
}

/**
 * `readDockerConfig` reads and narrows the file; a missing file is an empty config. Parse errors
 * name the problem only: node's JSON messages quote the text, which holds secrets.
 */
export async function readDockerConfig(path: string): Promise<DockerConfig> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return { auths: {}, credsStore: undefined, credHelpers: {}, raw: {} };
    throw configError(path, `unreadable (${(e as { code?: string }).code ?? 'error'})`);
  }
  const parsed = decodeJson(bytes);
  if (parsed === undefined || !isObject(parsed.value)) throw configError(path, notObjectReason(parsed));
  const raw = parsed.value;
  const auths: Record<string, JsonObject> = {};
  if (raw.auths !== undefined) {
    if (!isObject(raw.auths)) throw configError(path, '"auths" is not an object');
    for (const [k, v] of Object.entries(raw.auths)) {
      if (!isObject(v)) throw configError(path, `auths[${JSON.stringify(k)}] is not an object`);
      auths[k] = v;
    }
  }
  if (raw.credsStore !== undefined && (typeof raw.credsStore !== 'string' || !HELPER_NAME.test(raw.credsStore)))
    throw configError(path, '"credsStore" is not a helper name');
  const credHelpers: Record<string, string> = {};
  if (raw.credHelpers !== undefined) {
    if (!isObject(raw.credHelpers)) throw configError(path, '"credHelpers" is not an object');
    for (const [k, v] of Object.entries(raw.credHelpers)) {
      if (typeof v !== 'string' || !HELPER_NAME.test(v)) throw configError(path, `credHelpers[${JSON.stringify(k)}] is not a helper name`);
      credHelpers[k] = v;
    }
  }
  return { auths, credsStore: raw.credsStore === '' ? undefined : (raw.credsStore as string | undefined), credHelpers, raw };
}

/** `hostOf` normalises a config key the way docker's `ConvertToHostname` does (scheme and path dropped). */
function hostOf(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0]!;
}

/** `helperFor` is the helper that holds `host`'s credentials, if any: `credHelpers` first, then `credsStore`. */
export function helperFor(config: DockerConfig, host: string): string | undefined {
  return config.credHelpers[host] ?? config.credsStore;
}

function entryCredential(path: string, key: string, e: JsonObject): Credential | undefined {
  if (typeof e.registrytoken === 'string' && e.registrytoken !== '') return { kind: 'registry-token', token: e.registrytoken };
  if (typeof e.identitytoken === 'string' && e.identitytoken !== '') return { kind: 'identity-token', token: e.identitytoken };
  if (typeof e.auth === 'string' && e.auth !== '') {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(e.auth) || colon < 1) throw configError(path, `auths[${JSON.stringify(key)}].auth is not base64 of user:password`);
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\0+$/, '') };
  }
  if (typeof e.username === 'string' && e.username !== '' && typeof e.password === 'string')
    return { kind: 'basic', username: e.username, password: e.password };
  return undefined;
}

/** `fileCredential` looks `host` up in `auths`: the exact key, else a key naming the same host. */
export function fileCredential(config: DockerConfig, path: string, host: string): Credential | undefined {
  const exact = config.auths[host];
  if (exact !== undefined) return entryCredential(path, host, exact);
  for (const [k, e] of Object.entries(config.auths)) if (hostOf(k) === host) return entryCredential(path, k, e);
  return undefined;
}

/** `HELPER_TIMEOUT_MS` bounds a credential helper run (they may prompt a keyring). */
const HELPER_TIMEOUT_MS = 30_000;

/**
 * What a credential helper gets of ebpm's environment: where to find programs and the user's
 * home, locale, and what the helpers Docker users run need to reach their stores — the desktop
 * session bus and display for `secretservice` (D-Bus, a keyring prompt), GnuPG and
 * `PASSWORD_STORE_DIR` for `pass`, and the cloud SDKs' settings for `ecr-login` (`AWS_*`) and
 * `gcloud`/`gcr` (`CLOUDSDK_*`, `GOOGLE_*`). Nothing else: ebpm's own variables
 * (`EBPM_PASSWORD`) and whatever else the shell holds stay out of a program ebpm did not write.
 */
export const HELPER_ENV_NAMES: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LC_ALL',
  'TMPDIR',
  'DOCKER_CONFIG',
  'DBUS_SESSION_BUS_ADDRESS',
  'DISPLAY',
  'WAYLAND_DISPLAY',
  'GNUPGHOME',
  'GPG_TTY',
  'PASSWORD_STORE_DIR',
];
/** Prefixes of variable families a helper may need (see `HELPER_ENV_NAMES`). */
export const HELPER_ENV_PREFIXES: readonly string[] = ['XDG_', 'AWS_', 'CLOUDSDK_', 'GOOGLE_'];

/** `helperEnv` is the part of `env` a credential helper runs with. */
export function helperEnv(env: Env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (HELPER_ENV_NAMES.includes(k) || HELPER_ENV_PREFIXES.some((p) => k.startsWith(p)))) out[k] = v;
  }
  return out;
}

function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, env: Env): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, [action], { env: helperEnv(env), timeout: HELPER_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err && typeof err.code !== 'number') {
        reject(
          registryFailure('CREDENTIAL_HELPER_FAILED', `docker-credential-${helper} ${action}: ${err.code === 'ENOENT' ? 'not found on PATH' : 'did not run'}`, {
            hint: `install docker-credential-${helper}, or remove it from the docker config`,
            data: { helper, action },
          }),
        );
        return;
      }
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout });
    });
    child.stdin?.end(input);
  });
}

function helperError(helper: string, action: string, stdout: string): EbpmError {
  // Helpers write errors to stdout (credentials/credentials.go); only on failure, so no secret.
  const said = stdout.split('\n')[0]!.trim().slice(0, 120);
  return registryFailure('CREDENTIAL_HELPER_FAILED', `docker-credential-${helper} ${action}: ${said || 'failed'}`, {
    hint: `check docker-credential-${helper}, or remove it from the docker config`,
    data: { helper, action },
  });
}

/** `helperGet` asks a helper for `host`; "credentials not found" is `undefined`. */
export async function helperGet(helper: string, host: string, env: Env): Promise<Credential | undefined> {
  const { code, stdout } = await runHelper(helper, 'get', host, env);
  if (code !== 0) {
    if (/credentials not found/i.test(stdout)) return undefined;
    throw helperError(helper, 'get', stdout);
  }
  const parsed = decodeJson(Buffer.from(stdout));
  const o = parsed !== undefined && isObject(parsed.value) ? parsed.value : undefined;
  if (o === undefined || typeof o.Username !== 'string' || typeof o.Secret !== 'string') {
    throw registryFailure('CREDENTIAL_HELPER_FAILED', `docker-credential-${helper} get: answer is not {"Username","Secret"}`, {
      hint: `check docker-credential-${helper}`,
      data: { helper, action: 'get' },
    });
  }
  // Username `<token>` means the secret is an identity token (docker/cli native_store.go).
  if (o.Username === '<token>') return { kind: 'identity-token', token: o.Secret };
  return { kind: 'basic', username: o.Username, password: o.Secret };
}

/** `dockerCredentials` is the `CredentialFunc` of Docker's config and helpers, read at each lookup. */
export function dockerCredentials(env: Env): CredentialFunc {
  const path = dockerConfigPath(env);
  return async (host) => {
    const config = await readDockerConfig(path);
    const helper = helperFor(config, host);
    return helper === undefined ? fileCredential(config, path, host) : helperGet(helper, host, env);
  };
}

/** Writes the config atomically (temp file then rename), readable by its owner only. */
async function writeDockerConfig(path: string, raw: JsonObject): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(raw, null, '\t')}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw registryFailure('DOCKER_CONFIG_INVALID', `write docker config ${path}: ${(e as { code?: string }).code ?? 'failed'}`, {
      hint: 'check the permissions of the directory',
      data: { path },
    });
  }
}

export interface LoginOptions {
  readonly env: Env;
  /** Client options for the check against the registry (insecure hosts, timeouts). */
  readonly client?: Omit<ClientOptions, 'credentials'>;
  readonly signal?: AbortSignal;
}

/**
 * `login` checks `username`/`password` against `host` (`GET /v2/`, through Basic or the token
 * flow) and only then stores them: in the host's credential helper if the config names one,
 * else as `auths[host].auth` in the Docker config (mode 0600). Returns where they went.
 */
export async function login(host: string, username: string, password: string, opts: LoginOptions): Promise<{ stored: 'helper' | 'file'; where: string }> {
  const cred: Credential = { kind: 'basic', username, password };
  await new Registry(host, { ...opts.client, credentials: async () => cred }).ping(opts.signal);
  const path = dockerConfigPath(opts.env);
  const config = await readDockerConfig(path);
  const helper = helperFor(config, host);
  if (helper !== undefined) {
    const { code, stdout } = await runHelper(helper, 'store', JSON.stringify({ ServerURL: host, Username: username, Secret: password }), opts.env);
    if (code !== 0) throw helperError(helper, 'store', stdout);
    return { stored: 'helper', where: `docker-credential-${helper}` };
  }
  const auths = { ...(isObject(config.raw.auths) ? config.raw.auths : {}), [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } };
  await writeDockerConfig(path, { ...config.raw, auths });
  return { stored: 'file', where: path };
}

/** `logout` forgets `host`'s credentials (helper `erase`, or the `auths` entry); false if there were none. */
export async function logout(host: string, opts: { env: Env }): Promise<boolean> {
  const path = dockerConfigPath(opts.env);
  const config = await readDockerConfig(path);
  const helper = helperFor(config, host);
  if (helper !== undefined) {
    const { code, stdout } = await runHelper(helper, 'erase', host, opts.env);
    if (code === 0) return true;
    if (/credentials not found/i.test(stdout)) return false;
    throw helperError(helper, 'erase', stdout);
  }
  const keys = Object.keys(config.auths).filter((k) => k === host || hostOf(k) === host);
  if (keys.length === 0) return false;
  const auths = { ...config.auths };
  for (const k of keys) delete auths[k];
  await writeDockerConfig(path, { ...config.raw, auths });
  return true;
}
