// What a referrer of a package is, decided from its own manifest: the one place find, copy
// and the listing ask. A referrers listing's `artifactType` is not conclusive (the tag-schema
// index of go-containerregistry names the config media type, `application/vnd.oci.empty.v1+json`
// for cosign's bundles), so the manifest's `artifactType` comes first, then its config media type
// (unless it is the empty one), then its layers' media types and annotations.
// Sources: cosign@v3.1 `pkg/oci/remote/write.go` (WriteSignaturesExperimentalOCI, WriteReferrer,
// WriteAttestationsReferrer), `internal/pkg/oci/remote/remote.go` (ArtifactType);
// notaryproject/specifications `specs/signature-specification.md`.
import { MEDIA_TYPE_EMPTY_JSON, MEDIA_TYPE_IMAGE_CONFIG, type Descriptor, type ImageManifest } from '../core/oci.js';
import { ANNOTATION_BUNDLE_PREDICATE_TYPE, COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE, isBundleType } from './bundle.js';
import { ANNOTATION_COSIGN_SIGNATURE, MEDIA_TYPE_SIMPLE_SIGNING } from './payload.js';

/** cosign's OCI 1.1 artifact types (`--registry-referrers-mode=oci-1-1`): `application/vnd.dev.cosign.artifact.<sig|att|sbom>.v1+json`. */
export const ARTIFACT_TYPE_COSIGN_SIGNATURE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const ARTIFACT_TYPE_COSIGN_ATTESTATION = 'application/vnd.dev.cosign.artifact.att.v1+json';
export const ARTIFACT_TYPE_COSIGN_SBOM = 'application/vnd.dev.cosign.artifact.sbom.v1+json';
/** Notary Project signatures; the envelope is the one layer, JWS or COSE. */
export const ARTIFACT_TYPE_NOTATION = 'application/vnd.cncf.notary.signature';
/** The layer of cosign's attestations (`.att` tags, OCI 1.1 in-toto referrers): a DSSE envelope. */
export const MEDIA_TYPE_DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
export const MEDIA_TYPE_JWS = 'application/jose+json';
export const MEDIA_TYPE_COSE = 'application/cose';

/** SBOM media types (SPDX, CycloneDX) as SBOM tools name their referrers and layers. */
const SBOM_TYPES: ReadonlySet<string> = new Set([
  ARTIFACT_TYPE_COSIGN_SBOM,
  'application/spdx+json',
  'text/spdx',
  'text/spdx+json',
  'application/vnd.cyclonedx',
  'application/vnd.cyclonedx+json',
  'application/vnd.cyclonedx+xml',
  'application/vnd.syft+json',
]);

/**
 * `ClassifiedReferrer` is what a referrer manifest holds:
 * - `simple-signing`: cosign's OCI 1.1 signature, checked like a `.sig` manifest's layers;
 * - `bundle`: a sigstore bundle, a signature when it carries cosign's sign predicate (or none);
 * - `notation`: a Notary Project signature envelope (`jws` or `cose`), recognised, not verified;
 * - `attestation`, `sbom`: listed, never counted as signatures;
 * - `other`: anything else, kept and listed by its artifact type.
 */
export type ClassifiedReferrer =
  | { readonly kind: 'signature'; readonly shape: 'simple-signing'; readonly artifactType: string }
  | { readonly kind: 'signature'; readonly shape: 'bundle'; readonly artifactType: string; readonly layer: Descriptor }
  | { readonly kind: 'attestation'; readonly shape: 'bundle'; readonly artifactType: string; readonly predicateType: string; readonly layer: Descriptor }
  | { readonly kind: 'attestation'; readonly shape: 'in-toto'; readonly artifactType: string; readonly layer?: undefined }
  | { readonly kind: 'notation'; readonly envelope: 'jws' | 'cose' | 'unknown'; readonly artifactType: string; readonly layer?: Descriptor }
  | { readonly kind: 'sbom'; readonly artifactType: string }
  | { readonly kind: 'other'; readonly artifactType: string };

/** `ReferrerKind` is the `kind` of a `ClassifiedReferrer`. */
export type ReferrerKind = ClassifiedReferrer['kind'];

/** `referrerArtifactType` is what a manifest says it is: `artifactType`, else a config media type other than the empty one, else `''`. */
export function referrerArtifactType(manifest: ImageManifest): string {
  if (manifest.artifactType !== undefined && manifest.artifactType !== '' && manifest.artifactType !== MEDIA_TYPE_EMPTY_JSON) return manifest.artifactType;
  return manifest.config.mediaType === MEDIA_TYPE_EMPTY_JSON ? '' : manifest.config.mediaType;
}

/** `classifyReferrer` decides what `manifest` (a referrer, or a `.sig`/`.att`/`.sbom` tag's manifest) is, from its own fields only. */
export function classifyReferrer(manifest: ImageManifest): ClassifiedReferrer {
  const declared = referrerArtifactType(manifest);
  const layerTypes = manifest.layers.map((l) => l.mediaType);
  const artifactType = declared || layerTypes[0] || '';
  if (declared === ARTIFACT_TYPE_NOTATION) {
    const layer = manifest.layers[0];
    const envelope = layer?.mediaType === MEDIA_TYPE_JWS ? 'jws' : layer?.mediaType === MEDIA_TYPE_COSE ? 'cose' : 'unknown';
    return layer === undefined ? { kind: 'notation', envelope, artifactType } : { kind: 'notation', envelope, artifactType, layer };
  }
  const bundleLayer = manifest.layers.length === 1 && isBundleType(manifest.layers[0]!.mediaType) ? manifest.layers[0] : undefined;
  if (bundleLayer !== undefined && (declared === '' || isBundleType(declared))) {
    const predicateType = manifest.annotations?.[ANNOTATION_BUNDLE_PREDICATE_TYPE];
    if (predicateType === undefined || predicateType === COSIGN_SIGN_PREDICATE) return { kind: 'signature', shape: 'bundle', artifactType, layer: bundleLayer };
    return { kind: 'attestation', shape: 'bundle', artifactType, predicateType, layer: bundleLayer };
  }
  if (
    declared === ARTIFACT_TYPE_COSIGN_ATTESTATION ||
    declared === IN_TOTO_PAYLOAD_TYPE ||
    ((declared === '' || declared === MEDIA_TYPE_IMAGE_CONFIG) && layerTypes.includes(MEDIA_TYPE_DSSE_ENVELOPE))
  )
    return { kind: 'attestation', shape: 'in-toto', artifactType };
  if (SBOM_TYPES.has(declared) || (declared === '' && layerTypes.some((t) => SBOM_TYPES.has(t)))) return { kind: 'sbom', artifactType };
  const signed = manifest.layers.some((l) => l.mediaType === MEDIA_TYPE_SIMPLE_SIGNING && l.annotations?.[ANNOTATION_COSIGN_SIGNATURE] !== undefined);
  if (signed && (declared === ARTIFACT_TYPE_COSIGN_SIGNATURE || declared === '' || declared === MEDIA_TYPE_IMAGE_CONFIG))
    return { kind: 'signature', shape: 'simple-signing', artifactType };
  return { kind: 'other', artifactType };
}
