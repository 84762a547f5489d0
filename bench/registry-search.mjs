// `ebpm search` against a loopback docker-registry holding 1,000 packages: the catalog walk
// (what a registry without an index costs; search only reads, so a push is what writes the
// index: here one repairing a damaged one from the catalog), a cold search (index manifest +
// blob, empty cache) and a warm one (cache only). Targets: cold < 2 s, warm < 200 ms, both
// measured as the wall time of the whole `ebpm search` process, run as users run it.
// `node bench/registry-search.mjs [packages]` (bench/README.md §"Registry").
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { basePackage, cleanup, EBPM, ebpmEnv, fmt, scratch, startRegistry, writeLayout } from './registry-common.mjs';
import { timed } from './run-common.mjs';

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const canonical = (v) =>
  v === null || typeof v !== 'object'
    ? JSON.stringify(v)
    : Array.isArray(v)
      ? `[${v.map(canonical).join(',')}]`
      : `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
          .join(',')}}`;
const WORDS = ['signal', 'exec', 'open', 'tcp', 'dns', 'sched', 'block', 'memory', 'syscall', 'file'];

/** Fills `host/<ns>/pkg-NNNN` with `n` packages over the HTTP API: config upload, object mount, manifest PUTs. */
async function populate(host, ns, base, n) {
  const first = `${ns}/pkg-0000`;
  const api = (path, init) => fetch(`http://${host}/v2/${path}`, init);
  const upload = async (repo, bytes) => {
    const post = await api(`${repo}/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(post.headers.get('location'), `http://${host}`);
    loc.searchParams.set('digest', sha256(bytes));
    const put = await fetch(loc, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 201) throw new Error(`upload to ${repo}: ${put.status}`);
  };
  const one = async (i) => {
    const name = `pkg-${String(i).padStart(4, '0')}`;
    const repo = `${ns}/${name}`;
    const meta = { ...JSON.parse(base.config), name, description: `${WORDS[i % WORDS.length]} tracer number ${i}`, keywords: [WORDS[(i * 7) % WORDS.length]] };
    const config = Buffer.from(canonical(meta));
    await upload(repo, config);
    if (i === 0) await upload(repo, base.object.bytes);
    else {
      const m = await api(`${repo}/blobs/uploads/?mount=${base.object.desc.digest}&from=${first}`, { method: 'POST' });
      if (m.status !== 201) throw new Error(`mount into ${repo}: ${m.status}`);
    }
    const manifest = Buffer.from(
      canonical({
        ...base.manifest,
        config: { ...base.manifest.config, digest: sha256(config), size: config.length },
        layers: [base.object.desc],
        annotations: { ...base.manifest.annotations, 'org.opencontainers.image.title': name, 'org.opencontainers.image.description': meta.description },
      }),
    );
    for (const tag of [meta.version, 'latest']) {
      const r = await api(`${repo}/manifests/${tag}`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      if (r.status !== 201) throw new Error(`manifest ${repo}:${tag}: ${r.status} ${await r.text()}`);
    }
  };
  await one(0);
  let next = 1;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) await one(next++);
    }),
  );
}

/** Tags `<ns>/ebpm-index:latest` with a manifest that is no search index: the next push rebuilds it from the catalog. */
async function damageIndex(host, ns) {
  const empty = Buffer.from('{}');
  const post = await fetch(`http://${host}/v2/${ns}/ebpm-index/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(post.headers.get('location'), `http://${host}`);
  loc.searchParams.set('digest', sha256(empty));
  await fetch(loc, { method: 'PUT', body: empty, headers: { 'content-type': 'application/octet-stream' } });
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
    layers: [],
  };
  const r = await fetch(`http://${host}/v2/${ns}/ebpm-index/manifests/latest`, {
    method: 'PUT',
    body: JSON.stringify(manifest),
    headers: { 'content-type': manifest.mediaType },
  });
  if (r.status !== 201) throw new Error(`damaged index: ${r.status} ${await r.text()}`);
}

export async function benchRegistrySearch(n = 1000) {
  const work = scratch();
  const reg = await startRegistry(work);
  try {
    const base = basePackage(work);
    const t0 = performance.now();
    await populate(reg.host, 'bench', base, n);
    console.log(`registry search, ${n} packages in ${reg.host}/bench (filled in ${fmt(performance.now() - t0).trim()})`);
    const env = (cache) => ebpmEnv(work, { EBPM_REGISTRY: `${reg.host}/bench`, ...(cache ? { EBPM_CACHE_DIR: cache } : {}) });
    const walkEnv = env();
    console.log(`  no index: catalog walk                            ${fmt(timed(EBPM, ['search', 'signal'], walkEnv))}`);
    await damageIndex(reg.host, 'bench');
    const extra = writeLayout(join(work, 'extra'), base, 0, 'pkg-extra');
    console.log(`  a push repairing the index from the catalog       ${fmt(timed(EBPM, ['push', extra.dir], walkEnv))}`);
    const cache = join(work, 'search-cache');
    const cold = timed(EBPM, ['search', 'signal'], env(cache));
    const warm = [];
    for (let i = 0; i < 5; i++) warm.push(timed(EBPM, ['search', 'signal'], env(cache)));
    const hits = JSON.parse(execFileSync(EBPM, ['search', 'signal', '--json'], { env: env(cache), encoding: 'utf8' })).hits.length;
    const version = timed(EBPM, ['--version'], env(cache));
    console.log(`  cold (index manifest + blob, empty cache)         ${fmt(cold)}  target < 2 s`);
    console.log(
      `  warm (cache only), median of 5                    ${fmt(warm.sort((a, b) => a - b)[2])}  target < 0.2 s  (ebpm --version alone: ${fmt(version).trim()})`,
    );
    console.log(`  "signal" matches ${hits} packages`);
  } finally {
    await reg.stop();
    cleanup(work);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRegistrySearch(Number(process.argv[2] ?? 1000));
