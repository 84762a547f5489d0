import { EbpmError } from './errors.js';
import { type Digest, digestProblem, sha256Digest } from './digest.js';
import { Fields, canonicalJson, compact, decodeJson, isObject, join, type JsonObject } from './json.js';

export { canonicalJson };

/*
 * OCI image-spec v1.1.1 types and their validators. Everything here is pure: bytes in, values out.
 * https://github.com/opencontainers/image-spec/blob/v1.1.1/manifest.md, image-index.md, descriptor.md
 */

/** Media types from `specs-go/v1/mediatype.go` (image-spec v1.1.1), plus Docker's for reading. */
export const MEDIA_TYPE_DESCRIPTOR = 'application/vnd.oci.descriptor.v1+json';
export const MEDIA_TYPE_LAYOUT_HEADER = 'application/vnd.oci.layout.header.v1+json';
export const MEDIA_TYPE_IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_EMPTY_JSON = 'application/vnd.oci.empty.v1+json';
export const MEDIA_TYPE_IMAGE_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_IMAGE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_TYPE_IMAGE_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** Docker image manifest v2 schema 2 and manifest list, accepted when reading. */
export const MEDIA_TYPE_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_TYPE_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** Pre-defined annotation keys (`annotations.md`, image-spec v1.1.1). */
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';
export const ANNOTATION_AUTHORS = 'org.opencontainers.image.authors';
export const ANNOTATION_URL = 'org.opencontainers.image.url';
export const ANNOTATION_DOCUMENTATION = 'org.opencontainers.image.documentation';
export const ANNOTATION_SOURCE = 'org.opencontainers.image.source';
export const ANNOTATION_VERSION = 'org.opencontainers.image.version';
export const ANNOTATION_REVISION = 'org.opencontainers.image.revision';
export const ANNOTATION_VENDOR = 'org.opencontainers.image.vendor';
export const ANNOTATION_LICENSES = 'org.opencontainers.image.licenses';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
export const ANNOTATION_DESCRIPTION = 'org.opencontainers.image.description';
export const ANNOTATION_BASE_DIGEST = 'org.opencontainers.image.base.digest';
export const ANNOTATION_BASE_NAME = 'org.opencontainers.image.base.name';
/** ebpm's own per-tag metadata in the local store's index.json (reverse-domain keys, as the spec asks). */
export const ANNOTATION_EBPM_PULLED_AT = 'dev.ebpm.pulled-at';
export const ANNOTATION_EBPM_SOURCE = 'dev.ebpm.source';
/** On a referrer's untagged entry in a layout's index.json: the digest of its subject. */
export const ANNOTATION_EBPM_SUBJECT = 'dev.ebpm.subject';

/**
 * `MAX_MANIFEST_BYTES` bounds any manifest or index ebpm reads: 4 MiB, the limit of
 * distribution-spec v1.1.1 ("registries SHOULD accept at least 4 MiB") and oras-go's `MaxMetadataBytes`.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** `Platform` of a manifest in an index (`image-index.md`). */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

/** `Descriptor` points at content by media type, digest and size (`descriptor.md`). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Embedded content, base64; must match digest and size. */
  data?: string;
  artifactType?: string;
  platform?: Platform;
}

/** `ImageManifest` (`manifest.md`); `mediaType` is always filled in once parsed. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** `ImageIndex` (`image-index.md`); `mediaType` is always filled in once parsed. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The empty JSON blob `{}` (`manifest.md#guidance-for-an-empty-descriptor`). */
export const EMPTY_JSON = new Uint8Array([0x7b, 0x7d]);
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: MEDIA_TYPE_EMPTY_JSON,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
});

/** `isManifestType` is true for media types `parseManifest` reads. */
export function isManifestType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE_IMAGE_MANIFEST || mediaType === MEDIA_TYPE_DOCKER_MANIFEST;
}

/** `isIndexType` is true for media types `parseIndex` reads. */
export function isIndexType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE_IMAGE_INDEX || mediaType === MEDIA_TYPE_DOCKER_MANIFEST_LIST;
}

// REF_NAME is the `org.opencontainers.image.ref.name` grammar of annotations.md (image-spec v1.1.1).
const REF_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_NAME = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);

/** `isRefName` tells whether `s` may name a manifest in an OCI layout (a tag such as `1.2.0` or `sigsnoop:1.2.0`). */
export function isRefName(s: string): boolean {
  return s.length <= 1024 && REF_NAME.test(s);
}

