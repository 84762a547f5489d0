// Small OCI artifacts for the registry tests, built in a MemoryStore.
import { createHash } from 'node:crypto';
import { MemoryStore } from '../../src/content/memory.js';
import { pushBytes } from '../../src/content/storage.js';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, manifestBytes, MEDIA_TYPE_IMAGE_MANIFEST, type Descriptor, type ImageManifest } from '../../src/core/oci.js';
import { Registry, type ClientOptions } from '../../src/registry/client.js';

export const ARTIFACT_TYPE = 'application/vnd.ebpm.package.v1';
export const LAYER_TYPE = 'application/vnd.ebpm.bpf.object.v1';

/** `bytesOf` makes `n` deterministic pseudo-random bytes (sha256 counter stream). */
export function bytesOf(n: number, seed = 'ebpm'): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; i++) off += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  return out;
}

export interface Artifact {
  readonly store: MemoryStore;
  readonly manifest: Descriptor;
  readonly manifestBytes: Uint8Array;
  readonly layer: Descriptor;
  readonly layerBytes: Buffer;
}

/** `artifact` builds config `{}` + one layer + a manifest (optionally with a `subject`). */
export async function artifact(
  layerBytes: Buffer,
  opts: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {},
): Promise<Artifact> {
  const store = new MemoryStore();
  await pushBytes(store, EMPTY_DESCRIPTOR.mediaType, EMPTY_JSON);
  const layer = await pushBytes(store, LAYER_TYPE, layerBytes);
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    artifactType: opts.artifactType ?? ARTIFACT_TYPE,
    config: { mediaType: EMPTY_DESCRIPTOR.mediaType, digest: EMPTY_DESCRIPTOR.digest, size: 2 },
    layers: [layer],
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const bytes = manifestBytes(m);
  const manifest = await pushBytes(store, MEDIA_TYPE_IMAGE_MANIFEST, bytes);
  return { store, manifest, manifestBytes: bytes, layer, layerBytes };
}

/** Fast retries for tests: real backoff shapes, milliseconds instead of seconds. */
export const FAST: ClientOptions = { retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, budgetMs: 5_000 } };

export function registry(host: string, opts: ClientOptions = {}): Registry {
  return new Registry(host, { ...FAST, ...opts });
}

/** `collect` drains content into one buffer. */
export async function collect(content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of content) parts.push(c);
  return Buffer.concat(parts);
}

/** `rejection` awaits `p` and returns what it threw (fails the test if it resolved). */
export async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string; hint?: string; data?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; hint?: string; data?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}
