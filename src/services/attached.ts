/**
 * What is attached to a package, for `ebpm verify <ref> --list` (like `cosign tree` and
 * `oras discover`): every signature in every shape, attestation, SBOM and Notation signature,
 * each with its signer and whether the given keys (or the trust policy's) vouch for it. Read
 * from the store when it holds the package (offline), else from its registry.
 */
import type { Digest } from '../core/digest.js';
import { withContext } from '../core/errors.js';
import { isManifestType } from '../core/oci.js';
import { bundleSigner, checkBundle, namedBy, type BundleSigner } from '../sign/bundle.js';
import { checkLegacy, type RejectReason, type SignatureCheck } from '../sign/check.js';
import { hintFingerprint, type TrustedKey } from '../sign/keys.js';
import { NOT_VERIFIED_NOTATION } from '../sign/notation.js';
import { claimedIdentity } from '../sign/certificate.js';
import { ANNOTATION_COSIGN_CERTIFICATE, cosignTag, type LegacySignature } from '../sign/payload.js';
import type { KeylessTrust } from '../sign/identity.js';
import { keylessFor, trustedKeysFor, type TrustPolicy } from '../sign/policy.js';
import type { ReferrerKind } from '../sign/referrer.js';
import type { Context } from './context.js';
import { findAttachedTags, findSignatures, referrerContent } from './sign.js';
import { locatePackage, notationSignatures } from './trust.js';

/** `AttachedShape` is how an item is attached: a cosign tag (`sha256-<hex>.sig|.att|.sbom`), an OCI 1.1 referrer, or an OCI 1.1 referrer holding a sigstore bundle. */
export type AttachedShape = 'legacy-tag' | 'oci-1.1-referrer' | 'bundle';

/** `AttachedSigner` is who an item says signed it: a key (16 hex digits, or a hint of another form), a certificate identity and issuer, or a certificate subject (Notation). */
export type AttachedSigner = BundleSigner & { readonly subject?: string };

/** `AttachedTrust` is the verdict on one item: a trusted key verified it, a check refused it, or it is not something ebpm verifies. */
export type AttachedTrust =
  | { readonly status: 'trusted'; readonly key: string }
  | { readonly status: RejectReason; readonly detail: string }
  | { readonly status: 'not-verified'; readonly detail: string };

/** `AttachedItem` is one thing attached to the package. */
export interface AttachedItem {
  readonly kind: ReferrerKind;
  readonly shape: AttachedShape;
  /** The manifest holding it (a `.sig` manifest holds one item per signature). */
  readonly manifest: Digest;
  /** The cosign tag, for `legacy-tag` items. */
  readonly tag?: string;
  readonly artifactType?: string;
  /** An attestation's predicate type, when its manifest names it. */
  readonly predicateType?: string;
  /** A Notation signature's envelope format. */
  readonly envelope?: 'jws' | 'cose' | 'unknown';
  readonly signer: AttachedSigner;
  readonly trust: AttachedTrust;
}

/** `AttachedListing` is `listAttached`'s answer. */
export interface AttachedListing {
  readonly repository: string;
  /** The store's name for the package, or the reference as resolved at the registry. */
  readonly reference: string;
  readonly digest: Digest;
  readonly from: 'store' | 'registry';
  /** Which signers decided `trusted`: the `--key` files and `--certificate-identity`, or the trust policy's for the repository. */
  readonly keys: 'given' | 'policy';
  readonly items: readonly AttachedItem[];
}

