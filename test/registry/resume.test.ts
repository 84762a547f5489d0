// A dropped blob download resumes at exactly the bytes received. The server cuts the connection
// only once `fetchBlob` has read them from the response body, so the offset does not depend on
// timing (a consumer reading late would find undici's buffered bytes discarded, and rightly
// resume from fewer).
import type { ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { fetchBlob } from '../../src/registry/blobs.js';
import type { RegistryResponse, Send } from '../../src/registry/http.js';
import type { RepoContext } from '../../src/registry/manifests.js';
import { startHostile, type HostileServer } from '../helpers/hostile-server.js';
import { bytesOf, registry } from './fixtures.js';

const BLOB = bytesOf(64 * 1024, 'resume');
const DESC = { mediaType: 'application/octet-stream', digest: sha256Digest(BLOB), size: BLOB.byteLength };
const FIRST = 4096;

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** Serves `BLOB`: the first GET sends `firstBytes` and holds the connection for `cut`; a Range GET gets the rest. */
async function cutting(firstBytes: number) {
  let held: ServerResponse | undefined;
  let gets = 0;
  server = await startHostile((req, res) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m !== null) {
      const from = Number(m[1]);
      res.writeHead(206, { 'content-length': String(BLOB.byteLength - from), 'content-range': `bytes ${from}-${BLOB.byteLength - 1}/${BLOB.byteLength}` });
      res.end(BLOB.subarray(from));
      return;
    }
    if (gets++ > 0) {
      res.writeHead(200, { 'content-length': String(BLOB.byteLength) }).end(BLOB);
      return;
    }
    res.writeHead(200, { 'content-length': String(BLOB.byteLength) });
    if (firstBytes === 0) {
      // Headers, then the end of the connection: not one byte of the body.
      res.flushHeaders();
      req.socket.end();
      return;
    }
    res.write(BLOB.subarray(0, firstBytes));
    held = res;
  });
  return { cut: () => held?.socket?.destroy(), repo: registry(server.host).repository('a/b') };
}

const ranges = () => server!.seen.map((r) => r.headers.range ?? null);

/** `readingAtOnce` is `repo` whose first response body calls `cut` as soon as `fetchBlob` has read `FIRST` bytes of it. */
function readingAtOnce(repo: RepoContext, cut: () => void): RepoContext {
  let first = true;
  const send: Send = async (req) => {
    const res = await repo.send(req);
    if (!first) return res;
    first = false;
    const original = res.body;
    async function* tapped(): AsyncGenerator<Uint8Array> {
      let n = 0;
      for await (const chunk of original as AsyncIterable<Uint8Array>) {
        n += chunk.byteLength;
        yield chunk;
        if (n === FIRST) cut();
      }
    }
    const body = { [Symbol.asyncIterator]: tapped, dump: () => original.dump() } as unknown as RegistryResponse['body'];
    return { ...res, body };
  };
  return { host: repo.host, name: repo.name, url: (p) => repo.url(p), send };
}

it('resumes with Range: bytes=<received>- at exactly the bytes received', async () => {
  const { cut, repo } = await cutting(FIRST);
  const parts: Uint8Array[] = [];
  for await (const chunk of await fetchBlob(readingAtOnce(repo, cut), DESC, {})) parts.push(chunk);
  expect(Buffer.concat(parts).equals(BLOB)).toBe(true);
  expect(ranges()).toEqual([null, `bytes=${FIRST}-`]);
});

it('asks again with a plain GET when the connection broke before any byte of the body', async () => {
  const { repo } = await cutting(0);
  const parts: Uint8Array[] = [];
  for await (const chunk of await repo.fetch(DESC)) parts.push(chunk);
  expect(Buffer.concat(parts).equals(BLOB)).toBe(true);
  expect(ranges()).toEqual([null, null]);
});
