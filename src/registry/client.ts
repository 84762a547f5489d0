import { Auth, type CredentialFunc } from './auth.js';
import type { BlobOptions } from './blobs.js';
import { CATALOG_SCOPE } from './challenge.js';
import { registryError } from './errors.js';
import { readCapped, schemeFor, type Send, type Stage, type Timeouts, wireSend } from './http.js';
import { withLog } from './log.js';
import { MAX_LIST_BYTES, pageLimits, paginate, stringList } from './pagination.js';
import { withRedirects } from './redirect.js';
import type { ReferrersApi } from './referrers.js';
import { withRetry } from './retry.js';
import { Repository } from './repository.js';

/** `ClientOptions` configure a `Registry` and the repositories opened from it. */
export interface ClientOptions extends BlobOptions {
  /** Where credentials come from (e.g. `dockerCredentials(env)`); none means anonymous. */
  readonly credentials?: CredentialFunc;
  /** Plain HTTP for all hosts (`--plain-http`) or for these (the config's insecure list). Loopback always is. */
  readonly insecure?: boolean | readonly string[];
  readonly timeouts?: Timeouts;
  /** Receives one redacted line per HTTP exchange (`--verbose`). */
  readonly debug?: (line: string) => void;
  /** Entries asked for per page of tags and catalog (default 1000). */
  readonly pageSize?: number;
  /** Pages followed before giving up (default `DEFAULT_MAX_PAGES`, 100). */
  readonly maxPages?: number;
  /** Entries of one listing (tags, catalog, referrers) before giving up (default `DEFAULT_MAX_ENTRIES`, 100,000). */
  readonly maxEntries?: number;
  /** Largest manifest, index or referrers page read (default and at most `MAX_MANIFEST_BYTES`, 4 MiB). */
  readonly maxManifestBytes?: number;
  /** The innermost stage, instead of the network (`wireSend`): the push snapshot's warm-up answers from memory (cli/snapshot-registry.ts). */
  readonly wire?: Send;
}

/**
 * `Registry` is one registry host: its transport (auth, retries, redirects and logging composed
 * over the wire, each a `Stage`), the host-level endpoints (`/v2/`, `_catalog`) and the
 * repositories, which share its token cache.
 */
export class Registry {
  /** `host[:port]` */
  readonly host: string;
  /** `<scheme>://<host>` */
  readonly base: string;
  readonly send: Send;
  readonly options: ClientOptions;
  readonly referrers: ReferrersApi = { supported: undefined };

  constructor(host: string, options: ClientOptions = {}) {
    this.host = host;
    this.options = options;
    this.base = `${schemeFor(host, options.insecure)}://${host}`;
    const network = options.wire ?? wireSend(options.timeouts);
    const wire = options.debug === undefined ? network : withLog(options.debug)(network);
    const plain = compose(withRetry(options.retry), withRedirects)(wire);
    const auth = new Auth({
      send: plain,
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      ...(options.insecure === undefined ? {} : { insecure: options.insecure }),
    });
    this.send = auth.stage(plain);
  }

  /**
   * `ping` checks `GET /v2/` (end-1): 200 means a distribution-spec registry that accepts this
   * client's credentials (a 401 answered by the auth stage is retried with them).
   */
  async ping(signal?: AbortSignal): Promise<void> {
    const res = await this.send({ method: 'GET', url: new URL(`${this.base}/v2/`), idempotent: true, signal });
    if (res.status !== 200) throw await registryError(res, { fallback: { 404: 'NOT_A_REGISTRY' } });
    await res.body.dump();
  }

  /**
   * `catalog` lists the repositories (`GET /v2/_catalog`, distribution's API, not OCI), following
   * `Link` pages (2.8.2 sends relative ones), sorted.
   */
  async catalog(signal?: AbortSignal): Promise<string[]> {
    const url = new URL(`${this.base}/v2/_catalog`);
    url.searchParams.set('n', String(this.options.pageSize ?? 1000));
    const names = new Set<string>();
    await paginate(
      this.send,
      url,
      { scopes: [CATALOG_SCOPE], signal },
      async (res) => {
        const page = stringList(res.url.host, await readCapped(res, MAX_LIST_BYTES, 'catalog page'), 'repositories');
        for (const n of page) names.add(n);
        return page.length;
      },
      pageLimits(this.options),
    );
    return [...names].sort();
  }

  /** `repository` opens `name` (`namespace/name`) on this registry. */
  repository(name: string): Repository {
    return new Repository(this, name);
  }
}

/** `compose(a, b)(send)` is `a(b(send))`: the first stage is the outermost. */
export function compose(...stages: Stage[]): Stage {
  return (send) => stages.reduceRight((next, stage) => stage(next), send);
}
