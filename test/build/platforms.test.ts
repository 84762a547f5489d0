// Multi-platform packages: `ebpm build --platform linux/amd64,linux/arm64` with the real clang
// against this kernel's BTF and Debian's arm64 kernel BTF, the OCI image index it writes, and
// the index through a real docker-registry, the store, run (this amd64 kernel), inspect, sign,
// verify, export and import.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findType, type BtfComposite } from '../../src/bpf/btf.js';
import { parseObject } from '../../src/bpf/object.js';
import { MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST } from '../../src/core/oci.js';
import { cliEnv, runEbpm, sandboxDir, spawnEbpm, writeTrustPolicy } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { jsonLines, ownCopy, sender } from '../run/spawn.js';

const EM_BPF = 247;
const ARTIFACT = 'application/vnd.ebpm.package.v1';

interface Layout {
  readonly root: string;
  blob(digest: string): Uint8Array;
  json<T>(digest: string): T;
}

function layout(root: string): Layout {
  const blob = (d: string) => new Uint8Array(readFileSync(join(root, 'blobs', 'sha256', d.slice('sha256:'.length))));
  return { root, blob, json: <T>(d: string) => JSON.parse(new TextDecoder().decode(blob(d))) as T };
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}
interface Manifest {
  config: Desc;
  layers: Desc[];
}

/** The root descriptor a layout's `tag` names. */
function tagged(l: Layout, tag: string): Desc {
  const index = JSON.parse(readFileSync(join(l.root, 'index.json'), 'utf8')) as { manifests: Desc[] };
  return index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
}

/** The platform manifests of the index a layout's `tag` names, and each one's metadata and layers by title. */
function platformsOf(l: Layout, tag: string) {
  return l.json<{ manifests: Desc[] }>(tagged(l, tag).digest).manifests.map((m) => {
    const manifest = l.json<Manifest>(m.digest);
    const layers = new Map(manifest.layers.map((x) => [x.annotations!['org.opencontainers.image.title']!, x]));
    return {
      descriptor: m,
      metadata: l.json<{ architecture: string; requirements: { kernelTypes: string[] }; objects: unknown[] }>(manifest.config.digest),
      layers,
    };
  });
}

/** Bytes of every blob of a package's `out/` layout. */
function totalSize(pkg: string): number {
  const dir = join(pkg, 'out', 'blobs', 'sha256');
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** The blobs a layout holds, as digests. */
function blobs(root: string): string[] {
  try {
    return readdirSync(join(root, 'blobs', 'sha256')).map((h) => `sha256:${h}`);
  } catch {
    return [];
  }
}

/** The members of a struct in an object's BTF, by name. */
function members(object: Uint8Array, struct: string): string[] | undefined {
  const btf = parseObject(object).btf!;
  return (findType(btf, 'struct', struct) as BtfComposite | undefined)?.members.map((m) => m.name);
}

/** Renames the package in `dir`'s ebpm.json, so packages built from one example do not share a repository. */
function renamePackage(dir: string, name: string): void {
  const path = join(dir, 'ebpm.json');
  writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(path, 'utf8')) as object), name }));
}

