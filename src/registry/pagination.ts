import { decodeJson, isObject } from '../core/json.js';
import { header, resolveLocation, type RegistryRequest, type RegistryResponse, type Send } from './http.js';
import { protocolError, registryError, type Asked } from './errors.js';
import { registryFailure } from './codes.js';

/**
 * Paginated listings (tags, `_catalog`, referrers) follow `Link: <url>; rel="next"` (RFC 8288;
 * distribution-spec v1.1.1 §"Listing Tags": clients "should prefer the `Link` header over using
 * the `last` parameter"). 2.8.2 sends relative catalog links and never paginates tags, so a
 * missing Link simply ends the listing. Pages are bounded in number (a registry cannot make the
 * client loop forever, after oras-go `TagListMaxPages`) and must stay on the same origin.
 */

/** `nextLink` finds the `rel="next"` target of a `Link` header value. */
export function nextLink(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Links are comma-separated, but a URL may itself hold commas: match `<...>` then its params.
  for (const m of value.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const params = m[2] ?? '';
    if (/;\s*rel\s*=\s*"?(?:[^";]*\s)?next(?:\s[^";]*)?"?\s*(?:;|$)/i.test(params)) return m[1];
  }
  return undefined;
}

export interface PageOptions {
  /** Stop with `TOO_MANY_PAGES` after this many pages (default `DEFAULT_MAX_PAGES`). */
  readonly maxPages?: number;
  /** Stop with `TOO_MANY_ENTRIES` past this many entries in all (default `DEFAULT_MAX_ENTRIES`). */
  readonly maxEntries?: number;
}

/** `DEFAULT_MAX_PAGES` is 100 pages (of 1000 entries each, asked for). */
export const DEFAULT_MAX_PAGES = 100;
/** `DEFAULT_MAX_ENTRIES` is 100,000 tags, repositories or referrers: a listing ebpm holds in memory. */
export const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * `paginate` GETs `first` and each next page, handing every 200 response to `read`, which
 * returns how many entries the page held; the request template supplies scopes, headers and
 * the signal. Each page is bounded by its reader (`MAX_LIST_BYTES`), the listing by `opts`.
 */
export async function paginate(
  send: Send,
  first: URL,
  template: Omit<RegistryRequest, 'url' | 'method'>,
  read: (res: RegistryResponse) => Promise<number>,
  opts: PageOptions & { asked?: Asked } = {},
): Promise<void> {
  const maxPages = opts.maxPages ?? DEFAULT_MAX_PAGES;
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  let entries = 0;
  const seen = new Set<string>();
  let url: URL | undefined = first;
  for (let page = 0; url !== undefined; page++) {
    if (page >= maxPages) {
      throw registryFailure('TOO_MANY_PAGES', `${first.host}: listing ${first.pathname} has more than ${maxPages} pages`, {
        hint: 'the registry paginates without end; report it to its operator',
        data: { host: first.host, maxPages },
      });
    }
    seen.add(url.href);
    const res = await send({ ...template, method: 'GET', url, idempotent: true });
    if (res.status !== 200) throw await registryError(res, opts.asked === undefined ? {} : { asked: opts.asked });
    const link = nextLink(header(res, 'link'));
    entries += await read(res);
    if (entries > maxEntries) {
      throw registryFailure('TOO_MANY_ENTRIES', `${first.host}: listing ${first.pathname} has more than ${maxEntries} entries`, {
        hint: 'the registry lists more than ebpm holds; report it to its operator',
        data: { host: first.host, maxEntries },
      });
    }
    if (link === undefined) return;
    const next = resolveLocation(res, link, 'pagination link');
    if (next.origin !== first.origin) throw protocolError(first.host, `pagination link leaves the registry (${next.origin})`);
    if (seen.has(next.href)) throw protocolError(first.host, 'pagination link loops back to a page already read');
    url = next;
  }
}

/** `pageLimits` picks the listing limits out of a client's options. */
export function pageLimits(opts: PageOptions): PageOptions {
  return {
    ...(opts.maxPages === undefined ? {} : { maxPages: opts.maxPages }),
    ...(opts.maxEntries === undefined ? {} : { maxEntries: opts.maxEntries }),
  };
}

/** `MAX_LIST_BYTES` bounds one page of tags or catalog (4 MiB, like manifests). */
export const MAX_LIST_BYTES = 4 * 1024 * 1024;

/** `stringList` reads `{"<field>": ["…", …]}` (tags list, catalog); `null` counts as empty (2.8.2 sends it). */
export function stringList(host: string, bytes: Uint8Array, field: string): string[] {
  const parsed = decodeJson(bytes);
  const v = parsed !== undefined && isObject(parsed.value) ? parsed.value[field] : undefined;
  if (v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw protocolError(host, `${field} list is not {"${field}": [strings]}`);
  }
  return v as string[];
}
