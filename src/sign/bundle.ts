// Sigstore bundle v0.3 signatures, the format `cosign sign` writes by default since cosign
// v3.0.0: an in-toto Statement naming the manifest digest (predicate type
// `https://sigstore.dev/cosign/sign/v1`, empty predicate) in a DSSE envelope, in a bundle,
// pushed as an OCI 1.1 referrer of the signed manifest.
// Sources: cosign@v3 `cmd/cosign/cli/sign/sign.go` (signDigestBundle), `pkg/oci/remote/write.go`
// (WriteReferrer, WriteAttestationNewBundleFormat), `specs/BUNDLE_SPEC.md`.
// We write the DSSE form, not `messageSignature`: it is what cosign v3 writes for images, and
// the signed statement names the digest, so a bundle cannot be moved to another manifest.
// The sigstore libraries are imported where a bundle is made or checked, not with this module:
// most packages carry no bundle, and loading them costs every pull and run start-up time. They
// are CommonJS: their exports are the namespace's `default`, in Node and in the CLI bundle alike.
import type { Bundle } from '@sigstore/bundle';
import type { SignedEntity, Signer, TrustMaterial } from '@sigstore/verify';
import { parseDigest, type Digest } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import { decodeJson, isObject } from '../core/json.js';
import {
  MEDIA_TYPE_EMPTY_JSON,
  MEDIA_TYPE_IMAGE_MANIFEST,
  EMPTY_JSON,
  ANNOTATION_CREATED,
  descriptorFor,
  manifestBytes,
  type Descriptor,
  type ImageManifest,
} from '../core/oci.js';
import { signMessage } from './ecdsa.js';
import { checkSignatureWith, type Rejection, type SignatureCheck } from './check.js';
import { claimedIdentity, fulcioIdentity } from './certificate.js';
import { describeFound, describeIdentity, identityMatches, type CertificateIdentity, type KeylessTrust, type TrustedRoot } from './identity.js';
import { hintFingerprint, toPublicKey, type SigningKey, type TrustedKey } from './keys.js';
import type { SignatureManifest } from './payload.js';

/** Bundle media type as cosign v3 writes it (`sgbundle.MediaTypeString("0.3")`). */
export const MEDIA_TYPE_SIGSTORE_BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** The older spelling of the same version (sigstore-js `BUNDLE_V03_LEGACY_MEDIA_TYPE`), accepted when reading. */
const MEDIA_TYPE_SIGSTORE_BUNDLE_LEGACY = 'application/vnd.dev.sigstore.bundle+json;version=0.3';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** cosign `pkg/types/predicate.go` `CosignSignPredicateType`. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
export const ANNOTATION_BUNDLE_CONTENT = 'dev.sigstore.bundle.content';
export const ANNOTATION_BUNDLE_PREDICATE_TYPE = 'dev.sigstore.bundle.predicateType';

/**
 * `signStatement` is the in-toto Statement cosign signs for a manifest digest, with the
 * `-a key=value` annotations on the subject (cosign serialises it with protojson, whose
 * whitespace is deliberately unstable, so only the structure is cosign's, not the bytes).
 */
export function signStatement(digest: Digest, annotations: Readonly<Record<string, string>> = {}): Uint8Array {
  const { algorithm, encoded } = parseDigest(digest);
  const statement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ digest: { [algorithm]: encoded }, annotations }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: {},
  };
  return new TextEncoder().encode(JSON.stringify(statement));
}

/**
 * `signBundle` signs `digest` and returns the bundle JSON bytes: a DSSE envelope over
 * `signStatement`, the key named by its hint, and no transparency-log entry or timestamp
 * (offline keyed signing, as `cosign sign --key … --tlog-upload=false`).
 */
export async function signBundle(key: SigningKey, digest: Digest, annotations?: Readonly<Record<string, string>>): Promise<Uint8Array> {
  const { bundleToJSON, toDSSEBundle } = (await import('@sigstore/bundle')).default;
  const statement = Buffer.from(signStatement(digest, annotations));
  const signature = Buffer.from(signMessage(key.privateKey, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, statement)), 'base64');
  const bundle = toDSSEBundle({ artifact: statement, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, keyHint: key.publicKey.hint });
  return new TextEncoder().encode(JSON.stringify(bundleToJSON(bundle)));
}

