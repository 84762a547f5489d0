/**
 * Helpers for the distribution command tests: a sandbox (store, embedded registry, cache,
 * config and Docker config in a temp directory, selected by environment variables), the CLI
 * run in-process through `main()` with captured streams, and ebpm package layouts built from a
 * real BPF object (examples/sigsnoop, compiled by clang).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { ANNOTATION_REF_NAME } from '../../src/core/oci.js';
import { packPackage } from '../../src/package/artifact.js';
import { describeFiles } from '../../src/package/loose.js';
import { EBPM_BPF_OBJECT, EBPM_SOURCE } from '../../src/package/media-types.js';
import { versionTag } from '../../src/package/version.js';
import { OciLayout } from '../../src/store/layout.js';
import { cliEnv, sandboxDir, writeTrustPolicy } from '../helpers/cli.js';
import { exampleObject } from '../helpers/objects.js';

export interface Sandbox {
  readonly root: string;
  readonly env: Record<string, string>;
  readonly store: string;
  readonly registryDir: string;
}

/** `sandbox` makes a temp root and the environment that points every ebpm path into it (no registry configured). */
export function sandbox(extra: Record<string, string> = {}): Sandbox {
  const root = sandboxDir('dist-');
  const env = cliEnv(root, extra);
  // Signatures are another suite's subject: this policy keeps pulls quiet about unsigned packages.
  // At the default place: a policy `extra` names explicitly is the test's own.
  writeTrustPolicy({ ...env, EBPM_TRUST_POLICY: undefined }, { version: 1, scopes: { '*': { require: 'none' } } });
  return { root, env, store: env.EBPM_STORE!, registryDir: env.EBPM_LOCAL_REGISTRY! };
}

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** `ebpm` runs the CLI in-process with plain (non-TTY) streams. */
export async function ebpm(args: string[], env: Record<string, string>, cwd = process.cwd()): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(args, { stdout, stderr, env, cwd });
  return { code, out, err };
}

/** `json` runs the CLI with `--json` and parses stdout, failing loudly otherwise. */
export async function json<T = unknown>(args: string[], env: Record<string, string>): Promise<T> {
  const r = await ebpm([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`ebpm ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as T;
}

export interface BuiltPackage {
  readonly dir: string;
  readonly digest: string;
  /** Every blob by digest (manifest, config, layers). */
  readonly blobs: ReadonlyMap<string, Uint8Array>;
  readonly size: number;
  /** Bytes of the BPF object layer (shared by every version built here). */
  readonly objectSize: number;
}

/**
 * `packageLayout` writes an OCI layout holding one ebpm package version (tagged with its
 * version only) into `dir`: sigsnoop's real object under `name`, with the given metadata, and
 * optionally a payload layer (the source tarball slot) to make it large.
 */
export async function packageLayout(
  dir: string,
  opts: { name?: string; version: string; description?: string; keywords?: string[]; payload?: Uint8Array; created?: string },
): Promise<BuiltPackage> {
  const name = opts.name ?? 'sigsnoop';
  const obj = await exampleObject('sigsnoop');
  const base = describeFiles({ name, architecture: 'amd64' }, [{ name: `${name}.bpf.o`, bytes: obj }]);
  const meta = { ...base, version: opts.version, keywords: opts.keywords ?? [], ...(opts.description === undefined ? {} : { description: opts.description }) };
  const files = [
    { title: `${name}.bpf.o`, mediaType: EBPM_BPF_OBJECT, bytes: obj },
    ...(opts.payload ? [{ title: 'source.tar.gz', mediaType: EBPM_SOURCE, bytes: opts.payload }] : []),
  ];
  const packed = packPackage(meta, files, opts.created ?? '2026-01-01T00:00:00Z');
  mkdirSync(dir, { recursive: true });
  const layout = await OciLayout.open(dir);
  for (const b of packed.blobs) await layout.push(b.descriptor, [b.bytes]);
  await layout.tag(packed.descriptor, versionTag(opts.version));
  return {
    dir,
    digest: packed.descriptor.digest,
    blobs: new Map(packed.blobs.map((b) => [b.descriptor.digest, b.bytes])),
    size: packed.blobs.reduce((n, b) => n + b.descriptor.size, 0),
    objectSize: obj.byteLength,
  };
}

/** `storeRefs` reads the refs of a store's index.json directly (what a crash would leave). */
export function storeRefs(store: string): string[] {
  const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  return index.manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME] ?? '').sort();
}

/** `blobFiles` lists `blobs/sha256/*` of a layout as digests. */
export function blobFiles(layout: string): string[] {
  try {
    return readdirSync(join(layout, 'blobs', 'sha256'))
      .map((h) => `sha256:${h}`)
      .sort();
  } catch {
    return [];
  }
}

/** `ingestFiles` lists leftover temp files of a layout. */
export function ingestFiles(layout: string): string[] {
  try {
    return readdirSync(join(layout, 'ingest'));
  } catch {
    return [];
  }
}

/** `writeConfig` writes the sandbox's ebpm config file. */
export function writeConfig(sb: Sandbox, config: unknown): void {
  writeFileSync(sb.env.EBPM_CONFIG!, typeof config === 'string' ? config : JSON.stringify(config));
}
