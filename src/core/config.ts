/**
 * The ebpm config file (`$EBPM_CONFIG`, else `~/.config/ebpm/config.json`, see `configFile`):
 *
 *   { "defaultRegistry": "ghcr.io", "defaultNamespace": "acme",
 *     "insecure": ["registry.lan:5000"], "registries": ["ghcr.io/acme", "registry.lan:5000"] }
 *
 * Every field is optional. `EBPM_REGISTRY=host[:port][/namespace]` overrides `defaultRegistry`
 * (and `defaultNamespace` when it names one). With no registry configured, short names go to the
 * embedded registry (`EMBEDDED_REGISTRY`), a directory on this machine. `--plain-http <host>` adds hosts to
 * `insecure` for one command. This module is pure: it
 * narrows bytes someone else read and combines them with the environment.
 */
import { EbpmError } from './errors.js';
import { decodeJson, Fields, isObject, notObjectReason, type JsonObject } from './json.js';
import type { Env } from './paths.js';

/**
 * `EMBEDDED_REGISTRY` is the host name references use for the embedded registry. RFC 2606
 * reserves `.invalid`, so it can never name a real host.
 */
export const EMBEDDED_REGISTRY = 'local.invalid';

/** `Config` is the config file as written. */
export interface Config {
  readonly defaultRegistry?: string;
  readonly defaultNamespace?: string;
  /** Hosts spoken to over plain HTTP (loopback always is). */
  readonly insecure: readonly string[];
  /** Where `ebpm search` looks: `host[/namespace]` each; default the default registry. */
  readonly registries: readonly string[];
}

/** `RegistryLocation` is a registry host and an optional namespace within it. */
export interface RegistryLocation {
  readonly host: string;
  readonly namespace?: string;
}

/** `Settings` is what the commands use: the config with the environment applied. */
export interface Settings {
  /** Where short names resolve. */
  readonly defaults: RegistryLocation;
  readonly insecure: readonly string[];
  /** Where search looks, in order. */
  readonly search: readonly RegistryLocation[];
}

const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?$/;
const NAMESPACE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const KNOWN = new Set(['defaultRegistry', 'defaultNamespace', 'insecure', 'registries']);

/** `EMPTY_CONFIG` is the config of a machine without a config file. */
export const EMPTY_CONFIG: Config = Object.freeze({ insecure: [], registries: [] });

/** `parseLocation` reads `host[:port][/namespace]`, or undefined when it is not one. */
export function parseLocation(s: string): RegistryLocation | undefined {
  const slash = s.indexOf('/');
  const host = slash < 0 ? s : s.slice(0, slash);
  const namespace = slash < 0 ? undefined : s.slice(slash + 1);
  if (!HOST.test(host) || (namespace !== undefined && !NAMESPACE.test(namespace))) return undefined;
  return namespace === undefined ? { host } : { host, namespace };
}

/** `formatLocation` writes a location back as `host[/namespace]`. */
export function formatLocation(l: RegistryLocation): string {
  return l.namespace === undefined ? l.host : `${l.host}/${l.namespace}`;
}

/**
 * `parseConfig` narrows the config file's bytes; every bad field is listed in one
 * `CONFIG_INVALID` error (`data.fields`). Unknown fields are errors too: a typo must not be ignored.
 */
export function parseConfig(bytes: Uint8Array, path: string): Config {
  const parsed = decodeJson(bytes);
  if (parsed === undefined || !isObject(parsed.value)) throw invalid(path, [`(root): ${notObjectReason(parsed)}`]);
  const o: JsonObject = parsed.value;
  const f = new Fields();
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) f.add(k, 'unknown field');
  const defaultRegistry = f.string(o, 'defaultRegistry', '', false);
  if (defaultRegistry !== undefined && !HOST.test(defaultRegistry)) f.add('defaultRegistry', 'not host[:port]');
  const defaultNamespace = f.string(o, 'defaultNamespace', '', false);
  if (defaultNamespace !== undefined && !NAMESPACE.test(defaultNamespace)) f.add('defaultNamespace', 'not a repository path');
  const insecure = stringList(f, o, 'insecure', (s) => HOST.test(s), 'not host[:port]');
  const registries = stringList(f, o, 'registries', (s) => parseLocation(s) !== undefined, 'not host[:port][/namespace]');
  if (f.problems.length > 0) throw invalid(path, f.problems);
  return {
    ...(defaultRegistry === undefined ? {} : { defaultRegistry }),
    ...(defaultNamespace === undefined ? {} : { defaultNamespace }),
    insecure,
    registries,
  };
}

function stringList(f: Fields, o: JsonObject, key: string, ok: (s: string) => boolean, problem: string): string[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    f.add(key, 'not an array');
    return [];
  }
  const out: string[] = [];
  v.forEach((s: unknown, i) => {
    if (typeof s !== 'string' || !ok(s)) f.add(`${key}[${i}]`, typeof s === 'string' ? problem : 'not a string');
    else out.push(s);
  });
  return out;
}

/**
 * `settingsFrom` applies the environment to a config: `EBPM_REGISTRY` first, then the file's
 * `defaultRegistry`/`defaultNamespace`, then the embedded registry. `plainHttp` (the hosts of
 * `--plain-http`) joins the config's `insecure` list. A bad `EBPM_REGISTRY` or host is
 * `CONFIG_INVALID`.
 */
export function settingsFrom(config: Config, env: Env, plainHttp: readonly string[] = []): Settings {
  let defaults: RegistryLocation;
  if (env.EBPM_REGISTRY) {
    const loc = parseLocation(env.EBPM_REGISTRY);
    if (loc === undefined) {
      throw new EbpmError('CONFIG_INVALID', `EBPM_REGISTRY=${JSON.stringify(env.EBPM_REGISTRY.slice(0, 200))}: not host[:port][/namespace]`, {
        hint: 'set EBPM_REGISTRY to a registry such as ghcr.io/acme or 127.0.0.1:5000, or unset it',
        data: { fields: ['EBPM_REGISTRY: not host[:port][/namespace]'] },
      });
    }
    const namespace = loc.namespace ?? config.defaultNamespace;
    defaults = namespace === undefined ? { host: loc.host } : { host: loc.host, namespace };
  } else {
    const host = config.defaultRegistry ?? EMBEDDED_REGISTRY;
    defaults = config.defaultNamespace === undefined ? { host } : { host, namespace: config.defaultNamespace };
  }
  const search = config.registries.length > 0 ? config.registries.map((s) => parseLocation(s)!) : [defaults];
  return { defaults, insecure: [...config.insecure, ...plainHttpHosts(plainHttp)], search };
}

/** `plainHttpHosts` checks the hosts `--plain-http <host>` names. */
function plainHttpHosts(hosts: readonly string[]): readonly string[] {
  const bad = hosts.find((h) => !HOST.test(h));
  if (bad !== undefined) {
    throw new EbpmError('CONFIG_INVALID', `plain HTTP host ${JSON.stringify(bad.slice(0, 200))}: not host[:port]`, {
      hint: 'name the registry as host[:port], e.g. --plain-http registry.lan:5000',
    });
  }
  return hosts;
}

function invalid(path: string, fields: string[]): EbpmError {
  return new EbpmError('CONFIG_INVALID', `config ${path}: ${fields.join('; ')}`, {
    hint: 'fix the file: fields are defaultRegistry, defaultNamespace, insecure [hosts], registries [host/namespace]',
    data: { path, fields },
  });
}
