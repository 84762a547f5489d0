import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copy } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { Auth, basicAuthorization, type Credential } from '../../src/registry/auth.js';
import { dockerCredentials, fileCredential, login, logout, readDockerConfig } from '../../src/registry/credentials.js';
import type { RegistryRequest, RegistryResponse } from '../../src/registry/http.js';
import { Readable } from 'node:stream';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { artifact, bytesOf, registry, rejection } from './fixtures.js';

const tmp = () => mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'auth-'));
const basic = (username: string, password: string): Credential => ({ kind: 'basic', username, password });

describeWith(['registry'], 'htpasswd (Basic) registry', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd', users: { alice: 'wonderland-pw' } });
  });
  afterAll(() => reg?.stop());

  it('pushes and pulls with the right password, sending Basic after the first challenge only', async () => {
    const a = await artifact(bytesOf(3000, 'basic'));
    const lines: string[] = [];
    const r = registry(reg.host, { credentials: async () => basic('alice', 'wonderland-pw'), debug: (l) => lines.push(l) });
    await copy(a.store, a.manifest.digest, r.repository('team/basic'), '1.0');
    const back = new MemoryStore();
    await copy(r.repository('team/basic'), '1.0', back, '1.0');
    expect(Buffer.from(back.bytes(a.layer)).equals(a.layerBytes)).toBe(true);
    expect(lines.filter((l) => l.startsWith('< 401'))).toHaveLength(1);
    // The debug log shows the scheme, never the secret.
    expect(lines.some((l) => l.includes('"authorization":"Basic ***"'))).toBe(true);
    const secret = Buffer.from('alice:wonderland-pw').toString('base64');
    expect(lines.filter((l) => l.includes('wonderland-pw') || l.includes(secret))).toEqual([]);
  });

  it('reports a wrong password as UNAUTHORIZED with a login hint and no secret', async () => {
    const e = await rejection(
      registry(reg.host, { credentials: async () => basic('alice', 'wrong-secret') })
        .repository('team/basic')
        .resolve('1.0'),
    );
    expect(e.code).toBe('UNAUTHORIZED');
    expect(e.message).toBe(`resolve team/basic:1.0: ${reg.host}: unauthorized`);
    expect(e.hint).toBe(`check \`ebpm login ${reg.host}\` and that this account may access the repository`);
    expect(JSON.stringify([e.message, e.hint, e.data])).not.toContain('wrong-secret');
    const anon = await rejection(registry(reg.host).repository('team/basic').tags());
    expect(anon.code).toBe('UNAUTHORIZED');
  });

  it('logs in (checking the password first) into a 0600 docker config, and logs out', async () => {
    const dir = tmp();
    const env = { DOCKER_CONFIG: dir, HOME: dir };
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, psFormat: 'table' }));
    const bad = await rejection(login(reg.host, 'alice', 'not-it', { env }));
    expect(bad.code).toBe('UNAUTHORIZED');
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).auths[reg.host]).toBeUndefined();

    expect(await login(reg.host, 'alice', 'wonderland-pw', { env })).toEqual({ stored: 'file', where: join(dir, 'config.json') });
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
    const written = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(written).toEqual({
      auths: { 'other.example': { auth: 'eDp5' }, [reg.host]: { auth: Buffer.from('alice:wonderland-pw').toString('base64') } },
      psFormat: 'table',
    });
    // The stored credential works through the docker-config lookup.
    expect(
      await registry(reg.host, { credentials: dockerCredentials(env) })
        .repository('team/basic')
        .tags(),
    ).toEqual(['1.0']);

    expect(await logout(reg.host, { env })).toBe(true);
    expect(await logout(reg.host, { env })).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).auths).toEqual({ 'other.example': { auth: 'eDp5' } });
  });

  it('uses a credential helper named in credHelpers (get, store, erase over stdin/stdout)', async () => {
    const dir = tmp();
    const bin = join(dir, 'bin');
    const store = join(dir, 'helper-store.json');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'docker-credential-test'),
      `#!/usr/bin/env node
const fs = require('fs');
const file = ${JSON.stringify(store)};
const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
let input = '';
process.stdin.on('data', (d) => (input += d)).on('end', () => {
  fs.appendFileSync(file + '.log', process.argv[2] + '\\n');
  if (process.argv[2] === 'get') {
    const e = db[input.trim()];
    if (!e) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input.trim(), Username: e.Username, Secret: e.Secret }));
  } else if (process.argv[2] === 'store') {
    const c = JSON.parse(input); db[c.ServerURL] = c; fs.writeFileSync(file, JSON.stringify(db));
  } else if (process.argv[2] === 'erase') {
    if (!db[input.trim()]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    delete db[input.trim()]; fs.writeFileSync(file, JSON.stringify(db));
  }
});
`,
    );
    chmodSync(join(bin, 'docker-credential-test'), 0o755);
    const env = { DOCKER_CONFIG: dir, HOME: dir, PATH: `${bin}:${process.env.PATH}` };
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'test' } }));

    expect(await dockerCredentials(env)(reg.host)).toBeUndefined();
    expect(await login(reg.host, 'alice', 'wonderland-pw', { env })).toEqual({ stored: 'helper', where: 'docker-credential-test' });
    expect(JSON.parse(readFileSync(store, 'utf8'))).toEqual({ [reg.host]: { ServerURL: reg.host, Username: 'alice', Secret: 'wonderland-pw' } });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ credHelpers: { [reg.host]: 'test' } });
    expect(
      await registry(reg.host, { credentials: dockerCredentials(env) })
        .repository('team/basic')
        .tags(),
    ).toEqual(['1.0']);
    expect(await logout(reg.host, { env })).toBe(true);
    expect(await logout(reg.host, { env })).toBe(false);
    expect(readFileSync(`${store}.log`, 'utf8').split('\n').filter(Boolean)).toEqual(['get', 'store', 'get', 'erase', 'erase']);

    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'missing' }));
    const e = await rejection(dockerCredentials(env)(reg.host));
    expect(e.code).toBe('CREDENTIAL_HELPER_FAILED');
    expect(e.message).toBe('docker-credential-missing get: not found on PATH');
  });
});