/** `listAttached` lists what is attached to the package `input` names; errors read `verify <input>: …`. */
export async function listAttached(
  ctx: Context,
  input: string,
  opts: { keys?: readonly TrustedKey[]; keyless?: KeylessTrust; policy: TrustPolicy; signal?: AbortSignal },
): Promise<AttachedListing> {
  try {
    const where = await locatePackage(ctx, input, opts.signal);
    const subject = where.resolved.descriptor;
    // As verifyReference: the given keys and identity, or else (neither given) the policy's.
    const given = opts.keys !== undefined || opts.keyless !== undefined;
    const keys = given ? (opts.keys ?? []) : trustedKeysFor(opts.policy, where.repository);
    const keyless = given ? opts.keyless : keylessFor(opts.policy, where.repository);
    const found = await findSignatures(where.source, subject, opts.signal);
    const notation = await notationSignatures(where.source, found, opts.signal);
    const items: AttachedItem[] = [];
    const sigTag = cosignTag(subject.digest, 'sig');
    for (const sig of found.legacy)
      items.push(await simpleSigningItem(sig, subject.digest, keys, { shape: 'legacy-tag', manifest: found.legacyManifest!.digest, tag: sigTag }));
    for (const r of found.attached) {
      const c = r.classified;
      const at = { manifest: r.descriptor.digest, artifactType: c.artifactType };
      if (c.kind === 'signature' && r.bundle !== undefined) {
        const check = await checkBundle(r.bundle, subject.digest, keys, keyless, found.signedManifest);
        items.push({ kind: 'signature', shape: 'bundle', ...at, signer: signerOf(check, await bundleSigner(r.bundle)), trust: trustOf(check) });
      } else if (c.kind === 'signature') {
        for (const sig of r.signatures ?? []) items.push(await simpleSigningItem(sig, subject.digest, keys, { shape: 'oci-1.1-referrer', ...at }));
      } else if (c.kind === 'attestation') {
        const content = c.shape === 'bundle' ? await referrerContent(where.source, r, opts.signal) : undefined;
        const signer = content === undefined ? {} : await bundleSigner(content);
        items.push({
          kind: 'attestation',
          shape: c.shape === 'bundle' ? 'bundle' : 'oci-1.1-referrer',
          ...at,
          ...(c.shape === 'bundle' ? { predicateType: c.predicateType } : {}),
          signer,
          trust: { status: 'not-verified', detail: 'an attestation, not a signature' },
        });
      } else if (c.kind === 'notation') {
        const signer = notation.find((n) => n.manifest === r.descriptor.digest)?.signer;
        items.push({
          kind: 'notation',
          shape: 'oci-1.1-referrer',
          ...at,
          envelope: c.envelope,
          signer: signer === undefined ? {} : { subject: signer },
          trust: { status: 'not-verified', detail: NOT_VERIFIED_NOTATION },
        });
      } else items.push({ kind: c.kind, shape: 'oci-1.1-referrer', ...at, signer: {}, trust: { status: 'not-verified', detail: 'not a signature' } });
    }
    // cosign's tags beside a package that hold no signature.
    for (const { suffix, tag, desc: d } of await findAttachedTags(where.source, subject, opts.signal)) {
      const kind = suffix === 'att' ? 'attestation' : 'sbom';
      if (d !== undefined && isManifestType(d.mediaType))
        items.push({
          kind,
          shape: 'legacy-tag',
          manifest: d.digest,
          tag,
          signer: {},
          trust: { status: 'not-verified', detail: `${kind === 'sbom' ? 'an SBOM' : 'an attestation'}, not a signature` },
        });
    }
    return {
      repository: where.repository,
      reference: where.resolved.storeRef,
      digest: subject.digest,
      from: where.from,
      keys: given ? 'given' : 'policy',
      items,
    };
  } catch (e) {
    throw withContext(`verify ${input}`, e);
  }
}

async function simpleSigningItem(
  sig: LegacySignature,
  digest: Digest,
  keys: readonly TrustedKey[],
  where: { shape: AttachedShape; manifest: Digest; tag?: string; artifactType?: string },
): Promise<AttachedItem> {
  const check = checkLegacy(sig, digest, keys);
  // A keyless signature names its signer in its certificate; ebpm's own name their key.
  const pem = sig.annotations?.[ANNOTATION_COSIGN_CERTIFICATE];
  const cert = pem === undefined ? undefined : await claimedIdentity(pem);
  const claimed: AttachedSigner = sig.keyHint !== undefined ? { key: hintFingerprint(sig.keyHint) } : cert === undefined ? {} : namedBy(cert);
  return { kind: 'signature', ...where, signer: signerOf(check, claimed), trust: trustOf(check) };
}

/** The key or certificate identity that verified a signature is its signer; otherwise what the signature claims. */
function signerOf(check: SignatureCheck, claimed: AttachedSigner): AttachedSigner {
  if (!check.ok) return claimed;
  return check.identity === undefined ? { key: check.key.publicKey.fingerprint } : { identity: check.identity.subject, issuer: check.identity.issuer };
}

function trustOf(check: SignatureCheck): AttachedTrust {
  return check.ok ? { status: 'trusted', key: check.key.label } : { status: check.reason, detail: check.detail };
}
