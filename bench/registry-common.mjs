// Shared set-up of the registry benchmarks: a private docker-registry (distribution 2.8.2) on a
// free loopback port, ebpm package layouts of any size written by hand from a built sigsnoop
// package (its metadata and BPF object, plus one opaque layer for bulk), and a timer.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = new URL('..', import.meta.url).pathname;
export const EBPM = join(REPO, 'bin', 'ebpm.js');

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts docker-registry with its own storage under `work`; returns `{ host, stop, log }`. With
 * `requestLog`, the registry writes a JSON line for each request it answered to `log` (a file's
 * path), with when it answered and how long it took (`requestsIn`).
 */
export async function startRegistry(work, { requestLog = false } = {}) {
  const port = await freePort();
  const dir = join(work, `registry-${port}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      `log: {level: ${requestLog ? 'info, formatter: json' : 'error'}, accesslog: {disabled: true}}`,
      `storage: {filesystem: {rootdirectory: "${join(dir, 'data')}"}, delete: {enabled: true}}`,
      `http: {addr: "127.0.0.1:${port}", secret: bench}`,
    ].join('\n'),
  );
  const log = join(dir, 'requests.json');
  const out = requestLog ? openSync(log, 'w') : 'ignore';
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', out] });
  if (typeof out === 'number') closeSync(out);
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://${host}/v2/`);
      if (res.status === 200) break;
    } catch {
      if (i > 300) throw new Error('docker-registry did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    host,
    log,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/**
 * `requestsIn` reads the requests a registry started with `requestLog` answered from byte `from`
 * of its log on: `{ method, uri, start, end }`, times in ms since the epoch (the registry's clock,
 * which is this machine's), `start` being when its handler began (its answer's time less its
 * duration), in the order they started.
 */
export function requestsIn(log, from) {
  const unit = { ns: 1e-6, µs: 1e-3, ms: 1, s: 1e3 };
  const ms = (d) => {
    const m = /^([\d.]+)(ns|µs|ms|s)$/.exec(d);
    if (m === null) throw new Error(`a duration docker-registry wrote that this does not read: ${d}`);
    return Number(m[1]) * unit[m[2]];
  };
  return readFileSync(log)
    .subarray(from)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.includes('"http.response.duration"'))
    .map((line) => {
      const j = JSON.parse(line);
      // Date.parse keeps milliseconds; the nanoseconds' next three digits are added by hand.
      const end = Date.parse(j.time) + Number((/\.\d{3}(\d{0,3})/.exec(j.time)?.[1] ?? '').padEnd(3, '0')) / 1000;
      return { method: j['http.request.method'], uri: j['http.request.uri'], start: end - ms(j['http.response.duration']), end };
    })
    .sort((a, b) => a.start - b.start);
}

/** Builds the CLI bundle and a BPF-only sigsnoop package; returns its layout's config and object. */
export function basePackage(work) {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, stdio: 'inherit' });
  const pkg = join(work, 'sigsnoop-src');
  cpSync(join(REPO, 'examples', 'sigsnoop'), pkg, { recursive: true, filter: (s) => !s.endsWith('/out') && !s.endsWith('main.c') });
  const manifest = JSON.parse(readFileSync(join(pkg, 'ebpm.json'), 'utf8'));
  delete manifest.wasm;
  writeFileSync(join(pkg, 'ebpm.json'), JSON.stringify(manifest));
  execFileSync(process.execPath, [EBPM, 'build', pkg], { stdio: 'ignore' });
  const out = join(pkg, 'out');
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  const blob = (d) => readFileSync(join(out, 'blobs', 'sha256', d.slice(7)));
  const m = JSON.parse(blob(index.manifests[0].digest));
  const object = m.layers.find((l) => l.mediaType === 'application/vnd.ebpm.bpf.object.v1+elf');
  return { manifest: m, config: blob(m.config.digest), object: { desc: object, bytes: blob(object.digest) } };
}

/** Canonical JSON (keys sorted, no spaces), as ebpm writes configs and manifests. */
function canonical(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
    .join(',')}}`;
}

/**
 * Writes an OCI layout holding the base package renamed `name` (metadata and title), plus one
 * opaque layer of `bulk` random bytes (consumers ignore unknown layers: registry-spec/package-v1.md
 * §2), tagged with its version as `ebpm build` tags it.
 */
export function writeLayout(dir, base, bulk, name = 'sigsnoop') {
  const meta = { ...JSON.parse(base.config), name };
  const tag = meta.version;
  const config = Buffer.from(canonical(meta));
  const cdesc = { ...base.manifest.config, digest: sha256(config), size: config.length };
  const blobs = new Map([
    [cdesc.digest, config],
    [base.object.desc.digest, base.object.bytes],
  ]);
  const layers = [base.object.desc];
  if (bulk > 0) {
    const bytes = randomBytes(bulk);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(bytes), size: bulk, annotations: { 'org.opencontainers.image.title': 'data.bin' } };
    blobs.set(desc.digest, bytes);
    layers.push(desc);
  }
  const annotations = { ...base.manifest.annotations, 'org.opencontainers.image.title': name };
  const manifest = Buffer.from(canonical({ ...base.manifest, config: cdesc, layers, annotations }));
  const mdesc = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(manifest),
    size: manifest.length,
    artifactType: base.manifest.artifactType,
  };
  blobs.set(mdesc.digest, manifest);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const [d, b] of blobs) writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...mdesc, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return {
    dir,
    name,
    tag,
    digest: mdesc.digest,
    size: [...blobs.values()].reduce((n, b) => n + b.length, 0),
    blobs: [...blobs].map(([digest, b]) => ({ digest, size: b.length })),
  };
}

/** A sandbox environment for ebpm: its own store, cache and config, no signatures checked. */
export function ebpmEnv(work, extra = {}) {
  const root = mkdtempSync(join(work, 'env-'));
  writeFileSync(join(root, 'policy.json'), JSON.stringify({ version: 1, scopes: { '*': { require: 'none' } } }));
  return {
    ...process.env,
    EBPM_STORE: join(root, 'store'),
    EBPM_CACHE_DIR: join(root, 'cache'),
    EBPM_CONFIG: join(root, 'config.json'),
    EBPM_LOCAL_REGISTRY: join(root, 'registry'),
    EBPM_TRUST_POLICY: join(root, 'policy.json'),
    DOCKER_CONFIG: join(root, 'docker'),
    ...extra,
  };
}

export function scratch() {
  return mkdtempSync(join(process.env.EBPM_BENCH_DIR ?? tmpdir(), 'ebpm-registry-bench-'));
}

export function cleanup(work) {
  rmSync(work, { recursive: true, force: true });
}

export const fmt = (ms) => `${(ms / 1000).toFixed(2).padStart(7)} s`;
