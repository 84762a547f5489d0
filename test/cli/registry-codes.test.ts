// A registry's error codes stay the registry's: a hostile loopback server answering with codes
// that are ebpm's own (`INTERNAL`, `TRUST_*`, `TIMEOUT`) gets an explained failure, exit 1, and
// neither a bug report, a trust refusal nor a retry.
import { afterEach, expect, it } from 'vitest';
import { errorBody, startHostile, type HostileServer } from '../helpers/hostile-server.js';
import { ebpm, sandbox } from './helpers.js';

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const answering = async (status: number, code: string, message: string) => {
  server = await startHostile((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(errorBody(code, message)));
  const r = await ebpm(['pull', `${server.host}/ebpm/sigsnoop@1`], sandbox().env);
  return { ...r, host: server.host, seen: server.seen.map((s) => `${s.method} ${s.url}`) };
};

it.each([
  [400, 'INTERNAL', 'boom'],
  [403, 'TRUST_REFUSED', 'not trusted'],
  [400, 'TIMEOUT', 'too slow'],
])('a %i with code %s is a registry error, exit 1, asked once', async (status, code, message) => {
  const r = await answering(status, code, message);
  expect([r.code, r.out, r.err]).toEqual([
    1,
    '',
    `error: pull ${r.host}/ebpm/sigsnoop@1: resolve ${r.host}/ebpm/sigsnoop@1: list tags of ebpm/sigsnoop: ${r.host}: registry error ${code}: ${message}\nhint: the registry refused the request\n`,
  ]);
  expect(r.seen).toEqual(['GET /v2/ebpm/sigsnoop/tags/list?n=1000']);
});

it('a not-found code of the distribution-spec is NOT_FOUND, naming what is missing, with its hint', async () => {
  const r = await answering(404, 'NAME_UNKNOWN', 'repository name not known to registry');
  expect([r.code, r.err]).toEqual([
    1,
    `error: pull ${r.host}/ebpm/sigsnoop@1: resolve ${r.host}/ebpm/sigsnoop@1: list tags of ebpm/sigsnoop: ${r.host}: repository ebpm/sigsnoop not found: repository name not known to registry\nhint: no such repository on ${r.host}; check the name, or push to create it\n`,
  ]);
});

it('a 404 with a code of its own (Harbor says NOT_FOUND) is not found too, once', async () => {
  const r = await answering(404, 'NOT_FOUND', 'repository ebpm/sigsnoop not found');
  expect([r.code, r.err, r.seen]).toEqual([
    1,
    `error: pull ${r.host}/ebpm/sigsnoop@1: resolve ${r.host}/ebpm/sigsnoop@1: list tags of ebpm/sigsnoop: ${r.host}: repository ebpm/sigsnoop not found\nhint: no such repository on ${r.host}; check the name, or push to create it\n`,
    ['GET /v2/ebpm/sigsnoop/tags/list?n=1000'],
  ]);
});

it('--json reports REGISTRY_ERROR, never the code the registry chose', async () => {
  server = await startHostile((_req, res) => res.writeHead(400, { 'content-type': 'application/json' }).end(errorBody('INTERNAL', 'boom')));
  const r = await ebpm(['pull', `${server.host}/ebpm/sigsnoop@1`, '--json'], sandbox().env);
  expect(r.code).toBe(1);
  expect(JSON.parse(r.out)).toEqual({
    error: {
      code: 'REGISTRY_ERROR',
      message: `pull ${server.host}/ebpm/sigsnoop@1: resolve ${server.host}/ebpm/sigsnoop@1: list tags of ebpm/sigsnoop: ${server.host}: registry error INTERNAL: boom`,
      hint: 'the registry refused the request',
    },
  });
});
