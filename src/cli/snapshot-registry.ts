/**
 * A registry in memory, as the registry client's innermost stage (`ClientOptions.wire`), for
 * `ebpm push`'s start-up snapshot (snapshot-push.ts): pushing the sample package to it while the
 * snapshot is built compiles the client's code on a push's way (the checks, upload sessions,
 * blob and manifest uploads, the search index), which a real registry cannot do there (Node 20
 * cannot load node:http while it builds a snapshot). It answers the distribution spec's routes a
 * push takes, and only those; nothing but the build uses it.
 */
import { Readable } from 'node:stream';
import { sha256Digest } from '../core/digest.js';
import type { RegistryRequest, RegistryResponse, Send } from '../registry/http.js';

interface Stored {
  readonly bytes: Uint8Array;
  readonly type: string;
  readonly digest: string;
}

const ROUTE = /^\/v2\/(.+)\/(tags\/list|manifests\/[^/]+|blobs\/uploads\/[^/]*|blobs\/[^/]+|referrers\/[^/]+)$/;

/** `memoryRegistry` is a new, empty registry's `Send`. */
export function memoryRegistry(): Send {
  const objects = new Map<string, Stored>();
  let sessions = 0;
  return async (req) => {
    const route = ROUTE.exec(req.url.pathname);
    if (route === null) return answer(req, 404, {}, error('NAME_UNKNOWN'));
    const [, repo, rest] = route as unknown as [string, string, string];
    const [kind, ref = ''] = rest.startsWith('blobs/uploads/')
      ? ['upload', rest.slice(14)]
      : [rest.slice(0, rest.indexOf('/')), rest.slice(rest.indexOf('/') + 1)];
    const key = `${repo}/${kind === 'manifests' ? 'manifests' : 'blobs'}/${ref}`;
    switch (`${req.method} ${kind}`) {
      case 'GET tags': {
        const tags = [...objects.keys()].filter((k) => k.startsWith(`${repo}/manifests/`) && !k.includes(':')).map((k) => k.slice(repo.length + 11));
        return tags.length === 0
          ? answer(req, 404, {}, error('NAME_UNKNOWN'))
          : answer(req, 200, { 'content-type': 'application/json' }, json({ name: repo, tags }));
      }
      case 'HEAD manifests':
      case 'GET manifests':
      case 'HEAD blobs':
      case 'GET blobs': {
        const found = objects.get(key);
        if (found === undefined) return answer(req, 404, {}, error(kind === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN'));
        const headers = { 'content-type': found.type, 'docker-content-digest': found.digest, 'content-length': String(found.bytes.byteLength) };
        return answer(req, 200, headers, req.method === 'GET' ? found.bytes : new Uint8Array(0));
      }
      case 'GET referrers':
        return answer(req, 404, {}, error('NAME_UNKNOWN'));
      case 'POST upload':
        return answer(req, 202, { location: `/v2/${repo}/blobs/uploads/${++sessions}`, 'content-length': '0' }, new Uint8Array(0));
      case 'PUT upload': {
        const digest = req.url.searchParams.get('digest') ?? '';
        const bytes = await bodyOf(req);
        if (digest !== sha256Digest(bytes)) return answer(req, 400, {}, error('DIGEST_INVALID'));
        objects.set(`${repo}/blobs/${digest}`, { bytes, type: 'application/octet-stream', digest });
        return answer(req, 201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest }, new Uint8Array(0));
      }
      case 'PUT manifests': {
        const bytes = await bodyOf(req);
        const stored = { bytes, type: req.headers?.['content-type'] ?? '', digest: sha256Digest(bytes) };
        objects.set(key, stored);
        objects.set(`${repo}/manifests/${stored.digest}`, stored);
        return answer(req, 201, { location: `/v2/${repo}/manifests/${stored.digest}`, 'docker-content-digest': stored.digest }, new Uint8Array(0));
      }
      default:
        return answer(req, 405, {}, error('UNSUPPORTED'));
    }
  };
}

async function bodyOf(req: RegistryRequest): Promise<Uint8Array> {
  if (req.body === undefined || req.body instanceof Uint8Array) return req.body ?? new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  for await (const chunk of req.body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function answer(req: RegistryRequest, status: number, headers: Record<string, string>, bytes: Uint8Array): RegistryResponse {
  const body = Object.assign(Readable.from([bytes], { objectMode: false }), { dump: async () => undefined });
  return { status, headers: { 'content-length': String(bytes.byteLength), ...headers }, body, url: req.url };
}

const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));
const error = (code: string): Uint8Array => json({ errors: [{ code, message: code.toLowerCase().replace('_', ' ') }] });
