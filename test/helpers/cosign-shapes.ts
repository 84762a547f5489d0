/**
 * Signature shapes as cosign and Notation write them, byte for byte, signed fresh with the
 * test's own keys: the manifests are serialised with Go's field order (go-containerregistry
 * `v1.Manifest` / `v1.Descriptor`, cosign's `referrerManifest` appending `artifactType`; oras-go
 * `ocispec.Manifest` for Notation), and on a registry without the referrers API the tag-schema
 * index is written as go-containerregistry's `remote.Put` writes it: the descriptor's
 * `artifactType` is the manifest's config media type, which for cosign's bundles is the empty one.
 * Which cosign source each shape follows: test/sign/fixtures/README.md.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushBytes, type Target } from '../../src/content/storage.js';
import { parseDigest } from '../../src/core/digest.js';
import {
  EMPTY_JSON,
  MEDIA_TYPE_EMPTY_JSON,
  MEDIA_TYPE_IMAGE_CONFIG,
  MEDIA_TYPE_IMAGE_INDEX,
  MEDIA_TYPE_IMAGE_MANIFEST,
  type Descriptor,
} from '../../src/core/oci.js';
import { signMessage } from '../../src/sign/ecdsa.js';
import { COSIGN_SIGN_PREDICATE, MEDIA_TYPE_SIGSTORE_BUNDLE, signBundle } from '../../src/sign/bundle.js';
import type { SigningKey } from '../../src/sign/keys.js';
import {
  ANNOTATION_COSIGN_CERTIFICATE,
  ANNOTATION_COSIGN_SIGNATURE,
  MEDIA_TYPE_SIMPLE_SIGNING,
  buildPayload,
  legacySignatureManifest,
  signatureTag,
} from '../../src/sign/payload.js';
import { ARTIFACT_TYPE_COSIGN_SIGNATURE, ARTIFACT_TYPE_NOTATION, MEDIA_TYPE_JWS } from '../../src/sign/referrer.js';

/** cosign's layer annotation carrying the Rekor bundle (`static.WithBundle`). */
export const ANNOTATION_REKOR_BUNDLE = 'dev.sigstore.cosign/bundle';
const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** A go-containerregistry `v1.Descriptor`: mediaType, size, digest, annotations, artifactType. */
function goDescriptor(d: Descriptor, extra: { annotations?: Record<string, string>; artifactType?: string } = {}): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    size: d.size,
    digest: d.digest,
    ...(extra.annotations ? { annotations: sortedKeys(extra.annotations) } : {}),
    ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
  };
}

