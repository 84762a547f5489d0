import type { Stage } from './http.js';

/** Headers whose values are secrets; after sigstore-js `oci/src/registry.ts` `SENSITIVE_HEADERS`. */
const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
const SCHEMED = new Set(['authorization', 'proxy-authorization']);

/** `redactHeaders` keeps the scheme of a credential (`Bearer ***`) and hides the rest; cookies go whole. */
export function redactHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const s = Array.isArray(v) ? v.join(', ') : v;
    const name = k.toLowerCase();
    out[name] = !SENSITIVE.has(name) ? s : SCHEMED.has(name) ? `${s.split(' ')[0]} ***` : '***';
  }
  return out;
}

/** `redactUrl` hides query parameters that may carry secrets (upload `_state` is not one, but tokens in realms could be). */
function redactUrl(url: URL): string {
  const u = new URL(url);
  for (const k of [...u.searchParams.keys()]) if (/token|secret|password|signature|x-amz-/i.test(k)) u.searchParams.set(k, '***');
  if (u.username || u.password) {
    u.username = '***';
    u.password = '';
  }
  return u.toString();
}

/**
 * `withLog` writes one line per request and per response to `debug` (for `--verbose`), with
 * credentials redacted: a secret is never printed, whatever the log level.
 */
export function withLog(debug: (line: string) => void): Stage {
  return (next) => async (req) => {
    const started = Date.now();
    debug(`> ${req.method} ${redactUrl(req.url)} ${JSON.stringify(redactHeaders(req.headers ?? {}))}`);
    try {
      const res = await next(req);
      debug(`< ${res.status} ${req.method} ${redactUrl(req.url)} (${Date.now() - started} ms) ${JSON.stringify(redactHeaders(res.headers))}`);
      return res;
    } catch (e) {
      debug(`! ${req.method} ${redactUrl(req.url)} (${Date.now() - started} ms) ${(e as { code?: string }).code ?? 'error'}`);
      throw e;
    }
  };
}
