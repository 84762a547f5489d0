import { EMPTY_DESCRIPTOR, EMPTY_JSON, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes, type Descriptor, type ImageManifest } from '../../src/core/oci.js';
import { pushBytes, type Pusher } from '../../src/content/storage.js';

export const ARTIFACT_TYPE = 'application/vnd.ebpm.test.v1';
export const LAYER_TYPE = 'application/vnd.ebpm.test.layer.v1';
export const SIGNATURE_TYPE = 'application/vnd.ebpm.test.signature.v1';

/** `Artifact` is a small manifest graph pushed by `pushArtifact`. */
export interface Artifact {
  manifest: Descriptor;
  manifestBytes: Uint8Array;
  layers: Descriptor[];
}

/** `pushArtifact` pushes an OCI artifact (empty config, one layer per payload), children first. */
export async function pushArtifact(
  store: Pusher,
  payloads: (string | Uint8Array)[],
  opts: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {},
): Promise<Artifact> {
  await store.push(EMPTY_DESCRIPTOR, [EMPTY_JSON]);
  const layers: Descriptor[] = [];
  for (const p of payloads) {
    layers.push(await pushBytes(store, LAYER_TYPE, typeof p === 'string' ? Buffer.from(p) : p));
  }
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    artifactType: opts.artifactType ?? ARTIFACT_TYPE,
    config: { ...EMPTY_DESCRIPTOR },
    layers,
  };
  if (opts.subject !== undefined) m.subject = { mediaType: opts.subject.mediaType, digest: opts.subject.digest, size: opts.subject.size };
  if (opts.annotations !== undefined) m.annotations = opts.annotations;
  const bytes = manifestBytes(m);
  const manifest = await pushBytes(store, MEDIA_TYPE_IMAGE_MANIFEST, bytes);
  return { manifest, manifestBytes: bytes, layers };
}

/** `collect` reads a content stream whole. */
export async function collect(content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of content) chunks.push(c);
  return Buffer.concat(chunks);
}

/** `caught` returns the error `p` rejects with (failing if it resolves). */
export async function caught(p: Promise<unknown>): Promise<{ code: string; message: string; data: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; data: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}