describeWith(['registry'], 'token (Bearer) registry', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry({
      auth: 'token',
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      grants: { alice: { '*': ['pull', 'push', 'delete'] }, bob: { 'team/app': ['pull'] } },
    });
  });
  afterAll(() => reg?.stop());

  it('fetches one token per scope and reuses it until it expires', async () => {
    const tokens = reg.tokens!;
    const a = await artifact(bytesOf(2000, 'token'));
    const r = registry(reg.host, { credentials: async () => basic('alice', 'alice-pw') });
    const repo = r.repository('team/app');
    await copy(a.store, a.manifest.digest, repo, '1.0');
    for (let i = 0; i < 5; i++) {
      const back = new MemoryStore();
      await copy(repo, '1.0', back, 'x');
      expect(Buffer.from(back.bytes(a.layer)).equals(a.layerBytes)).toBe(true);
    }
    const scopes = tokens.requests.map((q) => q.scopes.join(' '));
    expect(tokens.requests.every((q) => q.user === 'alice' && q.service === 'ebpm-test-registry')).toBe(true);
    expect(scopes.filter((s) => s === 'repository:team/app:pull')).toHaveLength(1);
    expect(scopes.filter((s) => s === 'repository:team/app:pull,push')).toHaveLength(1);
    expect(scopes).toHaveLength(2);
  });

  it('reports a wrong password at the token server as UNAUTHORIZED, without the secret', async () => {
    const before = reg.tokens!.rejected;
    const lines: string[] = [];
    const e = await rejection(
      registry(reg.host, { credentials: async () => basic('alice', 'not-the-pw'), debug: (l) => lines.push(l) })
        .repository('team/app')
        .resolve('1.0'),
    );
    expect(e.code).toBe('UNAUTHORIZED');
    expect(e.message).toBe(`resolve team/app:1.0: ${reg.host}: credentials refused by the token server`);
    expect(e.hint).toBe(`check \`ebpm login ${reg.host}\``);
    expect(reg.tokens!.rejected).toBe(before + 1);
    expect(JSON.stringify([e.message, e.hint, e.data, lines])).not.toContain('not-the-pw');
    expect(lines.join('\n')).not.toContain(Buffer.from('alice:not-the-pw').toString('base64'));
  });

  it('lets a pull-only user pull but not push, and hides tokens from the debug log', async () => {
    const lines: string[] = [];
    const r = registry(reg.host, { credentials: async () => basic('bob', 'bob-pw'), debug: (l) => lines.push(l) });
    expect(await r.repository('team/app').tags()).toEqual(['1.0']);
    const b = await artifact(bytesOf(100, 'bob'));
    const e = await rejection(copy(b.store, b.manifest.digest, r.repository('team/app'), '2.0'));
    expect(e.code).toBe('UNAUTHORIZED');
    expect(e.hint).toBe(`check \`ebpm login ${reg.host}\` and that this account may access the repository`);
    expect(lines.some((l) => l.includes('"authorization":"Bearer ***"'))).toBe(true);
    expect(lines.filter((l) => /eyJ[A-Za-z0-9_-]{10,}/.test(l))).toEqual([]);
    const anon = await rejection(registry(reg.host).repository('team/app').tags());
    expect(anon.code).toBe('UNAUTHORIZED');
  });

  it('logs in against the token server', async () => {
    const dir = tmp();
    await expect(login(reg.host, 'bob', 'nope', { env: { DOCKER_CONFIG: dir } })).rejects.toThrowWithCode('UNAUTHORIZED');
    expect((await login(reg.host, 'bob', 'bob-pw', { env: { DOCKER_CONFIG: dir } })).stored).toBe('file');
  });
});

