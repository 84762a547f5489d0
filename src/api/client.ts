/**
 * `Ebpm`, the library's client: the services behind `ebpm pull`, `push`, `inspect`, `verify`,
 * `search` and `run`, opened with the configuration the command line uses (config file, store,
 * registries, credentials and trust policy, from the same environment variables).
 */
import { resolve } from 'node:path';
import type { Platform } from '../core/oci.js';
import { storeDir, type Env } from '../core/paths.js';
import { openContext, type Context } from './context.js';

export { openContext, type Context } from './context.js';
import { inspectPath, type InspectResult } from '../services/inspect.js';
import { isLocalPath } from '../services/local-source.js';
import type { PullResult } from '../services/pull.js';
import type { PushResult } from '../services/push.js';
import type { PullPolicy } from '../services/run-source.js';
import type { SearchResult } from '../services/search.js';
import type { OnTransferEvent } from '../services/transfer.js';
import type { ReferenceVerification } from '../services/trust.js';
import { startRun, type ParamInput, type RunHandle } from './run.js';
import { resolveSource } from './sources.js';

/** How to open a client; every field is optional. */
export interface OpenOptions {
  /**
   * The environment that decides where ebpm keeps its files and which registry it uses
   * (`EBPM_CONFIG`, `EBPM_STORE`, `EBPM_REGISTRY`, …, as for the command). Default `process.env`.
   */
  readonly env?: Env;
  /** The directory relative paths are read from. Default `process.cwd()`. */
  readonly cwd?: string;
  /** Called with one line per HTTP exchange with a registry (the command's `--verbose`). */
  readonly debug?: (line: string) => void;
  /** Registries to speak plain HTTP to besides loopback ones and the config's `insecure` list. */
  readonly plainHttp?: readonly string[];
}

/** Options of `Ebpm.pull`. */
export interface PullOptions {
  /** `always` asks the registry; `missing` (default) only for what the store lacks; `never`: the store only. */
  readonly policy?: PullPolicy;
  /** Let a range or `latest` pick a pre-release. */
  readonly prerelease?: boolean;
  /** The platform a multi-platform package must offer (default this machine's). */
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
  /** Progress of each blob, as the command's progress bars get it. */
  readonly onEvent?: OnTransferEvent;
}

/** Options of `Ebpm.push`. */
export interface PushOptions {
  /** `[registry/][namespace/]name` to push to instead of the default registry and the package's name. */
  readonly to?: string;
  /** Tags to set besides the version and floating tags (such as `stable`). */
  readonly tags?: readonly string[];
  /** Replace a version tag that holds other content. */
  readonly force?: boolean;
  /** `false`: move only `latest`, not `M.m` and `M`. Default true. */
  readonly floatingTags?: boolean;
  readonly signal?: AbortSignal;
  readonly onEvent?: OnTransferEvent;
}

/** Options of `Ebpm.verify`. */
export interface VerifyOptions {
  /** Paths of the signers' public keys (cosign's format); default: the keys the trust policy names for the repository. */
  readonly keys?: readonly string[];
  readonly signal?: AbortSignal;
}

/** Options of `Ebpm.run`. */
export interface RunOptions {
  /** The package's parameters, by flag name (`pid`) or C name (`filtered_pid`): text as on the command line, or typed. */
  readonly params?: Readonly<Record<string, ParamInput>>;
  /** A Wasm program's arguments (what follows `--` on the command line). */
  readonly args?: readonly string[];
  /** Stop after this many events (a Wasm program's lines). */
  readonly maxEvents?: number;
  /** Stop after this many milliseconds. */
  readonly durationMs?: number;
  /** When a reference is pulled: `missing` (default), `always` or `never`. */
  readonly pull?: PullPolicy;
  /** Aborting it stops the run, as `RunHandle.stop()` does. */
  readonly signal?: AbortSignal;
}

/** `Ebpm` is a client: every method reads and writes the same store and registries as the `ebpm` command. */
export interface Ebpm {
  /** Where the local store is. */
  readonly storePath: string;
  /** Copies a package from its registry into the local store (`ebpm pull`). */
  pull(reference: string, opts?: PullOptions): Promise<PullResult>;
  /** Publishes a package directory, OCI layout, or a stored reference (`ebpm push`). */
  push(source: string, opts?: PushOptions): Promise<PushResult>;
  /** What a package directory, layout, object, Wasm module or reference holds (`ebpm inspect`). */
  inspect(source: string, opts?: { readonly platform?: Platform }): Promise<InspectResult>;
  /** Checks a package's signatures with the given keys, else the trust policy's (`ebpm verify <ref>`); it reports, it does not throw on a bad signature. */
  verify(reference: string, opts?: VerifyOptions): Promise<ReferenceVerification>;
  /** Finds packages by name, description and keywords in the configured registries (`ebpm search`). */
  search(term: string, opts?: { readonly refresh?: boolean; readonly signal?: AbortSignal }): Promise<SearchResult>;
  /**
   * Loads and attaches a package (`ebpm run`), as root; resolves once its programs are attached,
   * or its Wasm program started (which then prints its own lines: they are its events).
   */
  run(source: string, opts?: RunOptions): Promise<RunHandle>;
}

