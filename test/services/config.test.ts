// The config file, the environment that overrides it, and where ebpm keeps its files.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { EMBEDDED_REGISTRY, EMPTY_CONFIG, parseConfig, parseLocation, settingsFrom } from '../../src/core/config.js';
import { context } from '../../src/cli/dist.js';
import { configFile, localRegistryDir, storeDir, userStoreDir } from '../../src/core/paths.js';
import { openContext } from '../../src/services/context.js';

const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

describe('config', () => {
  it('reads every field', () => {
    const c = parseConfig(
      bytes({ defaultRegistry: 'ghcr.io', defaultNamespace: 'acme/tools', insecure: ['lab:5000'], registries: ['ghcr.io/acme', 'lab:5000'] }),
      '/c.json',
    );
    expect(c).toEqual({ defaultRegistry: 'ghcr.io', defaultNamespace: 'acme/tools', insecure: ['lab:5000'], registries: ['ghcr.io/acme', 'lab:5000'] });
    expect(settingsFrom(c, {})).toEqual({
      defaults: { host: 'ghcr.io', namespace: 'acme/tools' },
      insecure: ['lab:5000'],
      search: [{ host: 'ghcr.io', namespace: 'acme' }, { host: 'lab:5000' }],
    });
  });

  it('lists every bad field in one error', () => {
    let e: { code?: string; message?: string; data?: { fields: string[] } } = {};
    try {
      parseConfig(bytes({ defaultRegistry: 'a b', defaultNamespace: 'Up', insecure: ['ok:1', 7], registries: 'x', extra: 1 }), '/c.json');
    } catch (x) {
      e = x as typeof e;
    }
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.data!.fields).toEqual([
      'extra: unknown field',
      'defaultRegistry: not host[:port]',
      'defaultNamespace: not a repository path',
      'insecure[1]: not a string',
      'registries: not an array',
    ]);
    expect(() => parseConfig(bytes('{"defaultRegistry":'), '/c.json')).toThrow('config /c.json: (root): not valid JSON');
  });

  it('uses the embedded registry without a configured one, and EBPM_REGISTRY over the file', () => {
    expect(settingsFrom(EMPTY_CONFIG, {})).toEqual({ defaults: { host: EMBEDDED_REGISTRY }, insecure: [], search: [{ host: EMBEDDED_REGISTRY }] });
    const file = parseConfig(bytes({ defaultRegistry: 'ghcr.io', defaultNamespace: 'acme' }), '/c.json');
    expect(settingsFrom(file, { EBPM_REGISTRY: '127.0.0.1:5000' }).defaults).toEqual({ host: '127.0.0.1:5000', namespace: 'acme' });
    expect(settingsFrom(file, { EBPM_REGISTRY: '127.0.0.1:5000/lab' }).defaults).toEqual({ host: '127.0.0.1:5000', namespace: 'lab' });
    expect(() => settingsFrom(file, { EBPM_REGISTRY: 'http://x' })).toThrow('EBPM_REGISTRY="http://x": not host[:port][/namespace]');
    expect([parseLocation('[::1]:5000/a/b'), parseLocation('a/B'), parseLocation('ghcr.io')]).toEqual([
      { host: '[::1]:5000', namespace: 'a/b' },
      undefined,
      { host: 'ghcr.io' },
    ]);
  });
});

