// URLs a registry sends (redirects, upload Locations, Link headers) that are malformed or not
// http(s) are the registry's fault: a typed error naming the URL, never a crash taken for a bug.
import { expect, it } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import { hostileServers } from '../helpers/hostile-server.js';
import { ebpm, sandbox } from '../cli/helpers.js';
import { registry, rejection } from './fixtures.js';

const serve = hostileServers();
const redirecting = (location: string) => serve((_req, res) => res.writeHead(307, { location }).end());

it.each([
  ['file:///etc/passwd', '"file:///etc/passwd"'],
  ['http://[::1', '"http://[::1"'],
  ['gopher://x/y', '"gopher://x/y"'],
])('refuses a redirect to %j', async (location, shown) => {
  const s = await redirecting(location);
  const e = await rejection(registry(s.host).repository('a/b').tags());
  expect([e.code, e.message, e.hint]).toEqual([
    'REDIRECT_INVALID',
    `list tags of a/b: ${s.host}: redirect to ${shown}, not an http(s) URL`,
    'the registry or its storage redirects where ebpm does not follow; report it to its operator',
  ]);
});

it('exits 1 with the message and hint when a pull is redirected to file://', async () => {
  const s = await redirecting('file:///etc/shadow');
  const r = await ebpm(['pull', `${s.host}/ebpm/sigsnoop@1`], sandbox().env);
  expect([r.code, r.out, r.err]).toEqual([
    1,
    '',
    `error: pull ${s.host}/ebpm/sigsnoop@1: resolve ${s.host}/ebpm/sigsnoop@1: list tags of ebpm/sigsnoop: ${s.host}: redirect to "file:///etc/shadow", not an http(s) URL\nhint: the registry or its storage redirects where ebpm does not follow; report it to its operator\n`,
  ]);
});

it.each([
  ['<http://[::1>; rel="next"', '"http://[::1"'],
  ['<file:///etc/passwd>; rel="next"', '"file:///etc/passwd"'],
])('refuses a pagination Link %s', async (link, shown) => {
  const s = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json', link }).end('{"name":"a/b","tags":["1.0"]}'));
  const e = await rejection(registry(s.host).repository('a/b').tags());
  expect([e.code, e.message]).toEqual(['REGISTRY_PROTOCOL', `list tags of a/b: ${s.host}: pagination link at ${shown}, not an http(s) URL`]);
});

it.each([
  ['ftp://127.0.0.1/upload', '"ftp://127.0.0.1/upload"'],
  ['http://[::1/upload', '"http://[::1/upload"'],
])('refuses an upload Location %s', async (location, shown) => {
  const blob = Buffer.from('hostile upload');
  const desc = { mediaType: 'application/octet-stream', digest: sha256Digest(blob), size: blob.byteLength };
  const s = await serve((req, res) => {
    if (req.method === 'HEAD') res.writeHead(404).end();
    else if (req.method === 'POST') res.writeHead(202, { location }).end();
    else res.writeHead(418).end();
  });
  const e = await rejection(registry(s.host).repository('a/b').push(desc, [blob]));
  expect([e.code, e.message]).toEqual(['REGISTRY_PROTOCOL', `push ${desc.digest}: ${s.host}: upload session at ${shown}, not an http(s) URL`]);
  // A protocol error may be a broken session: a new one is tried (FAST allows 3 attempts), no PUT is ever sent.
  expect(s.seen.map((r) => r.method)).toEqual(['HEAD', 'POST', 'POST', 'POST']);
});