/**
 * `bundleReferrerManifest` builds the referrer manifest carrying a bundle, as cosign's
 * `WriteReferrer` does: `artifactType` and config `artifactType` set to the bundle media type,
 * the empty config, one layer, `subject` (media type, digest, size only) and the annotations
 * `org.opencontainers.image.created` (RFC 3339, seconds), `dev.sigstore.bundle.content` and
 * `dev.sigstore.bundle.predicateType`. Push the blobs, then the manifest by digest.
 */
export function bundleReferrerManifest(subject: Descriptor, bundle: Uint8Array, created: Date): SignatureManifest {
  const emptyConfig = descriptorFor(MEDIA_TYPE_EMPTY_JSON, EMPTY_JSON, { artifactType: MEDIA_TYPE_SIGSTORE_BUNDLE });
  const layer = descriptorFor(MEDIA_TYPE_SIGSTORE_BUNDLE, bundle);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    artifactType: MEDIA_TYPE_SIGSTORE_BUNDLE,
    config: emptyConfig,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: {
      [ANNOTATION_CREATED]: created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      [ANNOTATION_BUNDLE_CONTENT]: 'dsse-envelope',
      [ANNOTATION_BUNDLE_PREDICATE_TYPE]: COSIGN_SIGN_PREDICATE,
    },
  };
  const bytes = manifestBytes(manifest);
  return {
    manifest,
    bytes,
    descriptor: descriptorFor(MEDIA_TYPE_IMAGE_MANIFEST, bytes, { artifactType: MEDIA_TYPE_SIGSTORE_BUNDLE }),
    blobs: [
      { descriptor: emptyConfig, bytes: EMPTY_JSON },
      { descriptor: layer, bytes: bundle },
    ],
  };
}

/** `isMessageSignatureBundle` tells a bundle in the message-signature form (`checkBundle` then needs the signed manifest's bytes). */
export function isMessageSignatureBundle(bytes: Uint8Array): boolean {
  const doc = decodeJson(bytes)?.value;
  return isObject(doc) && doc.messageSignature !== undefined;
}

/** `BundleSigner` is who a bundle says signed it: a key (its fingerprint) or a certificate's identity. */
export interface BundleSigner {
  readonly key?: string;
  readonly identity?: string;
  readonly issuer?: string;
}

/** `bundleSigner` reads a bundle's verification material, unchecked, for listings; `{}` when it names no one. */
export async function bundleSigner(bytes: Uint8Array): Promise<BundleSigner> {
  const material = decodeJson(bytes)?.value;
  const vm = isObject(material) ? material.verificationMaterial : undefined;
  if (!isObject(vm)) return {};
  if (isObject(vm.publicKey) && typeof vm.publicKey.hint === 'string') return { key: hintFingerprint(vm.publicKey.hint) };
  const chain = isObject(vm.x509CertificateChain) && Array.isArray(vm.x509CertificateChain.certificates) ? vm.x509CertificateChain.certificates[0] : undefined;
  const cert = isObject(vm.certificate) ? vm.certificate : isObject(chain) ? chain : undefined;
  const id = typeof cert?.rawBytes === 'string' ? await claimedIdentity(Buffer.from(cert.rawBytes, 'base64')) : undefined;
  return id === undefined ? {} : namedBy(id);
}

/** `namedBy` is a certificate identity as a listing shows it: its parts that are not empty. */
export function namedBy(id: CertificateIdentity): BundleSigner {
  return { ...(id.subject ? { identity: id.subject } : {}), ...(id.issuer ? { issuer: id.issuer } : {}) };
}

/**
 * `checkBundle` verifies bundle JSON bytes for `digest` with `@sigstore/verify`, then checks
 * that the authenticated statement is a cosign signature naming `digest`.
 *
 * A bundle naming a public key is checked in keyed offline mode: the trust material holds no
 * CA, log or TSA, its key finder returns only the trusted key being tried, and all thresholds
 * are zero; transparency-log entries and timestamps it may carry are not checked (offline, as
 * `--insecure-ignore-tlog`).
 *
 * A keyless bundle (a Fulcio certificate) is checked against `keyless.root` with cosign's
 * default `CheckOpts` (no `--insecure-ignore-sct`, no `--insecure-ignore-tlog`): the
 * certificate chains to a CA of the root at a verified time, with at least one SCT from a CT
 * log of the root, at least one transparency-log entry of a log of the root, and at least one
 * verified time (the log's integrated time or an RFC 3161 timestamp of a TSA of the root).
 * Then its identity must match one of `keyless.identities`.
 *
 * The message-signature form signs the manifest bytes themselves (`messageDigest` is the
 * manifest digest), as sigstore-go checks an image bundle `WithArtifactDigest`: `subject` must
 * be those bytes (already checked against `digest`), since a signature over a digest cannot be
 * verified without its message here.
 */
