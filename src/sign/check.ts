// Checking one signature against the trusted keys, the part both formats share, and the
// legacy (simple-signing) check itself. `verify.ts` combines the results for a digest.
import type { Digest } from '../core/digest.js';
import { isCode } from '../core/errors.js';
import { signatureProblem, verifyMessage } from './ecdsa.js';
import type { CertificateIdentity } from './identity.js';
import { hintFingerprint, type TrustedKey } from './keys.js';
import { parsePayload, type LegacySignature } from './payload.js';

/** Why one signature does not vouch for a digest (`no-signature` is only for the whole set). */
export type RejectReason = 'untrusted-key' | 'digest-mismatch' | 'bad-signature';

/**
 * `SignatureCheck` is the verdict on one signature: the trusted key that verified it, or for a
 * keyless signature the certificate's key (labelled with the trusted root) and its identity.
 */
export type SignatureCheck = { readonly ok: true; readonly key: TrustedKey; readonly identity?: CertificateIdentity } | Rejection;

/** `Rejection` is a failed check: a stable reason and a one-line detail. */
export interface Rejection {
  readonly ok: false;
  readonly reason: RejectReason;
  readonly detail: string;
}

/**
 * `checkSignatureWith` runs the steps every signature goes through, in this order:
 *  1. the signature must be a well-formed P-256 DER signature (else `bad-signature`: truncated,
 *     another curve);
 *  2. the keys to try: those whose `hint` matches, or all trusted keys when there is no hint;
 *     a hint no trusted key has is `untrusted-key`;
 *  3. `verifies(key)` on each: none verifying is `bad-signature` when the hint named a trusted
 *     key (the signed bytes were changed) and `untrusted-key` without a hint (cosign's legacy
 *     signatures carry none, so an unknown signer and an altered payload look the same);
 *  4. `claims()` on the now authenticated content (the digest it names must be the one
 *     checked): a rejection, or `undefined` when the claims hold.
 */
export function checkSignatureWith(args: {
  readonly signatureB64: string;
  readonly hint: string | undefined;
  readonly trustedKeys: readonly TrustedKey[];
  readonly verifies: (key: TrustedKey) => boolean;
  readonly claims: () => Rejection | undefined;
}): SignatureCheck {
  const problem = signatureProblem(args.signatureB64);
  if (problem !== undefined) return { ok: false, reason: 'bad-signature', detail: problem };
  const hinted = args.hint !== undefined && args.hint !== '';
  const candidates = hinted ? args.trustedKeys.filter((k) => k.publicKey.hint === args.hint) : args.trustedKeys;
  if (candidates.length === 0) {
    return { ok: false, reason: 'untrusted-key', detail: hinted ? `signed by key ${hintFingerprint(args.hint!)}, which is not trusted` : 'no trusted keys' };
  }
  const key = candidates.find((k) => args.verifies(k));
  if (key === undefined) {
    return hinted
      ? { ok: false, reason: 'bad-signature', detail: `signature does not verify with trusted key ${candidates[0]!.label}: the signed content was changed` }
      : { ok: false, reason: 'untrusted-key', detail: 'no trusted key verifies this signature (another signer, or altered content)' };
  }
  return args.claims() ?? { ok: true, key };
}

/** `checkLegacy` checks one `.sig` layer: the signature over the payload bytes, then the payload's digest. */
export function checkLegacy(sig: LegacySignature, digest: Digest, trustedKeys: readonly TrustedKey[]): SignatureCheck {
  return checkSignatureWith({
    signatureB64: sig.signature,
    hint: sig.keyHint,
    trustedKeys,
    verifies: (k) => verifyMessage(k.publicKey.key, sig.payload, sig.signature),
    claims: () => {
      try {
        const payload = parsePayload(sig.payload);
        if (payload.digest !== digest) return { ok: false, reason: 'digest-mismatch', detail: `payload is for ${payload.digest}` };
        return undefined;
      } catch (e) {
        if (!isCode(e, 'SIGNATURE_PAYLOAD_INVALID')) throw e;
        return { ok: false, reason: 'bad-signature', detail: (e as Error).message };
      }
    },
  });
}
