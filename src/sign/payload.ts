// Cosign's legacy ("tag-based") signatures: the simple-signing payload and the `.sig`
// manifest that carries one layer per signature.
// Payload: sigstore/sigstore `pkg/signature/payload/payload.go` (serialised by Go encoding/json);
// layout: cosign `specs/SIGNATURE_SPEC.md`, `pkg/oci/static/signature.go`, `pkg/types/media.go`.
import { Fields, decodeJson, isObject, notObjectReason } from '../core/json.js';
import { digestProblem, parseDigest, type Digest } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import { MEDIA_TYPE_IMAGE_CONFIG, MEDIA_TYPE_IMAGE_MANIFEST, descriptorFor, manifestBytes, type Descriptor, type ImageManifest } from '../core/oci.js';
import { signMessage, verifyMessage } from './ecdsa.js';
import { goJsonString, goJsonStringMap } from './gojson.js';
import type { PublicKey, SigningKey } from './keys.js';

/** `critical.type` of every cosign image signature payload. */
export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
/** Media type of a `.sig` manifest layer: the payload bytes themselves. */
export const MEDIA_TYPE_SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** Layer annotation holding the base64 DER signature over the layer's bytes. */
export const ANNOTATION_COSIGN_SIGNATURE = 'dev.cosignproject.cosign/signature';
/**
 * ebpm's layer annotation naming the signing key (`keyHint`, as in bundles). Unsigned and
 * advisory: it only lets a failed check say "tampered" rather than "unknown key"; cosign
 * ignores unknown annotations.
 */
export const ANNOTATION_EBPM_KEY_HINT = 'dev.ebpm.key-hint';

/** `SimpleSigningPayload` is what a payload claims: the manifest digest is what counts. */
export interface SimpleSigningPayload {
  /** `critical.identity.docker-reference`: informative only, cosign ignores it when verifying. */
  readonly reference: string;
  /** `critical.image.docker-manifest-digest` */
  readonly digest: Digest;
  /** `optional`: `null` or the `-a key=value` annotations (any JSON in payloads others made). */
  readonly optional: Readonly<Record<string, unknown>> | null;
}

/**
 * `buildPayload` writes the payload with exactly the bytes cosign writes: struct field order,
 * map keys sorted, Go's escaping, `"optional":null` without annotations
 * (golden: cosign `pkg/cosign/obsolete_test.go`). `reference` is the repository without tag
 * or digest (`localhost:5000/tcpconnect`).
 */
export function buildPayload(reference: string, digest: Digest, optional?: Readonly<Record<string, string>>): Uint8Array {
  parseDigest(digest);
  const opt = optional === undefined ? 'null' : goJsonStringMap(optional);
  const json =
    `{"critical":{"identity":{"docker-reference":${goJsonString(reference)}},` +
    `"image":{"docker-manifest-digest":${goJsonString(digest)}},"type":${goJsonString(SIMPLE_SIGNING_TYPE)}},"optional":${opt}}`;
  return new TextEncoder().encode(json);
}

/**
 * `parsePayload` narrows payload bytes, listing every bad field in one `SIGNATURE_PAYLOAD_INVALID`.
 * Field names are matched exactly (Go would also accept other letter cases; no signer writes them).
 */
export function parsePayload(bytes: Uint8Array): SimpleSigningPayload {
  const doc = decodeJson(bytes);
  if (doc === undefined || !isObject(doc.value)) throw invalidPayload([`payload: ${notObjectReason(doc)}`]);
  const f = new Fields();
  const critical = doc.value.critical;
  let reference: string | undefined;
  let digest: string | undefined;
  if (!isObject(critical)) f.add('critical', 'not an object');
  else {
    const identity = critical.identity;
    const image = critical.image;
    if (!isObject(identity)) f.add('critical.identity', 'not an object');
    else reference = f.string(identity, 'docker-reference', 'critical.identity', true);
    if (!isObject(image)) f.add('critical.image', 'not an object');
    else {
      digest = f.string(image, 'docker-manifest-digest', 'critical.image', true);
      const problem = digest === undefined ? undefined : digestProblem(digest);
      if (problem !== undefined) f.add('critical.image.docker-manifest-digest', problem);
    }
    if (critical.type !== SIMPLE_SIGNING_TYPE) f.add('critical.type', `not ${JSON.stringify(SIMPLE_SIGNING_TYPE)}`);
  }
  const optional = doc.value.optional;
  if (optional !== undefined && optional !== null && !isObject(optional)) f.add('optional', 'not an object or null');
  if (f.problems.length > 0) throw invalidPayload(f.problems);
  return { reference: reference!, digest: digest!, optional: isObject(optional) ? optional : null };
}

/**
 * `isSideTag` tells the tags kept beside a package that name no package: cosign's
 * `sha256-<hex>.sig` (and `.att`, `.sbom`) and the referrers fallback index `sha256-<hex>`,
 * bare or after a repository (`host/repo:sha256-<hex>.sig`, as stores and exports write them).
 */
export function isSideTag(tag: string): boolean {
  return /(?:^|:)sha256-[0-9a-f]{64}(?:\.[a-z]+)?$/.test(tag);
}

/**
 * `cosignTag` is the tag under which cosign keeps a digest's signatures (`sig`), attestations
 * (`att`) or SBOM (`sbom`) beside it: `sha256:<hex>` → `sha256-<hex>.<suffix>`.
 */
export function cosignTag(digest: Digest, suffix: 'sig' | 'att' | 'sbom'): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `${algorithm}-${encoded}.${suffix}`;
}

