import { describe, expect, it } from 'vitest';
import { MEDIA_TYPE_EMPTY_JSON, MEDIA_TYPE_IMAGE_CONFIG, MEDIA_TYPE_IMAGE_MANIFEST, type Descriptor, type ImageManifest } from '../../src/core/oci.js';
import { classifyReferrer, referrerArtifactType } from '../../src/sign/referrer.js';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SIG = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const d = (mediaType: string, annotations?: Record<string, string>): Descriptor => ({
  mediaType,
  digest: 'sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6',
  size: 10,
  ...(annotations ? { annotations } : {}),
});
const manifest = (m: Partial<ImageManifest>): ImageManifest => ({
  schemaVersion: 2,
  mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
  config: d(MEDIA_TYPE_EMPTY_JSON),
  layers: [],
  ...m,
});
const simpleSigning = d('application/vnd.dev.cosign.simplesigning.v1+json', { 'dev.cosignproject.cosign/signature': 'MEUCIQ==' });
const bundleLayer = d(BUNDLE);
const cosignBundle = manifest({
  artifactType: BUNDLE,
  config: { ...d(MEDIA_TYPE_EMPTY_JSON), artifactType: BUNDLE },
  layers: [bundleLayer],
  annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' },
});

describe('classifyReferrer', () => {
  it('reads the manifest, not the listing: artifactType, then a non-empty config media type, then the layers', () => {
    expect(referrerArtifactType(manifest({ artifactType: SIG, config: d(MEDIA_TYPE_EMPTY_JSON) }))).toBe(SIG);
    expect(referrerArtifactType(manifest({ config: d(SIG) }))).toBe(SIG);
    expect(referrerArtifactType(manifest({ artifactType: MEDIA_TYPE_EMPTY_JSON, config: d(MEDIA_TYPE_EMPTY_JSON) }))).toBe('');
    expect(classifyReferrer(manifest({ layers: [d('application/spdx+json')] }))).toEqual({ kind: 'sbom', artifactType: 'application/spdx+json' });
  });

  it.each<[string, ImageManifest, ReturnType<typeof classifyReferrer>]>([
    [
      "cosign's OCI 1.1 signature",
      manifest({ artifactType: SIG, config: d(SIG), layers: [simpleSigning] }),
      { kind: 'signature', shape: 'simple-signing', artifactType: SIG },
    ],
    [
      'a .sig manifest (image config)',
      manifest({ config: d(MEDIA_TYPE_IMAGE_CONFIG), layers: [simpleSigning] }),
      { kind: 'signature', shape: 'simple-signing', artifactType: MEDIA_TYPE_IMAGE_CONFIG },
    ],
    ['simple-signing layers without a signature', manifest({ artifactType: SIG, layers: [d(simpleSigning.mediaType)] }), { kind: 'other', artifactType: SIG }],
    ["cosign v3's bundle", cosignBundle, { kind: 'signature', shape: 'bundle', artifactType: BUNDLE, layer: bundleLayer }],
    [
      'a bundle without artifactType, config media type the bundle type (older writers)',
      { ...cosignBundle, artifactType: undefined as never, config: d(BUNDLE) },
      { kind: 'signature', shape: 'bundle', artifactType: BUNDLE, layer: bundleLayer },
    ],
    [
      'a bundle saying only empty-json',
      { ...cosignBundle, artifactType: MEDIA_TYPE_EMPTY_JSON, config: d(MEDIA_TYPE_EMPTY_JSON) },
      { kind: 'signature', shape: 'bundle', artifactType: BUNDLE, layer: bundleLayer },
    ],
    [
      'the legacy v0.3 media type spelling',
      { ...cosignBundle, artifactType: 'application/vnd.dev.sigstore.bundle+json;version=0.3' },
      { kind: 'signature', shape: 'bundle', artifactType: 'application/vnd.dev.sigstore.bundle+json;version=0.3', layer: bundleLayer },
    ],
    [
      'an attestation bundle (cosign attest)',
      { ...cosignBundle, annotations: { ...cosignBundle.annotations, 'dev.sigstore.bundle.predicateType': 'https://slsa.dev/provenance/v1' } },
      { kind: 'attestation', shape: 'bundle', artifactType: BUNDLE, predicateType: 'https://slsa.dev/provenance/v1', layer: bundleLayer },
    ],
    ['a bundle with two layers', { ...cosignBundle, layers: [bundleLayer, bundleLayer] }, { kind: 'other', artifactType: BUNDLE }],
    ['a bundle type over another layer', { ...cosignBundle, layers: [d('application/json')] }, { kind: 'other', artifactType: BUNDLE }],
    [
      'a bundle layer under another artifact type',
      { ...cosignBundle, artifactType: 'application/vnd.example+json' },
      { kind: 'other', artifactType: 'application/vnd.example+json' },
    ],
    [
      'cosign OCI 1.1 attestations (in-toto)',
      manifest({ artifactType: 'application/vnd.in-toto+json', layers: [d('application/vnd.dsse.envelope.v1+json')] }),
      { kind: 'attestation', shape: 'in-toto', artifactType: 'application/vnd.in-toto+json' },
    ],
    [
      'a cosign .att manifest',
      manifest({ config: d(MEDIA_TYPE_IMAGE_CONFIG), layers: [d('application/vnd.dsse.envelope.v1+json')] }),
      { kind: 'attestation', shape: 'in-toto', artifactType: MEDIA_TYPE_IMAGE_CONFIG },
    ],
    [
      'a CycloneDX SBOM',
      manifest({ artifactType: 'application/vnd.cyclonedx+json', layers: [d('application/vnd.cyclonedx+json')] }),
      { kind: 'sbom', artifactType: 'application/vnd.cyclonedx+json' },
    ],
    [
      'a Notation JWS signature',
      manifest({ artifactType: 'application/vnd.cncf.notary.signature', layers: [d('application/jose+json')] }),
      { kind: 'notation', envelope: 'jws', artifactType: 'application/vnd.cncf.notary.signature', layer: d('application/jose+json') },
    ],
    [
      'a Notation COSE signature',
      manifest({ artifactType: 'application/vnd.cncf.notary.signature', layers: [d('application/cose')] }),
      { kind: 'notation', envelope: 'cose', artifactType: 'application/vnd.cncf.notary.signature', layer: d('application/cose') },
    ],
    [
      'an ebpm package',
      manifest({ artifactType: 'application/vnd.ebpm.package.v1', layers: [d('application/octet-stream')] }),
      { kind: 'other', artifactType: 'application/vnd.ebpm.package.v1' },
    ],
  ])('%s', (_what, m, want) => {
    expect(classifyReferrer(m)).toEqual(want);
  });
});