export async function checkBundle(
  bytes: Uint8Array,
  digest: Digest,
  trustedKeys: readonly TrustedKey[],
  keyless?: KeylessTrust,
  subject?: Uint8Array,
): Promise<SignatureCheck> {
  const [
    {
      default: { bundleFromJSON },
    },
    {
      default: { Verifier, toSignedEntity },
    },
  ] = await Promise.all([import('@sigstore/bundle'), import('@sigstore/verify')]);
  const doc = decodeJson(bytes);
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(doc?.value);
  } catch (e) {
    const fields = (e as { fields?: unknown }).fields;
    const what = Array.isArray(fields) && fields.length > 0 ? `bad ${fields.join(', ')}` : e instanceof Error ? e.message : String(e);
    return { ok: false, reason: 'bad-signature', detail: `bundle is malformed: ${what}` };
  }
  const material = bundle.verificationMaterial.content;
  const content = bundle.content;
  if (content.$case === 'messageSignature' && subject === undefined)
    return { ok: false, reason: 'bad-signature', detail: 'bundle holds a message signature, and the signed manifest was not given' };
  const artifact = subject === undefined ? undefined : Buffer.from(subject);
  const claims = () =>
    content.$case === 'dsseEnvelope'
      ? statementClaims(content.dsseEnvelope.payloadType, content.dsseEnvelope.payload, digest)
      : messageClaims(content.messageSignature.messageDigest, digest);
  if (material.$case !== 'publicKey') {
    // A certificate is parsed here: one that does not parse is a broken signature, not a bug.
    let entity: SignedEntity;
    try {
      entity = toSignedEntity(bundle, artifact);
    } catch (e) {
      return { ok: false, reason: 'bad-signature', detail: `bundle certificate is malformed: ${e instanceof Error ? e.message : String(e)}` };
    }
    return checkKeyless(entity, keyless, claims);
  }
  const entity = { ...toSignedEntity(bundle, artifact), tlogEntries: [], timestamps: [] };
  return checkSignatureWith({
    signatureB64: Buffer.from(content.$case === 'dsseEnvelope' ? (content.dsseEnvelope.signatures[0]?.sig ?? []) : content.messageSignature.signature).toString(
      'base64',
    ),
    hint: material.publicKey.hint,
    trustedKeys,
    verifies: (key) => {
      const trust: TrustMaterial = {
        certificateAuthorities: [],
        timestampAuthorities: [],
        tlogs: [],
        ctlogs: [],
        publicKey: () => ({ publicKey: key.publicKey.key, validFor: () => true }),
      };
      try {
        new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
        return true;
      } catch (e) {
        if ((e as { code?: unknown }).code === 'SIGNATURE_ERROR') return false;
        throw e;
      }
    },
    claims,
  });
}

/**
 * The keyless steps, in order: the certificate's claimed identity (for messages), a root to
 * check against, the cryptography (chain, SCT, log entry, timestamps, signature), the identity
 * policy, and last the statement, so a trusted signer having signed another digest is
 * `digest-mismatch` and anyone else is `untrusted-key`.
 */