/** `openEbpm` opens a client: it reads the configuration file once (a bad one is `CONFIG_INVALID`). */
export async function openEbpm(opts: OpenOptions = {}): Promise<Ebpm> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const ctx = await openContext(env, {
    ...(opts.debug === undefined ? {} : { debug: opts.debug }),
    ...(opts.plainHttp === undefined ? {} : { plainHttp: opts.plainHttp }),
  });
  return clientOf(() => Promise.resolve(ctx), env, cwd);
}

/**
 * `clientOf` is the client over a context opened on first use (how the command line opens it,
 * with its own options and trust policy): `inspect` of a local path never opens it.
 * @internal
 */
export function clientOf(context: () => Promise<Context>, env: Env, cwd: string): Ebpm {
  return new Client(context, env, cwd);
}

class Client implements Ebpm {
  constructor(
    private readonly context: () => Promise<Context>,
    private readonly env: Env,
    private readonly cwd: string,
  ) {}

  get storePath(): string {
    return storeDir(this.env, process.getuid?.());
  }

  async pull(reference: string, opts: PullOptions = {}): Promise<PullResult> {
    const { pull } = await import('../services/pull.js');
    return pull(await this.context(), {
      reference,
      policy: opts.policy ?? 'missing',
      includePrerelease: opts.prerelease === true,
      ...(opts.platform === undefined ? {} : { platform: opts.platform }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.onEvent === undefined ? {} : { onEvent: opts.onEvent }),
    });
  }

  async push(source: string, opts: PushOptions = {}): Promise<PushResult> {
    const { push } = await import('../services/push.js');
    return push(await this.context(), {
      path: resolve(this.cwd, source),
      reference: source,
      ...(opts.to === undefined ? {} : { destination: opts.to }),
      ...(opts.tags === undefined ? {} : { tags: opts.tags }),
      ...(opts.force === undefined ? {} : { force: opts.force }),
      ...(opts.floatingTags === undefined ? {} : { floatingTags: opts.floatingTags }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.onEvent === undefined ? {} : { onEvent: opts.onEvent }),
    });
  }

  async inspect(source: string, opts: { readonly platform?: Platform } = {}): Promise<InspectResult> {
    if (await isLocalPath(this.cwd, source)) return inspectPath(source, this.cwd, this.env, opts.platform);
    const { inspectRemote } = await import('../services/inspect-remote.js');
    return inspectRemote(await this.context(), source, opts.platform);
  }

  async verify(reference: string, opts: VerifyOptions = {}): Promise<ReferenceVerification> {
    const [{ verifyReference }, { readTrustedKeyFile }] = await Promise.all([import('../services/trust.js'), import('../services/sign.js')]);
    const keys = opts.keys === undefined ? undefined : await Promise.all(opts.keys.map((k) => readTrustedKeyFile(resolve(this.cwd, k))));
    const ctx = await this.context();
    return verifyReference(ctx, reference, {
      policy: await ctx.trustPolicy(),
      ...(keys === undefined ? {} : { keys }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  }

  async search(term: string, opts: { readonly refresh?: boolean; readonly signal?: AbortSignal } = {}): Promise<SearchResult> {
    const { search } = await import('../services/search.js');
    return search(await this.context(), { term, ...opts });
  }

  async run(source: string, opts: RunOptions = {}): Promise<RunHandle> {
    const pkg = await resolveSource(source, {
      pull: opts.pull ?? 'missing',
      env: this.env,
      cwd: this.cwd,
      context: this.context,
      trustPolicy: async () => (await this.context()).trustPolicy(),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    return startRun(pkg, {
      params: opts.params ?? {},
      args: opts.args ?? [],
      ...(opts.maxEvents === undefined ? {} : { maxEvents: opts.maxEvents }),
      ...(opts.durationMs === undefined ? {} : { durationMs: opts.durationMs }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  }
}