describe('token cache and challenges without a network', () => {
  function fakeSend(log: RegistryRequest[], tokenCount: { n: number }) {
    return async (req: RegistryRequest): Promise<RegistryResponse> => {
      log.push(req);
      const reply = (status: number, headers: Record<string, string>, body = '') => ({
        status,
        headers,
        body: Object.assign(Readable.from([Buffer.from(body)]), { dump: async () => undefined }),
        url: req.url,
      });
      if (req.url.pathname === '/token') {
        tokenCount.n++;
        return reply(200, {}, JSON.stringify({ token: `tok${tokenCount.n}`, expires_in: 120 }));
      }
      if (req.headers?.authorization === `Bearer tok${tokenCount.n}`) return reply(200, {});
      return reply(401, { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"' });
    };
  }

  it('refreshes a token only after it expires, and parses a quoted scope with spaces', async () => {
    let now = 1_000_000;
    const log: RegistryRequest[] = [];
    const count = { n: 0 };
    const send = fakeSend(log, count);
    const auth = new Auth({ send, now: () => now });
    const s = auth.stage(send);
    const req = { method: 'GET' as const, url: new URL('https://reg.example/v2/a/b/tags/list'), scopes: ['repository:a/b:pull'] };
    expect((await s(req)).status).toBe(200);
    expect((await s(req)).status).toBe(200);
    expect(count.n).toBe(1);
    now += 116_000; // 120 s minus the 5 s margin, plus one
    expect((await s(req)).status).toBe(200);
    expect(count.n).toBe(2);
    const tokenUrl = new URL(log.find((r) => r.url.pathname === '/token')!.url);
    expect(tokenUrl.searchParams.get('service')).toBe('reg');
    expect(tokenUrl.searchParams.getAll('scope')).toEqual(['repository:a/b:pull']);
  });

  it('refuses token realms that are not HTTPS or that point a remote registry at loopback', async () => {
    const send = async (req: RegistryRequest): Promise<RegistryResponse> => ({
      status: 401,
      headers: { 'www-authenticate': req.url.hostname === 'a.example' ? 'Bearer realm="http://auth.example/token"' : 'Bearer realm="https://127.0.0.1/token"' },
      body: Object.assign(Readable.from([]), { dump: async () => undefined }),
      url: req.url,
    });
    const s = new Auth({ send }).stage(send);
    const plain = await rejection(s({ method: 'GET', url: new URL('https://a.example/v2/') }));
    expect(plain.message).toBe('a.example: token realm http://auth.example is not HTTPS');
    const loop = await rejection(s({ method: 'GET', url: new URL('https://b.example/v2/') }));
    expect(loop.message).toBe('b.example: token realm https://127.0.0.1 is on the loopback network');
  });

  it('reads every form of docker config entry and never echoes a broken file', async () => {
    const dir = tmp();
    const path = join(dir, 'config.json');
    writeFileSync(
      path,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:hub-pw').toString('base64') },
          'plain.example': { username: 'u', password: 'p' },
          'id.example': { identitytoken: 'refresh-me' },
          'reg.example': { registrytoken: 'bearer-me' },
          'nul.example': { auth: Buffer.from('n:pw\0\0').toString('base64') },
        },
      }),
    );
    const c = await readDockerConfig(path);
    expect(fileCredential(c, path, 'index.docker.io')).toEqual(basic('hub', 'hub-pw'));
    expect(fileCredential(c, path, 'plain.example')).toEqual(basic('u', 'p'));
    expect(fileCredential(c, path, 'id.example')).toEqual({ kind: 'identity-token', token: 'refresh-me' });
    expect(fileCredential(c, path, 'reg.example')).toEqual({ kind: 'registry-token', token: 'bearer-me' });
    expect(fileCredential(c, path, 'nul.example')).toEqual(basic('n', 'pw'));
    expect(fileCredential(c, path, 'none.example')).toBeUndefined();

    writeFileSync(path, '{"auths": {"x": {"auth": "c2VjcmV0LXB3"}, oops');
    const e = await rejection(readDockerConfig(path));
    expect(e.code).toBe('DOCKER_CONFIG_INVALID');
    expect(e.message).toBe(`docker config ${path}: not valid JSON`);
    expect(JSON.stringify(e)).not.toContain('c2VjcmV0LXB3');
    writeFileSync(path, JSON.stringify({ auths: { x: { auth: Buffer.from('no-colon').toString('base64') } } }));
    const bad = await rejection(dockerCredentials({ DOCKER_CONFIG: dir })('x'));
    expect(bad.message).toBe(`docker config ${path}: auths["x"].auth is not base64 of user:password`);
    writeFileSync(path, JSON.stringify({ credsStore: '../../bin/sh' }));
    expect((await rejection(readDockerConfig(path))).message).toBe(`docker config ${path}: "credsStore" is not a helper name`);
    expect(basicAuthorization('u', 'p')).toBe('Basic dTpw');
  });
});
