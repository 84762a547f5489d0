import { header, httpUrl, quoted, replayable, type Stage } from './http.js';
import { registryFailure } from './codes.js';

/** `MAX_REDIRECTS` bounds redirect chains (blob GETs go to storage back ends, once or twice). */
export const MAX_REDIRECTS = 5;

/**
 * `withRedirects` follows 301/302/303/307/308. Registries redirect blob downloads to storage on
 * other hosts (S3, CDNs); the distribution-spec (HEAD) says clients "MUST NOT forward
 * `Authorization` headers across host boundaries", so it is dropped as soon as the origin changes
 * and never restored along the chain. A one-shot stream body is not re-sent: the redirect
 * response goes back to the caller.
 */
export const withRedirects: Stage = (next) => async (req) => {
  let current = req;
  for (let hop = 0; ; hop++) {
    const res = await next(current);
    if (![301, 302, 303, 307, 308].includes(res.status) || header(res, 'location') === undefined) return res;
    if (!replayable(current.body)) return res;
    if (hop >= MAX_REDIRECTS) {
      await res.body.dump();
      throw registryFailure('TOO_MANY_REDIRECTS', `${req.url.host}: more than ${MAX_REDIRECTS} redirects`, {
        hint: 'the registry or its storage redirects in a loop; report it to its operator',
        data: { host: req.url.host },
      });
    }
    await res.body.dump();
    const location = header(res, 'location')!;
    const url = httpUrl(location, res.url);
    if (url === undefined) {
      throw registryFailure('REDIRECT_INVALID', `${res.url.host}: redirect to ${quoted(location)}, not an http(s) URL`, {
        hint: 'the registry or its storage redirects where ebpm does not follow; report it to its operator',
        data: { host: res.url.host, status: res.status },
      });
    }
    const headers: Record<string, string> = { ...current.headers };
    if (url.origin !== current.url.origin) {
      delete headers.authorization;
      delete headers.Authorization;
    }
    const toGet = res.status === 303 && current.method !== 'HEAD';
    // A 303 turns the request into a GET without a body.
    const { body, ...rest } = current;
    current = { ...rest, url, headers, method: toGet ? 'GET' : current.method, ...(toGet || body === undefined ? {} : { body }) };
  }
};