describe('plain HTTP hosts', () => {
  it('adds the --plain-http hosts to the insecure list, and refuses a bad host', () => {
    const file = parseConfig(bytes({ insecure: ['lab:5000'] }), '/c.json');
    expect(settingsFrom(file, {}, ['registry.lan:5000', '10.1.2.3']).insecure).toEqual(['lab:5000', 'registry.lan:5000', '10.1.2.3']);
    expect(() => settingsFrom(file, {}, ['a b'])).toThrow('plain HTTP host "a b": not host[:port]');
    // The environment no longer carries them: only the flag (through the command's context) does.
    expect(settingsFrom(file, { EBPM_PLAIN_HTTP: 'registry.lan:5000' }).insecure).toEqual(['lab:5000']);
  });

  it('gives the flag to the command context, which speaks plain HTTP to that host', async () => {
    const ctx = await context(
      { stdout: new PassThrough(), stderr: new PassThrough(), env: { HOME: '/nonexistent' }, cwd: '/', plainHttp: ['registry.lan:5000'] },
      false,
    );
    expect(ctx.settings.insecure).toEqual(['registry.lan:5000']);
    expect(ctx.client.insecure).toEqual(['registry.lan:5000']);
  });

  it('takes --plain-http anywhere before --, for every command', async () => {
    const run = async (args: string[]) => {
      let err = '';
      const sink = new PassThrough();
      const errs = new PassThrough();
      errs.on('data', (d: Buffer) => (err += d.toString()));
      const code = await main(args, {
        stdout: sink,
        stderr: errs,
        env: { EBPM_STORE: '/nonexistent/store', EBPM_LOCAL_REGISTRY: '/nonexistent/registry' },
        cwd: '/',
      });
      return { code, err };
    };
    expect(await run(['search', 'x', '--plain-http', 'a b'])).toEqual({
      code: 1,
      err: 'error: plain HTTP host "a b": not host[:port]\nhint: name the registry as host[:port], e.g. --plain-http registry.lan:5000\n',
    });
    expect(await run(['--plain-http=a b', 'search', 'x'])).toEqual(await run(['search', 'x', '--plain-http', 'a b']));
  });
});

describe('paths', () => {
  const user = { HOME: '/home/u' };
  const root = { HOME: '/root' };
  it('keeps the store in the user cache, or under /var/lib/ebpm for root', () => {
    expect(storeDir(user, 1000)).toBe('/home/u/.cache/ebpm/store');
    expect(storeDir({ ...user, XDG_CACHE_HOME: '/xdg' }, 1000)).toBe('/xdg/ebpm/store');
    expect(storeDir(root, 0)).toBe('/var/lib/ebpm/store');
    expect(storeDir({ ...root, EBPM_STORE: '/s' }, 0)).toBe('/s');
  });
  it('opens one repository per name, shared by the steps of a command', async () => {
    const ctx = await openContext({ HOME: '/nonexistent' });
    for (const host of ['ghcr.io', EMBEDDED_REGISTRY]) {
      const registry = await ctx.registry(host);
      expect(registry.repository('acme/x')).toBe((await ctx.registry(host)).repository('acme/x'));
      expect(registry.repository('acme/x')).not.toBe(registry.repository('acme/y'));
    }
  });
  it('takes the uid the context is given, not the environment', async () => {
    expect((await openContext({ ...user, EBPM_UID: '0' }, { uid: 1000 })).storePath).toBe('/home/u/.cache/ebpm/store');
    expect((await openContext(user, { uid: 0 })).storePath).toBe('/var/lib/ebpm/store');
  });
  it('lets root under sudo read the invoking user’s store', () => {
    expect(userStoreDir({ ...root, SUDO_USER: 'u' }, 0, '/home/u')).toBe('/home/u/.cache/ebpm/store');
    expect(userStoreDir({ ...root, SUDO_USER: 'root' }, 0, '/root')).toBeUndefined();
    expect(userStoreDir({ ...user, SUDO_USER: 'u' }, 1000, '/home/u')).toBeUndefined();
    expect(userStoreDir({ ...root, SUDO_USER: 'u', EBPM_STORE: '/s' }, 0, '/home/u')).toBeUndefined();
  });
  it('places the embedded registry with data and the config with config', () => {
    expect(localRegistryDir(user, 1000)).toBe('/home/u/.local/share/ebpm/registry');
    expect(localRegistryDir(root, 0)).toBe('/var/lib/ebpm/registry');
    expect(localRegistryDir({ ...user, EBPM_LOCAL_REGISTRY: '/r' }, 1000)).toBe('/r');
    expect(configFile(user)).toBe('/home/u/.config/ebpm/config.json');
    expect(configFile({ ...user, XDG_CONFIG_HOME: '/x' })).toBe('/x/ebpm/config.json');
    expect(configFile({ ...user, EBPM_CONFIG: '/e.json' })).toBe('/e.json');
  });
});
