/**
 * The OCI mapping of an ebpm package (registry-spec/package-v1.md §2), both ways: `packPackage`
 * turns metadata and files into a manifest and blobs (pure), `readPackage` reads a manifest back
 * from any `Fetcher` and checks that its layers agree with its metadata.
 */
import {
  ANNOTATION_AUTHORS,
  ANNOTATION_CREATED,
  ANNOTATION_DESCRIPTION,
  ANNOTATION_LICENSES,
  ANNOTATION_SOURCE,
  ANNOTATION_TITLE,
  ANNOTATION_URL,
  ANNOTATION_VERSION,
  MAX_MANIFEST_BYTES,
  MEDIA_TYPE_IMAGE_INDEX,
  MEDIA_TYPE_IMAGE_MANIFEST,
  canonicalJson,
  descriptorFor,
  manifestBytes,
  isIndexType,
  parseIndex,
  parseManifest,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from '../core/oci.js';
import { EbpmError } from '../core/errors.js';
import type { Fetcher } from '../content/storage.js';
import { fetchAll } from '../content/storage.js';
import { BPFMAN_LABEL_MAPS, BPFMAN_LABEL_PROGRAMS, EBPM_ARTIFACT_TYPE, EBPM_BPF_OBJECT, EBPM_BTF, EBPM_CONFIG, EBPM_WASM_MODULE } from './media-types.js';
import { btfTitle, type PackageMetadata } from './metadata.js';
import { validateMetadata } from './validate.js';

/** `PackageFile` is one layer to be: its file name, media type and bytes. */
export interface PackageFile {
  readonly title: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
}

export interface PackedPackage {
  readonly manifest: ImageManifest;
  /** The manifest's descriptor (what a tag points at). */
  readonly descriptor: Descriptor;
  /** Every blob: manifest, config and layers, with their descriptors. */
  readonly blobs: readonly { readonly descriptor: Descriptor; readonly bytes: Uint8Array }[];
}

/** Largest config blob read: metadata of a package with many programs stays far below. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * `packPackage` lays out a package as an OCI image manifest. `files` are the layers in spec
 * order (objects, Wasm, BTF, README, sources); `created` is an RFC 3339 time. The same inputs give
 * the same bytes: the config and manifest are canonical JSON.
 */
export function packPackage(meta: PackageMetadata, files: readonly PackageFile[], created: string): PackedPackage {
  const config = new TextEncoder().encode(canonicalJson(meta));
  const configDesc = descriptorFor(EBPM_CONFIG, config);
  const layers = files.map((f) => ({ descriptor: descriptorFor(f.mediaType, f.bytes, { annotations: { [ANNOTATION_TITLE]: f.title } }), bytes: f.bytes }));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    artifactType: EBPM_ARTIFACT_TYPE,
    config: configDesc,
    layers: layers.map((l) => l.descriptor),
    annotations: manifestAnnotations(meta, created),
  };
  const bytes = manifestBytes(manifest);
  const descriptor = descriptorFor(MEDIA_TYPE_IMAGE_MANIFEST, bytes, { artifactType: EBPM_ARTIFACT_TYPE });
  return { manifest, descriptor, blobs: [{ descriptor, bytes }, { descriptor: configDesc, bytes: config }, ...layers] };
}

function manifestAnnotations(meta: PackageMetadata, created: string): Record<string, string> {
  const a: Record<string, string> = {
    [ANNOTATION_TITLE]: meta.name,
    [ANNOTATION_VERSION]: meta.version,
    [ANNOTATION_CREATED]: created,
  };
  if (meta.description) a[ANNOTATION_DESCRIPTION] = meta.description;
  if (meta.license) a[ANNOTATION_LICENSES] = meta.license;
  if (meta.homepage) a[ANNOTATION_URL] = meta.homepage;
  if (meta.repository) a[ANNOTATION_SOURCE] = meta.repository;
  if (meta.authors.length) a[ANNOTATION_AUTHORS] = meta.authors.join(', ');
  const programs = Object.fromEntries(meta.objects.flatMap((o) => o.programs.map((p) => [p.name, p.type])));
  const maps = Object.fromEntries(meta.objects.flatMap((o) => o.maps.map((m) => [m.name, m.type])));
  a[BPFMAN_LABEL_PROGRAMS] = canonicalJson(programs);
  a[BPFMAN_LABEL_MAPS] = canonicalJson(maps);
  return a;
}

/** `PackedIndex` is a multi-platform package: an OCI image index over per-platform package manifests. */
export interface PackedIndex {
  readonly index: ImageIndex;
  readonly descriptor: Descriptor;
  /** The index's own bytes, and every blob of every platform's package, each once. */
  readonly blobs: readonly { readonly descriptor: Descriptor; readonly bytes: Uint8Array }[];
}

/**
 * `packIndex` lays out one package per architecture (built from the same sources) as an OCI
 * image index (registry-spec/package-v1.md §"Platforms"): each manifest's descriptor carries
 * `platform: {os: linux, architecture}` (its metadata's `architecture`), the index the
 * package's artifactType and title, version and creation annotations. Canonical JSON, as
 * `packPackage`: the same packages give the same bytes. Blobs shared by platforms (the README,
 * the sources, a Wasm module that embeds no object) are listed once.
 */