/** `descriptorFor` describes bytes: their sha256 digest and length, plus any extra fields. */
export function descriptorFor(mediaType: string, bytes: Uint8Array, extra: Partial<Descriptor> = {}): Descriptor {
  return { ...extra, mediaType, digest: sha256Digest(bytes), size: bytes.byteLength };
}

/** `manifestBytes` serialises a manifest or index canonically (`canonicalJson`), so equal values share a digest. */
export function manifestBytes(m: ImageManifest | ImageIndex): Uint8Array {
  return new TextEncoder().encode(canonicalJson(m));
}

/**
 * `parseManifest` narrows untrusted bytes to an `ImageManifest` (OCI or Docker schema 2).
 * `declared` is the Content-Type the bytes came with (or the descriptor's media type); the
 * document's own `mediaType` must agree with it. Every bad field is listed in one `MANIFEST_INVALID`
 * error (`data.fields`); over `MAX_MANIFEST_BYTES` is `MANIFEST_TOO_LARGE`.
 */
export function parseManifest(bytes: Uint8Array, declared?: string): ImageManifest {
  const { o, f, mediaType } = open(bytes, declared, 'manifest', isManifestType, MEDIA_TYPE_IMAGE_MANIFEST);
  const config = descriptor(f, o.config, 'config', true);
  const layers = descriptorList(f, o, 'layers');
  const subject = descriptor(f, o.subject, 'subject', false);
  const artifactType = mediaTypeField(f, o, 'artifactType', '');
  const annotations = f.stringMap(o, 'annotations', '');
  finish(f, 'manifest');
  return compact({ schemaVersion: 2 as const, mediaType, artifactType, config: config!, layers, subject, annotations });
}

/** `parseIndex` narrows untrusted bytes to an `ImageIndex` (OCI or Docker manifest list), like `parseManifest`. */
export function parseIndex(bytes: Uint8Array, declared?: string): ImageIndex {
  const { o, f, mediaType } = open(bytes, declared, 'index', isIndexType, MEDIA_TYPE_IMAGE_INDEX);
  const manifests = descriptorList(f, o, 'manifests');
  const subject = descriptor(f, o.subject, 'subject', false);
  const artifactType = mediaTypeField(f, o, 'artifactType', '');
  const annotations = f.stringMap(o, 'annotations', '');
  finish(f, 'index');
  return compact({ schemaVersion: 2 as const, mediaType, artifactType, manifests, subject, annotations });
}

/** `parseDescriptor` narrows one untrusted descriptor (e.g. from a referrers response), listing every bad field. */
export function parseDescriptor(v: unknown, what = 'descriptor'): Descriptor {
  const f = new Fields();
  const d = descriptor(f, v, '', true);
  finish(f, what);
  return d!;
}

// MEDIA_TYPE is the RFC 6838 shape the image-spec JSON schema uses.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function open(
  bytes: Uint8Array,
  declared: string | undefined,
  what: 'manifest' | 'index',
  accepts: (mt: string) => boolean,
  fallback: string,
): { o: JsonObject; f: Fields; mediaType: string } {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new EbpmError('MANIFEST_TOO_LARGE', `${what} is ${bytes.byteLength} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`, {
      hint: 'manifests are metadata; a registry or file sending more is broken or hostile',
      data: { size: bytes.byteLength, limit: MAX_MANIFEST_BYTES },
    });
  }
  const parsed = decodeJson(bytes);
  if (parsed === undefined || !isObject(parsed.value)) {
    throw new EbpmError('MANIFEST_INVALID', `invalid ${what}: not a JSON object`, {
      hint: 'the content is not an OCI manifest; check the reference and the registry',
      data: { fields: ['(root): not a JSON object'] },
    });
  }
  const o = parsed.value;
  const f = new Fields();
  const decl = declared === undefined ? undefined : declared.split(';')[0]!.trim();
  if (decl !== undefined && !accepts(decl)) f.add('(content-type)', `${JSON.stringify(decl)} is not an ${what} media type`);
  if (o.schemaVersion !== 2) f.add('schemaVersion', o.schemaVersion === undefined ? 'missing' : 'must be 2');
  const own = f.string(o, 'mediaType', '', false);
  if (own !== undefined && !accepts(own)) f.add('mediaType', `${JSON.stringify(own)} is not an ${what} media type`);
  else if (own !== undefined && decl !== undefined && accepts(decl) && own !== decl) {
    f.add('mediaType', `${JSON.stringify(own)} does not match the declared ${JSON.stringify(decl)}`);
  }
  return { o, f, mediaType: own ?? decl ?? fallback };
}

