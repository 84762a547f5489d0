// The one entry point that answers "who signed this digest?" for both signature formats.
// It never fetches anything: the wiring step hands it the `.sig` layers and bundles it found
// (cosign legacy tag, OCI 1.1 referrers) and the keys the trust policy names for the repository.
import type { Digest } from '../core/digest.js';
import { assertNever } from '../core/errors.js';
import { checkBundle } from './bundle.js';
import { checkLegacy, type RejectReason, type SignatureCheck } from './check.js';
import type { CertificateIdentity, KeylessTrust } from './identity.js';
import type { TrustedKey } from './keys.js';
import type { LegacySignature } from './payload.js';

export type { RejectReason } from './check.js';

/** `SignatureFormat` names where a signature came from. */
export type SignatureFormat = 'legacy' | 'bundle';

/**
 * `FoundFormat` is where a checked signature came from: a format ebpm writes, or `referrer`,
 * cosign's OCI 1.1 simple-signing referrer (`--registry-referrers-mode=oci-1-1`), whose layers
 * are checked as legacy ones.
 */
export type FoundFormat = SignatureFormat | 'referrer';

/** `FailureReason` is why a digest counts as not signed by a trusted key. */
export type FailureReason = 'no-signature' | RejectReason;

/** `VerifyRequest` is everything `verifySignatures` looks at. */
export interface VerifyRequest {
  /** The manifest (or index) digest the package resolved to. */
  readonly digest: Digest;
  /** Layers of the `sha256-<hex>.sig` manifest, with their payload blobs. */
  readonly legacy: readonly LegacySignature[];
  /** Layers of OCI 1.1 simple-signing referrers, checked as `legacy` ones. */
  readonly referred?: readonly LegacySignature[];
  /** Bundle JSON blobs of sigstore-bundle referrers. */
  readonly bundles: readonly Uint8Array[];
  readonly trustedKeys: readonly TrustedKey[];
  /** The trusted root and identities keyless (certificate) bundles are checked against; none trusts no keyless signer. */
  readonly keyless?: KeylessTrust;
  /** The bytes of the manifest `digest` names, needed only by message-signature bundles (`checkBundle`). */
  readonly signedManifest?: Uint8Array;
}

/**
 * `SignedBy` is one signature that verified: which key signed which digest, in which format.
 * A keyless signature has the certificate's identity, its key's fingerprint, and the label of
 * the trusted root it chained to as `keyLabel`.
 */
export interface SignedBy {
  readonly format: FoundFormat;
  readonly digest: Digest;
  readonly keyLabel: string;
  readonly fingerprint: string;
  readonly identity?: CertificateIdentity;
}

/** `RejectedSignature` is one signature that did not count, and why. */
export interface RejectedSignature {
  readonly format: FoundFormat;
  /** Position in `legacy`, `referred` or `bundles`. */
  readonly index: number;
  readonly reason: RejectReason;
  readonly detail: string;
}

/** `Verification` is the answer: verified by at least one trusted key, or the most telling reason why not. */
export type Verification =
  | { readonly verified: true; readonly digest: Digest; readonly signedBy: readonly SignedBy[]; readonly rejected: readonly RejectedSignature[] }
  | {
      readonly verified: false;
      readonly digest: Digest;
      readonly reason: FailureReason;
      readonly detail: string;
      readonly rejected: readonly RejectedSignature[];
    };

/**
 * Which rejection explains a failure best when several signatures failed: a trusted key having
 * signed another digest points at a swapped package, a broken signature at tampering, and an
 * unknown signer is the ordinary case of a missing key.
 */
const PRECEDENCE: readonly RejectReason[] = ['digest-mismatch', 'bad-signature', 'untrusted-key'];

/**
 * `verifySignatures` checks every signature (see `checkSignatureWith` for the steps) and says
 * which trusted keys signed `digest`. One good signature is enough; the rejected ones are
 * still listed, for `--verbose` and logs.
 */
export async function verifySignatures(req: VerifyRequest): Promise<Verification> {
  const signedBy: SignedBy[] = [];
  const rejected: RejectedSignature[] = [];
  const take = (format: FoundFormat, index: number, check: SignatureCheck): void => {
    if (check.ok) {
      const { label, publicKey } = check.key;
      if (!signedBy.some((s) => s.format === format && s.fingerprint === publicKey.fingerprint)) {
        signedBy.push({
          format,
          digest: req.digest,
          keyLabel: label,
          fingerprint: publicKey.fingerprint,
          ...(check.identity ? { identity: check.identity } : {}),
        });
      }
    } else rejected.push({ format, index, reason: check.reason, detail: check.detail });
  };
  for (const [i, sig] of req.legacy.entries()) take('legacy', i, checkLegacy(sig, req.digest, req.trustedKeys));
  for (const [i, sig] of (req.referred ?? []).entries()) take('referrer', i, checkLegacy(sig, req.digest, req.trustedKeys));
  for (const [i, b] of req.bundles.entries()) take('bundle', i, await checkBundle(b, req.digest, req.trustedKeys, req.keyless, req.signedManifest));
  if (signedBy.length > 0) return { verified: true, digest: req.digest, signedBy, rejected };
  if (rejected.length === 0) return { verified: false, digest: req.digest, reason: 'no-signature', detail: `${req.digest} has no signature`, rejected };
  const reason = PRECEDENCE.find((r) => rejected.some((x) => x.reason === r))!;
  const first = rejected.find((x) => x.reason === reason)!;
  const more = rejected.length > 1 ? ` (${rejected.length} signatures, none trusted)` : '';
  return { verified: false, digest: req.digest, reason, detail: `${formatName(first.format)} signature: ${first.detail}${more}`, rejected };
}

/** `describeFailure` is the one-line text a user sees for a reason. */
export function describeFailure(reason: FailureReason): string {
  switch (reason) {
    case 'no-signature':
      return 'not signed';
    case 'untrusted-key':
      return 'signed, but not by a trusted key';
    case 'digest-mismatch':
      return 'a trusted key signed a different digest';
    case 'bad-signature':
      return 'signature is invalid or the signed content was altered';
    default:
      return assertNever(reason, 'failure reason');
  }
}

/** `formatName` is how messages name a format: `legacy`, `bundle` or `OCI 1.1 referrer`. */
export function formatName(format: FoundFormat): string {
  return format === 'referrer' ? 'OCI 1.1 referrer' : format;
}