/** `signatureTag` is the tag of a digest's `.sig` manifest: `sha256:<hex>` → `sha256-<hex>.sig`. */
export function signatureTag(digest: Digest): string {
  return cosignTag(digest, 'sig');
}

/** `signPayload` signs payload bytes as cosign does: base64(DER ECDSA over sha256(payload)). */
export function signPayload(key: SigningKey, payload: Uint8Array): string {
  return signMessage(key.privateKey, payload);
}

/** `verifyPayload` checks one base64 signature over payload bytes; malformed signatures are false. */
export function verifyPayload(publicKey: PublicKey, payload: Uint8Array, signatureB64: string): boolean {
  return verifyMessage(publicKey.key, payload, signatureB64);
}

/** `LegacySignature` is one layer of a `.sig` manifest: the payload and what its annotations say. */
export interface LegacySignature {
  readonly payload: Uint8Array;
  /** base64 DER, from `dev.cosignproject.cosign/signature` */
  readonly signature: string;
  /** from `dev.ebpm.key-hint`, when ebpm signed it */
  readonly keyHint?: string;
  /**
   * The layer's other annotations (cosign's `dev.sigstore.cosign/bundle` Rekor entry, its
   * `certificate`, `chain`, `rfc3161timestamp`): unchecked, and kept when the `.sig` manifest is rewritten.
   */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** cosign's layer annotation holding a keyless signature's PEM certificate (`static.WithCertChain`). */
export const ANNOTATION_COSIGN_CERTIFICATE = 'dev.sigstore.cosign/certificate';

/** `PushBlob` is content the wiring step pushes before the manifest that names it. */
export interface PushBlob {
  readonly descriptor: Descriptor;
  readonly bytes: Uint8Array;
}

/** `SignatureManifest` is a manifest, its bytes (the digest covers exactly these) and the blobs it needs. */
export interface SignatureManifest {
  readonly manifest: ImageManifest;
  readonly bytes: Uint8Array;
  readonly descriptor: Descriptor;
  readonly blobs: readonly PushBlob[];
}

/**
 * `legacySignatureManifest` builds the `.sig` manifest for `signatures` (existing ones first,
 * then the new one, as cosign appends): an OCI image manifest whose config is the image config
 * go-containerregistry generates for such images, and one simple-signing layer per signature.
 * Identical signatures are kept once. Push the blobs, then the manifest under `signatureTag`.
 */
export function legacySignatureManifest(signatures: readonly LegacySignature[]): SignatureManifest {
  if (signatures.length === 0) throw new EbpmError('INTERNAL', 'legacy signature manifest: no signatures');
  const seen = new Set<string>();
  const layers: PushBlob[] = [];
  for (const sig of signatures) {
    const annotations: Record<string, string> = { ...sig.annotations, [ANNOTATION_COSIGN_SIGNATURE]: sig.signature };
    if (sig.keyHint !== undefined) annotations[ANNOTATION_EBPM_KEY_HINT] = sig.keyHint;
    const descriptor = descriptorFor(MEDIA_TYPE_SIMPLE_SIGNING, sig.payload, { annotations });
    const id = `${descriptor.digest} ${sig.signature}`;
    if (seen.has(id)) continue;
    seen.add(id);
    layers.push({ descriptor, bytes: sig.payload });
  }
  // go-containerregistry `v1.ConfigFile` for empty.Image + one appended layer per signature.
  const zero = '0001-01-01T00:00:00Z';
  const configJson = JSON.stringify({
    architecture: '',
    created: zero,
    history: layers.map(() => ({ created: zero })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.descriptor.digest) },
    config: {},
  });
  const configBytes = new TextEncoder().encode(configJson);
  const config = descriptorFor(MEDIA_TYPE_IMAGE_CONFIG, configBytes);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config, layers: layers.map((l) => l.descriptor) };
  const bytes = manifestBytes(manifest);
  return { manifest, bytes, descriptor: descriptorFor(MEDIA_TYPE_IMAGE_MANIFEST, bytes), blobs: [{ descriptor: config, bytes: configBytes }, ...layers] };
}

/** `LegacySignatureLayer` is a `.sig` layer to fetch: its payload comes from `descriptor`. */
export interface LegacySignatureLayer {
  readonly descriptor: Descriptor;
  readonly signature: string;
  readonly keyHint?: string;
  /** As `LegacySignature.annotations`. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * `legacySignatureLayers` lists the signature layers of a `.sig` manifest (cosign's or ebpm's);
 * layers of another media type or without a signature annotation (keyless certificates
 * alone) are skipped. Fetch each descriptor's blob to make a `LegacySignature`.
 */
export function legacySignatureLayers(manifest: ImageManifest): LegacySignatureLayer[] {
  return manifest.layers.flatMap((descriptor) => {
    const signature = descriptor.annotations?.[ANNOTATION_COSIGN_SIGNATURE];
    if (descriptor.mediaType !== MEDIA_TYPE_SIMPLE_SIGNING || signature === undefined) return [];
    const { [ANNOTATION_COSIGN_SIGNATURE]: _signature, [ANNOTATION_EBPM_KEY_HINT]: keyHint, ...others } = descriptor.annotations ?? {};
    return [
      {
        descriptor,
        signature,
        ...(keyHint === undefined ? {} : { keyHint }),
        ...(Object.keys(others).length === 0 ? {} : { annotations: others }),
      },
    ];
  });
}

function invalidPayload(problems: readonly string[]): EbpmError {
  return new EbpmError('SIGNATURE_PAYLOAD_INVALID', `simple-signing payload: ${problems.join('; ')}`, {
    hint: 'the signature payload is not one cosign writes; sign the package again',
    data: { fields: problems },
  });
}
