/**
 * A registry WITH the OCI 1.1 referrers API, for tests: a loopback proxy in front of a real
 * docker-registry (distribution 2.8.2, which has no referrers route) that serves
 * `GET /v2/<name>/referrers/<digest>[?artifactType=…]` itself (distribution-spec v1.1.1
 * §"Listing Referrers") and passes every other request through untouched.
 *
 *   const reg = await startRegistry({ referrersApi: true }); // this proxy, in front
 *
 * The listing is computed when asked, from what the registry really holds: every manifest of the
 * repository (the revision links in its storage directory) fetched by digest through the
 * registry's own API, with the client's credentials, and kept if its `subject` is the digest
 * asked about. So manifests pushed before the proxy existed, or around it, are found, and a
 * deleted one is gone. Per the spec: an unknown subject is `200` with an empty index, never
 * `404`; each descriptor carries the manifest's `artifactType` (else, for an image manifest,
 * its config media type) and its annotations; a filtered answer says `OCI-Filters-Applied:
 * artifactType`. A manifest PUT that carries a `subject` is answered with `OCI-Subject: <digest>`
 * (§"Pushing Manifests with Subject"), so a client knows not to write the referrers tag schema.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { request as httpRequest, IncomingMessage, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { serveLoopback } from './loopback.js';
import { join } from 'node:path';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface ReferrersProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>` */
  readonly host: string;
  /** Every referrers listing answered: `<name>@<subject>` and the filter, in order. */
  readonly listed: string[];
  stop(): Promise<void>;
}

/** A manifest as a referrers listing shows it, and the subject it names. */
interface Known {
  readonly descriptor: Record<string, unknown>;
  readonly subject: string | undefined;
}

async function readAll(s: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function parseJson(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function field(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
}

/** The referrers-index descriptor of a manifest, as a registry builds it (v1.1.1 §"Listing Referrers"). */
function referrerEntry(digest: string, mediaType: string, bytes: Buffer, body: Record<string, unknown>): Known {
  const artifactType = body.artifactType ?? (mediaType === INDEX ? undefined : field(body.config, 'mediaType'));
  const descriptor: Record<string, unknown> = { mediaType, digest, size: bytes.length };
  if (typeof artifactType === 'string') descriptor.artifactType = artifactType;
  if (typeof body.annotations === 'object' && body.annotations !== null) descriptor.annotations = body.annotations;
  const subject = field(body.subject, 'digest');
  return { descriptor, subject: typeof subject === 'string' ? subject : undefined };
}

/**
 * `startReferrersProxy` listens on a free loopback port in front of the registry at `upstream`
 * (`http://host:port`) whose storage root is `dataDir` (`RunningRegistry.dataDir`).
 */
export async function startReferrersProxy(upstream: string, dataDir: string): Promise<ReferrersProxy> {
  const up = new URL(upstream);
  const listed: string[] = [];

  const send = (method: string, path: string, headers: IncomingHttpHeaders, body?: Buffer | IncomingMessage) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const r = httpRequest({ host: up.hostname, port: up.port, method, path, headers, agent: false }, resolve);
      r.once('error', reject);
      if (body instanceof IncomingMessage) body.pipe(r);
      else r.end(body);
    });

  /** The digests of every manifest the repository holds (2.8.2's storage layout: `_manifests/revisions/<alg>/<hex>/link`). */
  const revisions = (name: string): string[] => {
    const dir = join(dataDir, 'docker/registry/v2/repositories', name, '_manifests/revisions');
    const out: string[] = [];
    for (const alg of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      // A deleted manifest keeps its directory but loses its link.
      for (const hex of readdirSync(join(dir, alg.name))) if (existsSync(join(dir, alg.name, hex, 'link'))) out.push(`${alg.name}:${hex}`);
    }
    return out.sort();
  };

  /**
   * Reads one manifest by digest through the registry, with the client's credentials, every time
   * (so the registry's own authorisation applies); an answer other than 200 or 404 is handed back whole.
   */
  const manifest = async (name: string, digest: string, headers: IncomingHttpHeaders): Promise<Known | undefined | IncomingMessage> => {
    const asking: IncomingHttpHeaders = { host: headers.host, accept: ACCEPT };
    if (headers.authorization !== undefined) asking.authorization = headers.authorization;
    const res = await send('GET', `/v2/${name}/manifests/${digest}`, asking);
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) return res;
    const bytes = await readAll(res);
    const body = parseJson(bytes);
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!;
    if (body === undefined || `sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) return undefined;
    return referrerEntry(digest, mediaType, bytes, body);
  };

  const referrers = async (req: IncomingMessage, res: ServerResponse, name: string, subject: string, artifactType: string | null) => {
    if (!/^sha256:[0-9a-f]{64}$/.test(subject)) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'invalid digest' }] }));
      return;
    }
    listed.push(`${name}@${subject}${artifactType === null ? '' : `?artifactType=${artifactType}`}`);
    let digests: string[];
    try {
      digests = revisions(name);
    } catch {
      digests = []; // no such repository yet: nothing refers to anything in it (answered without asking for credentials)
    }
    const manifests: Record<string, unknown>[] = [];
    for (const d of digests) {
      const k = await manifest(name, d, req.headers);
      if (k instanceof IncomingMessage) {
        res.writeHead(k.statusCode ?? 502, k.headers);
        k.pipe(res);
        return;
      }
      if (k?.subject !== subject) continue;
      if (artifactType !== null && k.descriptor.artifactType !== artifactType) continue;
      manifests.push(k.descriptor);
    }
    const headers: Record<string, string> = { 'content-type': INDEX };
    if (artifactType !== null) headers['oci-filters-applied'] = 'artifactType';
    res.writeHead(200, headers).end(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://proxy');
    const listing = method === 'GET' && /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(url.pathname);
    if (listing) return referrers(req, res, listing[1]!, decodeURIComponent(listing[2]!), url.searchParams.get('artifactType'));
    if (method === 'PUT' && /^\/v2\/.+\/manifests\/[^/]+$/.test(url.pathname)) {
      const body = await readAll(req);
      const answer = await send(method, req.url ?? '/', req.headers, body);
      const subject = field(parseJson(body)?.subject, 'digest');
      const headers = { ...answer.headers };
      if (answer.statusCode === 201 && typeof subject === 'string') headers['oci-subject'] = subject;
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
      return;
    }
    const answer = await send(method, req.url ?? '/', req.headers, req);
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  };

  return { ...(await serveLoopback(handle)), listed };
}