export function packIndex(packages: readonly { readonly metadata: PackageMetadata; readonly packed: PackedPackage }[], created: string): PackedIndex {
  const first = packages[0]!.metadata;
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_INDEX,
    artifactType: EBPM_ARTIFACT_TYPE,
    manifests: packages.map((p) => ({ ...p.packed.descriptor, platform: { architecture: p.metadata.architecture, os: 'linux' } })),
    annotations: { [ANNOTATION_TITLE]: first.name, [ANNOTATION_VERSION]: first.version, [ANNOTATION_CREATED]: created },
  };
  const bytes = manifestBytes(index);
  const descriptor = descriptorFor(MEDIA_TYPE_IMAGE_INDEX, bytes, { artifactType: EBPM_ARTIFACT_TYPE });
  const blobs = new Map([[descriptor.digest, { descriptor, bytes }]]);
  for (const p of packages) for (const b of p.packed.blobs) blobs.set(b.descriptor.digest, b);
  return { index, descriptor, blobs: [...blobs.values()] };
}

/**
 * `readPackages` reads a package, or every platform's package of an ebpm index, in index order:
 * each manifest must be an ebpm package whose metadata names the architecture its descriptor's
 * platform does, and all must agree on name and version (`PACKAGE_INVALID` otherwise).
 */
export async function readPackages(store: Fetcher, descriptor: Descriptor): Promise<Package[]> {
  if (!isIndexType(descriptor.mediaType)) return [await readPackage(store, descriptor)];
  const index = parseIndex(await fetchAll(store, descriptor, MAX_MANIFEST_BYTES), descriptor.mediaType);
  const out: Package[] = [];
  const problems: string[] = [];
  for (const m of index.manifests) {
    const pkg = await readPackage(store, m);
    if (m.platform?.architecture !== pkg.metadata.architecture)
      problems.push(`${m.digest} is ${pkg.metadata.architecture} but listed as ${m.platform?.architecture ?? 'no platform'}`);
    const [a, b] = [out[0]?.metadata, pkg.metadata];
    if (a !== undefined && (a.name !== b.name || a.version !== b.version)) problems.push(`${a.name}@${a.version} and ${b.name}@${b.version} in one index`);
    out.push(pkg);
  }
  if (out.length === 0) problems.push('the index lists no manifest');
  if (problems.length) {
    throw new EbpmError('PACKAGE_INVALID', `index ${descriptor.digest}: ${problems.join('; ')}`, {
      hint: 'a multi-platform package holds one package per architecture, built from the same sources; rebuild it with ebpm build --platform',
      data: { problems },
    });
  }
  return out;
}

/** `Package` is an ebpm package read back from a store. */
export interface Package {
  readonly descriptor: Descriptor;
  readonly manifest: ImageManifest;
  readonly metadata: PackageMetadata;
  /** The layer of each file, by title. */
  readonly layers: ReadonlyMap<string, Descriptor>;
}

/** `isEbpmManifest` tells an ebpm package manifest from foreign artifacts. */
export function isEbpmManifest(m: ImageManifest): boolean {
  return m.artifactType === EBPM_ARTIFACT_TYPE || m.config.mediaType === EBPM_CONFIG;
}

/**
 * `readPackage` fetches and checks an ebpm package: the manifest, its config against the
 * metadata schema, and that every object and the Wasm module the metadata lists as a layer has
 * a layer of that title with the same digest and size (`PACKAGE_INVALID` otherwise).
 * `onManifest` sees the manifest as soon as it is parsed, before anything of it is checked.
 */
export async function readPackage(store: Fetcher, descriptor: Descriptor, onManifest?: (manifest: ImageManifest) => void): Promise<Package> {
  const manifest = parseManifest(await fetchAll(store, descriptor, MAX_MANIFEST_BYTES), descriptor.mediaType);
  onManifest?.(manifest);
  if (!isEbpmManifest(manifest)) {
    throw new EbpmError(
      'NOT_EBPM_PACKAGE',
      `manifest ${descriptor.digest}: not an ebpm package (artifactType ${manifest.artifactType ?? 'unset'}, config ${manifest.config.mediaType})`,
      {
        hint: 'ebpm inspect reads other formats (a .bpf.o, a .wasm, an eunomia package.json)',
      },
    );
  }
  const metadata = parseMetadataBlob(await fetchAll(store, manifest.config, MAX_CONFIG_BYTES));
  return { descriptor, manifest, metadata, layers: checkLayers(manifest, metadata) };
}

/** `parseMetadataBlob` decodes and validates a config blob. */
export function parseMetadataBlob(bytes: Uint8Array): PackageMetadata {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new EbpmError('METADATA_INVALID', `package metadata: not JSON: ${(e as Error).message}`, {
      cause: e,
      hint: 'the package config blob is damaged; rebuild or re-push the package',
    });
  }
  return validateMetadata(v);
}

function checkLayers(manifest: ImageManifest, meta: PackageMetadata): Map<string, Descriptor> {
  const layers = new Map<string, Descriptor>();
  const problems: string[] = [];
  for (const l of manifest.layers) {
    const title = l.annotations?.[ANNOTATION_TITLE];
    if (title === undefined) continue;
    if (layers.has(title)) problems.push(`two layers titled ${title}`);
    layers.set(title, l);
  }
  const expect = (name: string, mediaType: string, digest: string, size: number) => {
    const l = layers.get(name);
    if (!l) problems.push(`no layer titled ${name}`);
    else if (l.mediaType !== mediaType || l.digest !== digest || l.size !== size) problems.push(`layer ${name} does not match the metadata`);
  };
  for (const o of meta.objects) if (o.layer) expect(o.name, EBPM_BPF_OBJECT, o.digest, o.size);
  if (meta.wasm) expect(meta.wasm.name, EBPM_WASM_MODULE, meta.wasm.digest, meta.wasm.size);
  for (const b of meta.btf ?? []) expect(btfTitle(b.release), EBPM_BTF, b.digest, b.size);
  if (problems.length) {
    throw new EbpmError('PACKAGE_INVALID', `package ${meta.name}@${meta.version}: ${problems.join('; ')}`, {
      hint: 'the manifest and its metadata disagree; rebuild the package with ebpm build',
      data: { problems },
    });
  }
  return layers;
}