/** Go marshals maps with their keys sorted. */
function sortedKeys(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** `Written` is what a shape put into the target: the signature manifest and its exact bytes. */
export interface Written {
  readonly manifest: Descriptor;
  readonly bytes: Uint8Array;
}

async function putManifest(target: Target, bytes: Uint8Array): Promise<Descriptor> {
  return pushBytes(target, MEDIA_TYPE_IMAGE_MANIFEST, bytes);
}

/**
 * `tagSchemaIndex` writes the `sha256-<hex>` index as go-containerregistry does on a registry
 * without the referrers API: one descriptor per referrer, `artifactType` its config media type,
 * sorted by digest. It replaces what ebpm's client wrote there.
 */
export async function tagSchemaIndex(
  target: Target,
  subject: Descriptor,
  referrers: readonly { manifest: Descriptor; configMediaType: string }[],
): Promise<void> {
  const manifests = [...referrers]
    .sort((a, b) => (a.manifest.digest < b.manifest.digest ? -1 : 1))
    .map((r) => goDescriptor(r.manifest, { artifactType: r.configMediaType }));
  const index = await pushBytes(target, MEDIA_TYPE_IMAGE_INDEX, encode({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests }));
  const { algorithm, encoded } = parseDigest(subject.digest);
  await target.tag(index, `${algorithm}-${encoded}`);
}

/** A Rekor bundle annotation value of the shape cosign writes (`{"SignedEntryTimestamp":…,"Payload":{…}}`); never checked offline. */
export function rekorBundleAnnotation(): string {
  return JSON.stringify({
    SignedEntryTimestamp: 'MEUCIQD1kJ2cR5y2v4b8o1m2Wm0Zq2hT7y9P3xq2l3k4YyZ1AgIgM7b2p1q8n3s4r5t6u7v8w9x0y1z2A3B4C5D6E7F8G9H=',
    Payload: {
      body: 'eyJhcGlWZXJzaW9uIjoiMC4wLjEifQ==',
      integratedTime: 1767323045,
      logIndex: 1234567,
      logID: 'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d',
    },
  });
}

/** `ShapeOptions`: a Rekor bundle annotation (default: off for tags, on for referrers), a keyless signature's PEM certificate. */
export interface ShapeOptions {
  readonly rekor?: boolean;
  readonly certificate?: string;
}

/** The simple-signing payload cosign signs and its layer descriptor with the signature (and optionally the Rekor bundle) annotations. */
async function simpleSigningLayer(target: Target, key: SigningKey, repository: string, subject: Descriptor, opts: ShapeOptions, rekor: boolean) {
  const payload = buildPayload(repository, subject.digest);
  const layer = await pushBytes(target, MEDIA_TYPE_SIMPLE_SIGNING, payload);
  const annotations: Record<string, string> = { [ANNOTATION_COSIGN_SIGNATURE]: signMessage(key.privateKey, payload) };
  if (opts.rekor ?? rekor) annotations[ANNOTATION_REKOR_BUNDLE] = rekorBundleAnnotation();
  if (opts.certificate !== undefined) annotations[ANNOTATION_COSIGN_CERTIFICATE] = opts.certificate;
  // The config go-containerregistry generates for the one-layer signature image (ebpm writes the same).
  const config = legacySignatureManifest([{ payload, signature: annotations[ANNOTATION_COSIGN_SIGNATURE]! }]).blobs[0]!.bytes;
  return { layer: goDescriptor(layer, { annotations }), config };
}

/** `legacyTag`: `cosign sign --key k --new-bundle-format=false` (cosign `WriteSignatures`): the `sha256-<hex>.sig` tag. */
export async function legacyTag(target: Target, key: SigningKey, repository: string, subject: Descriptor, opts: ShapeOptions = {}): Promise<Written> {
  const { layer, config } = await simpleSigningLayer(target, key, repository, subject, opts, false);
  const c = await pushBytes(target, MEDIA_TYPE_IMAGE_CONFIG, config);
  const bytes = encode({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config: goDescriptor(c), layers: [layer] });
  const manifest = await putManifest(target, bytes);
  await target.tag(manifest, signatureTag(subject.digest));
  return { manifest, bytes };
}

/**
 * `ociReferrer`: `cosign sign --key k --registry-referrers-mode=oci-1-1` (cosign
 * `WriteSignaturesExperimentalOCI`): the `.sig` image with its config media type replaced by
 * `application/vnd.dev.cosign.artifact.sig.v1+json`, the subject from a HEAD, and that
 * `artifactType` appended; pushed by digest.
 */
export async function ociReferrer(target: Target, key: SigningKey, repository: string, subject: Descriptor, opts: ShapeOptions = {}): Promise<Written> {
  const { layer, config } = await simpleSigningLayer(target, key, repository, subject, opts, true);
  const c = await pushBytes(target, ARTIFACT_TYPE_COSIGN_SIGNATURE, config);
  const bytes = encode({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    config: goDescriptor(c),
    layers: [layer],
    subject: goDescriptor(subject),
    artifactType: ARTIFACT_TYPE_COSIGN_SIGNATURE,
  });
  return { manifest: await putManifest(target, bytes), bytes };
}

/**
 * `bundleReferrer`: `cosign sign --key k` in cosign v3 (`WriteAttestationNewBundleFormat` →
 * `WriteReferrer`): the empty config carrying the bundle type as its `artifactType`, one bundle
 * layer, the three annotations, then `subject`, then `artifactType`. `predicateType` other than
 * cosign's sign predicate makes it what `cosign attest` writes.
 */
export async function bundleReferrer(
  target: Target,
  subject: Descriptor,
  bundle: Uint8Array,
  opts: { created?: string; predicateType?: string; content?: 'dsse-envelope' | 'message-signature' } = {},
): Promise<Written> {
  const config = await pushBytes(target, MEDIA_TYPE_EMPTY_JSON, EMPTY_JSON);
  const layer = await pushBytes(target, MEDIA_TYPE_SIGSTORE_BUNDLE, bundle);
  const bytes = encode({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    config: goDescriptor(config, { artifactType: MEDIA_TYPE_SIGSTORE_BUNDLE }),
    layers: [goDescriptor(layer)],
    annotations: sortedKeys({
      'org.opencontainers.image.created': opts.created ?? '2026-01-02T03:04:05Z',
      'dev.sigstore.bundle.content': opts.content ?? 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': opts.predicateType ?? COSIGN_SIGN_PREDICATE,
    }),
    subject: goDescriptor(subject),
    artifactType: MEDIA_TYPE_SIGSTORE_BUNDLE,
  });
  return { manifest: await putManifest(target, bytes), bytes };
}

/**
 * `messageSignatureBundle` is a keyed v0.3 bundle in the message-signature form over the
 * manifest bytes (`messageDigest` = the manifest digest), protojson field order as sigstore-go
 * writes it. `digestOf` overrides the digest the bundle claims.
 */
export function messageSignatureBundle(key: SigningKey, manifest: Uint8Array, digestOf: Uint8Array = manifest): Uint8Array {
  return encode({
    mediaType: MEDIA_TYPE_SIGSTORE_BUNDLE,
    verificationMaterial: { publicKey: { hint: key.publicKey.hint } },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(digestOf).digest('base64') },
      signature: signMessage(key.privateKey, manifest),
    },
  });
}

