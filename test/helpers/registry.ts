/**
 * Real-registry harness: `startRegistry()` runs the Debian `docker-registry` (distribution
 * 2.8.2) on a free loopback port with its own temporary storage and config, waits until `/v2/`
 * answers, and returns its address. Every registry started here is killed and its directory
 * removed when the test process exits, even if a test forgets `stop()`.
 *
 *   const reg = await startRegistry();                              // anonymous push/pull
 *   const reg = await startRegistry({ auth: 'htpasswd' });          // Basic: reg.users
 *   const reg = await startRegistry({ auth: 'token', grants: {...} }); // Bearer: reg.tokens
 *   const reg = await startRegistry({ referrersApi: true });        // with the OCI 1.1 referrers API
 *
 * htpasswd files need bcrypt (2.8.2 accepts nothing else), and neither Node nor apache2-utils
 * is available for it: the hashes come from `python3`'s `crypt` module (libxcrypt's `$2b$`),
 * python3 being one of the packages `scripts/bootstrap.sh` installs. Cost 4, the minimum, keeps
 * each authenticated request fast.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startReferrersProxy } from './referrers-proxy.js';
import { startTokenServer, type Grants, type TokenServer } from './token-server.js';

export interface RegistryOptions {
  /** `none` (default): anonymous; `htpasswd`: Basic with `users`; `token`: Bearer via a token server. */
  auth?: 'none' | 'htpasswd' | 'token';
  /** Users for `htpasswd` and `token` (default `{ alice: 'wonderland' }`). */
  users?: Record<string, string>;
  /** Per-user repository grants for `token` (see `startTokenServer`). */
  grants?: Grants;
  /** Token lifetime for `token`, in seconds (default 300). */
  tokenExpiresIn?: number;
  /** `http.relativeurls`: answer upload `Location`s as relative URLs. */
  relativeUrls?: boolean;
  /** Serve the OCI 1.1 referrers API, which 2.8.2 lacks, through a proxy in front (referrers-proxy.ts): `url` and `host` are the proxy's. */
  referrersApi?: boolean;
}

/** `REGISTRY_KINDS` names the two registries every referrers-dependent test runs against. */
export const REGISTRY_KINDS = [
  { kind: 'tag schema', referrersApi: false },
  { kind: 'referrers API', referrersApi: true },
] as const;

export interface RunningRegistry {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>`: what a reference names. */
  readonly host: string;
  /** The storage root (for tests that check what the registry really holds). */
  readonly dataDir: string;
  readonly users: Readonly<Record<string, string>>;
  /** The token server when `auth: 'token'`. */
  readonly tokens: TokenServer | undefined;
  stop(): Promise<void>;
}

const live = new Set<{ child: ChildProcess; dir: string }>();
process.once('exit', () => {
  for (const r of live) {
    r.child.kill('SIGKILL');
    rmSync(r.dir, { recursive: true, force: true });
  }
});

/** `freePort` asks the kernel for an unused loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** `bcryptLines` renders htpasswd lines (`user:$2b$04$…`) with python3's crypt. */
export function bcryptLines(users: Record<string, string>): string {
  const script = [
    'import crypt, json, sys',
    'for u, p in json.load(sys.stdin).items():',
    '    print(u + ":" + crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))',
  ].join('\n');
  return execFileSync('python3', ['-W', 'ignore', '-c', script], { input: JSON.stringify(users), encoding: 'utf8' });
}

/** Renders a config as YAML: maps as blocks, scalars and lists in JSON (flow style). */
function yaml(o: unknown, indent = ''): string {
  const block = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!block(o)) return JSON.stringify(o);
  return Object.entries(o as object)
    .map(([k, v]) => (block(v) ? `${indent}${k}:\n${yaml(v, `${indent}  `)}` : `${indent}${k}: ${JSON.stringify(v)}`))
    .join('\n');
}

/** The response header by which a registry started here is told from any other server on its port. */
const INSTANCE_HEADER = 'x-ebpm-test-instance';

/**
 * `waitReady` polls until `/v2/` answers with this instance's `token` (served back through the
 * config's `http.headers`): a port another process took first answers without it. Only the answer
 * or the registry's exit ends the wait; the hook's timeout is the one deadline.
 */
async function waitReady(url: string, token: string, child: ChildProcess, stderr: () => string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    try {
      const res = await request(`${url}/v2/`);
      await res.body.dump();
      if ((res.statusCode === 200 || res.statusCode === 401) && res.headers[INSTANCE_HEADER] === token) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25)); // a poll interval, not a wait for anything
  }
}

/** `startRegistry` runs a private docker-registry; see the file comment. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  const auth = opts.auth ?? 'none';
  const users = opts.users ?? { alice: 'wonderland' };
  const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'registry-'));
  const tokens =
    auth === 'token'
      ? await startTokenServer({
          users,
          dir,
          ...(opts.grants === undefined ? {} : { grants: opts.grants }),
          ...(opts.tokenExpiresIn === undefined ? {} : { expiresIn: opts.tokenExpiresIn }),
        })
      : undefined;
  const authConfig: Record<string, unknown> = {};
  if (auth === 'htpasswd') {
    writeFileSync(join(dir, 'htpasswd'), bcryptLines(users));
    authConfig.auth = { htpasswd: { realm: 'ebpm-test', path: join(dir, 'htpasswd') } };
  } else if (auth === 'token') {
    authConfig.auth = { token: { realm: tokens!.realm, service: tokens!.service, issuer: tokens!.issuer, rootcertbundle: tokens!.certPath } };
  }
  // A taken port (another test file raced us for it) shows up as an early exit: try again.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const token = randomUUID();
    const config = {
      version: 0.1,
      log: { level: 'error', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
      http: { addr: `127.0.0.1:${port}`, secret: 'ebpm-test-secret', relativeurls: opts.relativeUrls ?? false, headers: { [INSTANCE_HEADER]: [token] } },
      ...authConfig,
    };
    writeFileSync(join(dir, 'config.yml'), `${yaml(config)}\n`);
    const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-4096);
    });
    const entry = { child, dir };
    live.add(entry);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitReady(url, token, child, () => err);
    } catch (e) {
      child.kill('SIGKILL');
      live.delete(entry);
      if (attempt < 3 && /address already in use/.test(err)) continue;
      await tokens?.stop();
      throw e;
    }
    const proxy = opts.referrersApi ? await startReferrersProxy(url, join(dir, 'data')) : undefined;
    return {
      url: proxy?.url ?? url,
      host: proxy?.host ?? `127.0.0.1:${port}`,
      dataDir: join(dir, 'data'),
      users,
      tokens,
      async stop() {
        live.delete(entry);
        await proxy?.stop();
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        await tokens?.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