describeWith(['root', 'btf', 'clang', 'native', 'wasi', 'registry', 'arm64-types'], 'ebpm build --platform and multi-platform packages', () => {
  let reg: RunningRegistry;
  let env: Record<string, string>;
  let dir = '';
  const pkgs: Record<'sigsnoop' | 'bpfonly' | 'ptregs', string> = { sigsnoop: '', bpfonly: '', ptregs: '' };

  beforeAll(async () => {
    reg = await startRegistry();
    dir = sandboxDir('platforms-');
    env = cliEnv(join(dir, 'home'), { EBPM_REGISTRY: `${reg.host}/plat` });
    writeTrustPolicy(env, { version: 1, scopes: { '*': { require: 'none' } } });
    pkgs.sigsnoop = join(dir, 'sigsnoop');
    cpSync(join(REPO, 'examples', 'sigsnoop'), pkgs.sigsnoop, { recursive: true, filter: (s) => !s.endsWith('/out') });
    // Programs of its own name: other files load sigsnoop at the same time.
    pkgs.bpfonly = ownCopy('sigsnoop', join(dir, 'bpfonly'), 'sig_trace', 'pf_sig_trace');
    renamePackage(pkgs.bpfonly, 'pfsnoop');
    pkgs.ptregs = join(dir, 'ptregs');
    cpSync(join(REPO, 'test', 'build', 'fixtures', 'ptregs'), pkgs.ptregs, { recursive: true });
    for (const p of Object.values(pkgs)) {
      const r = await runEbpm(['build', p, '--platform', 'linux/amd64,linux/arm64'], { env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  }, 180_000);
  afterAll(() => reg?.stop());

  it('writes an OCI image index over one ebpm manifest per platform, in the order given', () => {
    for (const p of Object.values(pkgs)) {
      const l = layout(join(p, 'out'));
      const index = JSON.parse(readFileSync(join(l.root, 'index.json'), 'utf8')) as { manifests: Desc[] };
      expect(index.manifests.map((m) => [m.annotations!['org.opencontainers.image.ref.name'], m.mediaType, m.artifactType])).toEqual([
        [expect.any(String), MEDIA_TYPE_IMAGE_INDEX, ARTIFACT],
        ['latest', MEDIA_TYPE_IMAGE_INDEX, ARTIFACT],
      ]);
      const platforms = platformsOf(l, 'latest');
      expect(platforms.map((x) => [x.descriptor.mediaType, x.descriptor.artifactType, x.descriptor.platform, x.metadata.architecture])).toEqual([
        [MEDIA_TYPE_IMAGE_MANIFEST, ARTIFACT, { architecture: 'amd64', os: 'linux' }, 'amd64'],
        [MEDIA_TYPE_IMAGE_MANIFEST, ARTIFACT, { architecture: 'arm64', os: 'linux' }, 'arm64'],
      ]);
    }
  });

  it('compiles each platform against its own pt_regs and kernel types; objects are EM_BPF', () => {
    const l = layout(join(pkgs.ptregs, 'out'));
    const [amd64, arm64] = platformsOf(l, 'latest').map((x) => l.blob(x.layers.get('ptregs.bpf.o')!.digest));
    for (const o of [amd64!, arm64!]) expect(Buffer.from(o).readUInt16LE(18)).toBe(EM_BPF);
    expect(members(amd64!, 'pt_regs')).toContain('di');
    expect(members(amd64!, 'user_pt_regs')).toBeUndefined();
    expect(members(arm64!, 'user_pt_regs')).toEqual(['regs', 'sp', 'pc', 'pstate']);
    expect(members(arm64!, 'pt_regs')).not.toContain('di');
    // The CO-RE read of the first argument is relocated against each architecture's register.
    const reads = (o: Uint8Array) => parseObject(o).coreRelocations.map((r) => r.path);
    expect(new Set(reads(amd64!))).toEqual(new Set(['pt_regs.di']));
    expect(new Set(reads(arm64!))).toEqual(new Set(['user_pt_regs.regs[0]']));
    expect(platformsOf(l, 'latest').map((x) => x.metadata.requirements.kernelTypes)).toEqual([['pt_regs'], ['user_pt_regs']]);
  });

  it("a Wasm module embedding objects carries each platform's own; identical bytes are one blob", () => {
    const l = layout(join(pkgs.ptregs, 'out'));
    const [amd64, arm64] = platformsOf(l, 'latest');
    expect(amd64!.layers.get('main.wasm')!.digest).not.toBe(arm64!.layers.get('main.wasm')!.digest);
    for (const p of [amd64!, arm64!]) {
      expect(p.metadata.objects).toEqual([
        expect.objectContaining({ name: 'ptregs.bpf.o', digest: p.layers.get('ptregs.bpf.o')!.digest, layer: true, embedded: true }),
      ]);
    }
    // sigsnoop reads no architecture-dependent type: both platforms compile to the same object,
    // hence the same module, stored once.
    const s = layout(join(pkgs.sigsnoop, 'out'));
    const [x, y] = platformsOf(s, 'latest');
    expect(x!.layers.get('sigsnoop.bpf.o')).toEqual(y!.layers.get('sigsnoop.bpf.o'));
    expect(x!.layers.get('main.wasm')).toEqual(y!.layers.get('main.wasm'));
  });

  it('push publishes the index; pull stores every platform and names this one; run loads the amd64 objects and prints their events', async () => {
    const l = layout(join(pkgs.bpfonly, 'out'));
    const [amd64, arm64] = platformsOf(l, 'latest');
    const root = tagged(l, 'latest');
    const pushed = await runEbpm(['push', pkgs.bpfonly, '--json'], { env });
    expect(pushed.code).toBe(0);
    expect(JSON.parse(pushed.stdout)).toMatchObject({
      reference: `${reg.host}/plat/pfsnoop:1.2.0`,
      digest: root.digest,
      tags: ['1.2.0', '1.2', '1', 'latest'],
    });

    const pulled = await runEbpm(['pull', 'pfsnoop@1.2', '--json'], { env });
    expect(pulled.code).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({
      reference: `${reg.host}/plat/pfsnoop:1.2.0`,
      digest: root.digest,
      platform: { platform: 'linux/amd64', digest: amd64!.descriptor.digest, offered: ['linux/amd64', 'linux/arm64'] },
    });
    // The store holds the package as published: both platforms' manifests and objects.
    const store = layout(env.EBPM_STORE!);
    for (const p of [amd64!, arm64!]) expect(store.blob(p.layers.get('sigsnoop.bpf.o')!.digest)).toEqual(l.blob(p.layers.get('sigsnoop.bpf.o')!.digest));
    const again = await runEbpm(['pull', 'pfsnoop@1.2', '--platform', 'linux/arm64'], { env });
    expect(again.stdout).toBe(
      `${reg.host}/plat/pfsnoop:1.2.0 ${root.digest} (up to date) linux/arm64 ${arm64!.descriptor.digest} (platforms linux/amd64, linux/arm64)\n`,
    );

    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [18, 28]);
    const run = spawnEbpm(['run', 'pfsnoop@1.2', '--pull', 'never', '--json', '--filtered-pid', String(send.pid), '--max-events', '2'], { env });
    await run.waitFor(/attached/);
    send.stdin!.end('go\n');
    const r = await run.exited();
    target.kill('SIGKILL');
    expect(r.stderr).toBe('pfsnoop 1.2.0: attached pf_sig_trace (tracepoint/signal/signal_generate)\npfsnoop: 2 events, 0 lost (stopped: max-events)\n');
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout).map((e) => [e.pid, e.tpid, e.sig, e.comm])).toEqual([
      [send.pid, target.pid, 18, 'ebpm-sigsend'],
      [send.pid, target.pid, 28, 'ebpm-sigsend'],
    ]);
  });

  it('inspect lists the platforms and shows this one, or the one --platform names', async () => {
    expect((await runEbpm(['push', pkgs.ptregs], { env })).code).toBe(0);
    const [amd64, arm64] = platformsOf(layout(join(pkgs.ptregs, 'out')), 'latest');
    const all = [
      { platform: 'linux/amd64', digest: amd64!.descriptor.digest },
      { platform: 'linux/arm64', digest: arm64!.descriptor.digest },
    ];
    const here = await runEbpm(['inspect', 'ptregs@0.1', '--json'], { env });
    expect(JSON.parse(here.stdout)).toMatchObject({
      platform: 'linux/amd64',
      platforms: all,
      metadata: { architecture: 'amd64', requirements: { kernelTypes: ['pt_regs'] } },
    });
    const there = await runEbpm(['inspect', 'ptregs@0.1', '--platform', 'linux/arm64', '--json'], { env });
    expect(JSON.parse(there.stdout)).toMatchObject({
      platform: 'linux/arm64',
      platforms: all,
      metadata: { architecture: 'arm64', requirements: { kernelTypes: ['user_pt_regs'] } },
    });
    const text = await runEbpm(['inspect', join(pkgs.ptregs, 'out')], { env });
    expect(text.stdout.split('\n')[3]).toBe('platforms: linux/amd64, linux/arm64 (shown: linux/amd64)');
  });

  it("refuses a package without this machine's platform, naming the platforms it has", async () => {
    const armOnly = join(dir, 'armonly');
    cpSync(join(REPO, 'test', 'build', 'fixtures', 'ptregs'), armOnly, { recursive: true });
    renamePackage(armOnly, 'armonly');
    expect((await runEbpm(['build', armOnly, '--platform', 'linux/arm64'], { env })).code).toBe(0);
    // One platform is a plain manifest, its architecture in the metadata.
    expect(tagged(layout(join(armOnly, 'out')), 'latest').mediaType).toBe(MEDIA_TYPE_IMAGE_MANIFEST);
    expect((await runEbpm(['push', armOnly], { env })).code).toBe(0);
    const hint =
      'hint: run it on a linux/arm64 machine, or build it for linux/amd64 (ebpm build --platform linux/amd64): BPF objects read pt_regs and kernel structs as their architecture lays them out\n';
    expect(await runEbpm(['run', 'armonly@0.1', '--', '-h'], { env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: run armonly: no linux/amd64 package: built for linux/arm64\n${hint}`,
    });
    const fresh = cliEnv(sandboxDir('platforms-fresh-'), { EBPM_REGISTRY: `${reg.host}/plat` });
    writeTrustPolicy(fresh, { version: 1, scopes: { '*': { require: 'none' } } });
    const r = await runEbpm(['pull', 'ptregs@0.1', '--platform', 'linux/s390x'], { env: fresh });
    expect(r).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr:
        'error: pull ptregs@0.1: no linux/s390x package: built for linux/amd64, linux/arm64\n' +
        'hint: run it on a linux/amd64 or linux/arm64 machine, or build it for linux/s390x (ebpm build --platform linux/s390x): BPF objects read pt_regs and kernel structs as their architecture lays them out\n',
    });
    // Refused before anything was copied.
    expect(blobs(fresh.EBPM_STORE!)).toEqual([]);
  });

  it('sign, verify, export and import carry the index and every platform', async () => {
    const l = layout(join(pkgs.ptregs, 'out'));
    const root = tagged(l, 'latest');
    const keys = { ...env, EBPM_PASSWORD: 'platforms' };
    expect((await runEbpm(['keygen'], { env: keys, cwd: env.HOME! })).code).toBe(0);
    expect((await runEbpm(['pull', 'ptregs@0.1'], { env: keys })).code).toBe(0);
    const signed = await runEbpm(['sign', 'ptregs@0.1', '--key', join(env.HOME!, 'cosign.key')], { env: keys });
    expect(signed.stdout).toContain(`signed ${reg.host}/plat/ptregs@${root.digest}`);
    const archive = join(dir, 'ptregs.tar');
    expect((await runEbpm(['export', 'ptregs:0.1.0', archive], { env: keys })).code).toBe(0);

    const other = cliEnv(sandboxDir('platforms-import-'));
    expect((await runEbpm(['import', archive], { env: other })).code).toBe(0);
    expect(blobs(other.EBPM_STORE!)).toEqual(
      expect.arrayContaining([root.digest, ...platformsOf(l, 'latest').flatMap((p) => [p.descriptor.digest, ...[...p.layers.values()].map((x) => x.digest)])]),
    );
    const verified = await runEbpm(['verify', `${reg.host}/plat/ptregs:0.1.0`, '--key', join(env.HOME!, 'cosign.pub')], { env: other });
    expect(verified.code).toBe(0);
    expect(verified.stdout.split('\n')[0]).toBe(`verified ${reg.host}/plat/ptregs@${root.digest} (from the store)`);
  });

  it('the embedded registry serves an index as a registry does', async () => {
    const local = cliEnv(sandboxDir('platforms-embedded-'));
    writeTrustPolicy(local, { version: 1, scopes: { '*': { require: 'none' } } });
    const root = tagged(layout(join(pkgs.ptregs, 'out')), 'latest');
    expect((await runEbpm(['push', pkgs.ptregs], { env: local })).stdout.split('\n')[0]).toBe(
      `pushed local.invalid/ptregs:0.1.0 ${root.digest} (${blobs(join(pkgs.ptregs, 'out')).length} blobs, ${totalSize(pkgs.ptregs)} bytes)`,
    );
    const pulled = await runEbpm(['pull', 'ptregs@0.1', '--platform', 'linux/arm64', '--json'], { env: local });
    expect(JSON.parse(pulled.stdout)).toMatchObject({ digest: root.digest, platform: { platform: 'linux/arm64', offered: ['linux/amd64', 'linux/arm64'] } });
    expect((await runEbpm(['tag', 'ptregs:0.1.0', 'ptregs:mine'], { env: local })).stdout).toBe(`tagged local.invalid/ptregs:mine ${root.digest}\n`);
    const dirArm = await runEbpm(['inspect', pkgs.ptregs, '--platform', 'linux/arm64', '--json'], { env: local });
    expect(JSON.parse(dirArm.stdout)).toMatchObject({ metadata: { architecture: 'arm64', requirements: { kernelTypes: ['user_pt_regs'] } } });
    const ls = await runEbpm(['ls', '--json'], { env: local });
    // The store names it by the index's own title and version annotations.
    expect(JSON.parse(ls.stdout)).toEqual([
      expect.objectContaining({ reference: 'local.invalid/ptregs:0.1.0', name: 'ptregs', version: '0.1.0', digest: root.digest }),
      expect.objectContaining({ reference: 'local.invalid/ptregs:mine', name: 'ptregs', version: '0.1.0', digest: root.digest }),
    ]);
    // cp writes no index entry: search walks the copy, reading the index's platform manifest for the metadata.
    expect((await runEbpm(['cp', 'ptregs:0.1.0', 'local.invalid/walked/ptregs'], { env: local })).code).toBe(0);
    const found = await runEbpm(['search', 'pt_regs', '--json'], { env: local });
    expect(JSON.parse(found.stdout)).toMatchObject({
      hits: [
        { name: 'ptregs', version: '0.1.0', description: 'pt_regs per architecture', reference: 'local.invalid/ptregs' },
        { name: 'ptregs', version: '0.1.0', description: 'pt_regs per architecture', reference: 'local.invalid/walked/ptregs' },
      ],
      sources: [{ location: 'local.invalid', source: 'index', packages: 2 }],
    });
  });

  it('refuses a bad --platform as usage, and a platform whose kernel types were not fetched', async () => {
    const bad = await runEbpm(['build', pkgs.ptregs, '--platform', 'linux/sparc'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('error: build: --platform "linux/sparc": unknown architecture');
    const twice = await runEbpm(['inspect', join(pkgs.ptregs, 'out'), '--platform', 'linux/amd64,linux/arm64'], { env });
    expect([twice.code, twice.stderr.split('\n')[0]]).toEqual([2, 'error: inspect: --platform linux/amd64,linux/arm64: give one platform']);
    const none = join(dir, 'no-platforms');
    mkdirSync(none);
    const missing = await runEbpm(['build', pkgs.ptregs, '--platform', 'linux/amd64,linux/arm64'], { env: { ...env, EBPM_PLATFORMS_DIR: none } });
    expect(missing).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr:
        `error: build ${pkgs.ptregs}: no linux/arm64 kernel types: ${none}/arm64/vmlinux.btf: not found\n` +
        `hint: run ${join(REPO, 'scripts', 'foreign-arch.sh')} arm64 (a checkout's scripts/bootstrap.sh does), which fetches Debian's arm64 kernel BTF and headers\n`,
    });
  });
});