async function checkKeyless(entity: SignedEntity, keyless: KeylessTrust | undefined, claims: () => Rejection | undefined): Promise<SignatureCheck> {
  if (entity.key.$case !== 'certificate') return { ok: false, reason: 'bad-signature', detail: 'bundle names no key' };
  let found: CertificateIdentity;
  try {
    found = fulcioIdentity(entity.key.certificate);
  } catch (e) {
    return { ok: false, reason: 'bad-signature', detail: `bundle certificate is malformed: ${e instanceof Error ? e.message : String(e)}` };
  }
  const claimed = describeFound(found);
  if (keyless === undefined || keyless.identities.length === 0) {
    return { ok: false, reason: 'untrusted-key', detail: `keyless signature by ${claimed}; no certificate identity is trusted` };
  }
  const { Verifier } = (await import('@sigstore/verify')).default;
  const { root } = keyless;
  const material = await trustMaterialOf(root);
  let signer: Signer;
  try {
    signer = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(entity);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (!(e instanceof Error)) throw e;
    // Parse errors of the evidence (SCTs, timestamps, log entries) carry no code: a bundle the
    // verifier cannot read is refused like one it reads and rejects.
    if (typeof code !== 'string') return { ok: false, reason: 'bad-signature', detail: `keyless signature by ${claimed} cannot be checked: ${e.message}` };
    // The signature, or the log entry's record of it, does not match the signed payload.
    if (code === 'SIGNATURE_ERROR' || code === 'TLOG_BODY_ERROR')
      return { ok: false, reason: 'bad-signature', detail: `keyless signature by ${claimed} does not verify: the signed content was changed` };
    const what = code === 'CERTIFICATE_ERROR' ? 'its certificate does not chain to a certificate authority of' : `${e.message} (${code}) under`;
    return { ok: false, reason: 'untrusted-key', detail: `keyless signature by ${claimed}: ${what} trusted root ${root.label}` };
  }
  if (!keyless.identities.some((id) => identityMatches(id, found))) {
    const wanted = keyless.identities.map(describeIdentity).join('; or ');
    return { ok: false, reason: 'untrusted-key', detail: `keyless signature by ${describeFound(found)}, not by a trusted identity (${wanted})` };
  }
  return claims() ?? { ok: true, key: { label: root.label, publicKey: toPublicKey(signer.key) }, identity: found };
}

/** Builds (once per root) the trust material of a trusted root; a root it cannot read is `TRUSTED_ROOT_INVALID`. */
const materials = new WeakMap<TrustedRoot, TrustMaterial>();
async function trustMaterialOf(root: TrustedRoot): Promise<TrustMaterial> {
  const held = materials.get(root);
  if (held !== undefined) return held;
  const [
    {
      default: { toTrustMaterial },
    },
    {
      default: { TrustedRoot: RootMessage },
    },
  ] = await Promise.all([import('@sigstore/verify'), import('@sigstore/protobuf-specs')]);
  try {
    const material = toTrustMaterial(RootMessage.fromJSON(root.doc));
    materials.set(root, material);
    return material;
  } catch (e) {
    throw new EbpmError('TRUSTED_ROOT_INVALID', `trusted root ${root.label}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      hint: 'give the trusted_root.json of your sigstore deployment as it is distributed (cosign trusted-root create writes one)',
    });
  }
}

/** Checks a message signature's `messageDigest`: it must name `digest` (the signature itself was checked over the manifest bytes). */
function messageClaims(messageDigest: { algorithm: number; digest: Buffer } | undefined, digest: Digest): Rejection | undefined {
  const { algorithm, encoded } = parseDigest(digest);
  // HashAlgorithm SHA2_256 is 1 in sigstore's protobuf-specs.
  const named = messageDigest?.algorithm === 1 ? `sha256:${messageDigest.digest.toString('hex')}` : undefined;
  if (algorithm === 'sha256' && named === `sha256:${encoded}`) return undefined;
  return { ok: false, reason: 'digest-mismatch', detail: `message signature is for ${named ?? 'another hash algorithm'}` };
}

/** Checks the signed statement: in-toto, cosign's sign predicate, a subject with `digest`. */
function statementClaims(payloadType: string, payload: Buffer, digest: Digest): Rejection | undefined {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return { ok: false, reason: 'bad-signature', detail: `dsse payload type ${JSON.stringify(payloadType)} is not in-toto` };
  const doc = decodeJson(payload);
  const st = doc?.value;
  if (!isObject(st) || !Array.isArray(st.subject)) return { ok: false, reason: 'bad-signature', detail: 'signed statement is not an in-toto statement' };
  if (st.predicateType !== COSIGN_SIGN_PREDICATE) {
    return { ok: false, reason: 'bad-signature', detail: `signed statement is a ${JSON.stringify(st.predicateType)} attestation, not a signature` };
  }
  const { algorithm, encoded } = parseDigest(digest);
  const named = st.subject.flatMap((s) =>
    isObject(s) && isObject(s.digest) && typeof s.digest[algorithm] === 'string' ? [`${algorithm}:${s.digest[algorithm]}`] : [],
  );
  if (named.includes(`${algorithm}:${encoded}`)) return undefined;
  return { ok: false, reason: 'digest-mismatch', detail: `statement is for ${named.join(', ') || 'no digest'}` };
}

/** `isBundleType` tells the sigstore bundle v0.3 media types, either spelling. */
export function isBundleType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE_SIGSTORE_BUNDLE || mediaType === MEDIA_TYPE_SIGSTORE_BUNDLE_LEGACY;
}

/** DSSE v1 pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`. */
function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}