/** `signedBundle` is cosign v3's keyed signature bundle for `subject` (DSSE over the sign statement). */
export function signedBundle(key: SigningKey, subject: Descriptor): Promise<Uint8Array> {
  return signBundle(key, subject.digest);
}

/** `selfSignedCertificate` makes a P-256 certificate with `subject` (`/CN=…/O=…`) with openssl, DER. */
export function selfSignedCertificate(subject: string): Buffer {
  const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'notation-cert-'));
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyPath = join(dir, 'key.pem');
    execFileSync('sh', ['-c', `umask 077 && cat > ${keyPath}`], { input: privateKey.export({ format: 'pem', type: 'pkcs8' }) });
    const certPath = join(dir, 'cert.der');
    execFileSync('openssl', ['req', '-x509', '-key', keyPath, '-subj', subject, '-days', '1', '-outform', 'DER', '-out', certPath], { stdio: 'ignore' });
    return readFileSync(certPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `notationReferrer`: what `notation sign --signature-format jws|cose` pushes (notation-go
 * `registry.repository.PushSignature`, oras-go `PackManifest`): artifactType
 * `application/vnd.cncf.notary.signature`, the empty config, one envelope layer, the subject,
 * the thumbprint and created annotations. The JWS envelope carries `certificate` in `x5c`; the
 * signature in it is not a real one (ebpm does not verify Notation).
 */
export async function notationReferrer(target: Target, subject: Descriptor, envelope: { jws: Buffer } | { cose: Uint8Array }): Promise<Written> {
  const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
  const [mediaType, body] =
    'jws' in envelope
      ? [
          MEDIA_TYPE_JWS,
          encode({
            payload: b64url(JSON.stringify({ targetArtifact: goDescriptor(subject) })),
            protected: b64url(JSON.stringify({ alg: 'ES256', crit: ['io.cncf.notary.signingScheme'], cty: 'application/vnd.cncf.notary.payload.v1+json' })),
            header: { x5c: [envelope.jws.toString('base64')], 'io.cncf.notary.signingAgent': 'notation-go/1.3.0' },
            signature: b64url('not a real signature'),
          }),
        ]
      : ['application/cose', envelope.cose];
  const config = await pushBytes(target, MEDIA_TYPE_EMPTY_JSON, EMPTY_JSON);
  const layer = await pushBytes(target, mediaType, body);
  const bytes = encode({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    artifactType: ARTIFACT_TYPE_NOTATION,
    config: { mediaType: MEDIA_TYPE_EMPTY_JSON, digest: config.digest, size: config.size },
    layers: [{ mediaType, digest: layer.digest, size: layer.size }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '["0000"]', 'org.opencontainers.image.created': '2026-01-02T03:04:05Z' },
  });
  return { manifest: await putManifest(target, bytes), bytes };
}