function finish(f: Fields, what: string): void {
  if (f.problems.length === 0) return;
  const shown = f.problems.slice(0, 3).join('; ') + (f.problems.length > 3 ? `; and ${f.problems.length - 3} more` : '');
  throw new EbpmError('MANIFEST_INVALID', `invalid ${what}: ${shown}`, {
    hint: 'the content does not follow the OCI image-spec v1.1; every bad field is listed in data.fields',
    data: { fields: [...f.problems] },
  });
}

function mediaTypeField(f: Fields, o: JsonObject, key: string, path: string): string | undefined {
  const v = f.string(o, key, path, false);
  if (v !== undefined && !MEDIA_TYPE.test(v)) f.add(join(path, key), 'not a media type');
  return v;
}

function descriptorList(f: Fields, o: JsonObject, key: string): Descriptor[] {
  const v = o[key];
  if (v === undefined) {
    f.add(key, 'missing');
    return [];
  }
  if (!Array.isArray(v)) {
    f.add(key, 'not an array');
    return [];
  }
  const out: Descriptor[] = [];
  v.forEach((item, i) => {
    const d = descriptor(f, item, `${key}[${i}]`, true);
    if (d !== undefined) out.push(d);
  });
  return out;
}

function descriptor(f: Fields, v: unknown, path: string, required: boolean): Descriptor | undefined {
  if (v === undefined) {
    if (required) f.add(path, 'missing');
    return undefined;
  }
  if (!isObject(v)) {
    f.add(path, 'not an object');
    return undefined;
  }
  const before = f.problems.length;
  const mediaType = f.string(v, 'mediaType', path, true);
  if (mediaType !== undefined && !MEDIA_TYPE.test(mediaType)) f.add(join(path, 'mediaType'), 'not a media type');
  if (v.digest === undefined) f.add(join(path, 'digest'), 'missing');
  const digest = v.digest;
  const dp = digest === undefined ? undefined : digestProblem(digest);
  if (dp !== undefined) f.add(join(path, 'digest'), dp);
  const size = v.size;
  if (size === undefined) f.add(join(path, 'size'), 'missing');
  else if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) f.add(join(path, 'size'), 'not a non-negative integer');
  let urls: string[] | undefined;
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== 'string')) f.add(join(path, 'urls'), 'not an array of strings');
    else urls = v.urls as string[];
  }
  const annotations = f.stringMap(v, 'annotations', path);
  const artifactType = mediaTypeField(f, v, 'artifactType', path);
  const data = f.string(v, 'data', path, false);
  if (data !== undefined && !BASE64.test(data)) f.add(join(path, 'data'), 'not base64');
  else if (data !== undefined && typeof size === 'number' && dp === undefined && typeof digest === 'string') {
    const raw = Buffer.from(data, 'base64');
    if (raw.byteLength !== size || (digest.startsWith('sha256:') && sha256Digest(raw) !== digest)) {
      f.add(join(path, 'data'), 'does not match digest and size');
    }
  }
  const platform = platformField(f, v.platform, join(path, 'platform'));
  if (f.problems.length !== before) return undefined;
  return compact({ mediaType: mediaType!, digest: digest as string, size: size as number, urls, annotations, data, artifactType, platform });
}

function platformField(f: Fields, v: unknown, path: string): Platform | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) {
    f.add(path, 'not an object');
    return undefined;
  }
  const architecture = f.string(v, 'architecture', path, true);
  const os = f.string(v, 'os', path, true);
  const osVersion = f.string(v, 'os.version', path, false);
  const variant = f.string(v, 'variant', path, false);
  const lists: Partial<Record<'os.features' | 'features', string[]>> = {};
  for (const key of ['os.features', 'features'] as const) {
    const l = v[key];
    if (l === undefined) continue;
    if (!Array.isArray(l) || l.some((x) => typeof x !== 'string')) f.add(join(path, key), 'not an array of strings');
    else lists[key] = l as string[];
  }
  if (architecture === undefined || os === undefined) return undefined;
  return compact({ architecture, os, 'os.version': osVersion, variant, ...lists });
}
