/**
 * Signatures as stored content: signing a package digest into a `Target` (a registry
 * repository, the embedded registry, an OCI layout), finding the signatures a target holds for
 * a digest, and copying them beside a package so that they travel with it (pull, push,
 * export). Formats are src/sign's (registry-spec/trust-policy.md §2); this file only moves
 * them through the content interfaces.
 *
 * Where signatures live, as cosign and Inspektor Gadget look for them:
 * - legacy: the manifest tagged `sha256-<hex>.sig` in the same repository, one
 *   simple-signing layer per signature (cosign `specs/SIGNATURE_SPEC.md`);
 * - bundle: OCI 1.1 referrers of the signed manifest (the referrers API, or the
 *   `sha256-<hex>` tag schema on distribution 2.8.2, which `Repository` handles).
 * Everything else attached to a package travels with it too, unread: every referrer (any
 * `artifactType`) and cosign's `sha256-<hex>.att` and `.sbom` tags.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { EbpmError, isCode, isEbpmError, withContext } from '../core/errors.js';
import { isDigest, type Digest } from '../core/digest.js';
import { MAX_MANIFEST_BYTES, isManifestType, parseManifest, type Descriptor, type ImageManifest } from '../core/oci.js';
import { copyGraph, copyTagged } from '../content/copy.js';
import { isGraphNode, parseNode } from '../content/graph.js';
import { canListReferrers, fetchAll, pushTagged, type ReadOnlyStorage, type ReadOnlyTarget, type ReferrerLister, type Target } from '../content/storage.js';
import { bundleReferrerManifest, isMessageSignatureBundle, signBundle } from '../sign/bundle.js';
import { parseTrustedRoot, type TrustedRoot } from '../sign/identity.js';
import { classifyReferrer, type ClassifiedReferrer } from '../sign/referrer.js';
import {
  COSIGN_PRIVATE_KEY_PEM,
  SIGSTORE_PRIVATE_KEY_PEM,
  generateKeyPair,
  readPublicKey,
  type PublicKey,
  type SigningKey,
  type TrustedKey,
} from '../sign/keys.js';
import {
  buildPayload,
  cosignTag,
  legacySignatureLayers,
  legacySignatureManifest,
  signPayload,
  signatureTag,
  type LegacySignature,
  type SignatureManifest,
} from '../sign/payload.js';
import type { SignatureFormat } from '../sign/verify.js';
import type { Context } from './context.js';
import { isMissing, openRepository, parseUserReference, resolveRemote, type Resolved } from './resolve.js';
import type { OciLayout } from '../store/layout.js';

/** Largest signature payload or bundle read: cosign's are a few hundred bytes to a few KiB. */
export const MAX_SIGNATURE_BYTES = 256 * 1024;
/**
 * At most this many legacy layers and bundle referrers are read per digest; a registry
 * offering more is hostile or broken, and ignoring the rest can only make a check fail.
 */
export const MAX_SIGNATURES = 64;
/** At most this many referrers of a package travel with it (`copySignatures`); the rest stay behind. */
export const MAX_ATTACHED = 64;
/**
 * Most bytes of attached artifacts (referrers, `.att` and `.sbom` manifests with their blobs)
 * carried with one package: SBOMs and attestations run to a few MiB. Each artifact is weighed
 * by its declared sizes before its blobs move; one that does not fit stays behind.
 */
export const MAX_ATTACHED_BYTES = 64 * 1024 * 1024;
/** Most descriptors in one attached artifact: a manifest and a few blobs, or a small index. */
const MAX_ATTACHED_NODES = 64;

export interface SignOptions {
  readonly format: SignatureFormat;
  /** `registry/namespace/name`: the legacy payload's `docker-reference` (informative, as in cosign). */
  readonly repository: string;
  /** Signed annotations: the payload's `optional`, or the statement subject's `annotations`. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** The referrer's `org.opencontainers.image.created`; default now. */
  readonly now?: Date;
  readonly signal?: AbortSignal;
}

/** `SignResult` says what `signPackage` stored. */
export interface SignResult {
  readonly format: SignatureFormat;
  /** The signed manifest. */
  readonly subject: Descriptor;
  /** The signature manifest pushed: the `.sig` manifest, or the bundle referrer. */
  readonly manifest: Descriptor;
  /** `sha256-<hex>.sig`, for the legacy format. */
  readonly tag?: string;
  /** The signing key's fingerprint (16 hex digits). */
  readonly fingerprint: string;
}

/**
 * `signPackage` signs `subject` (a manifest or index `target` holds) and stores the signature
 * in `target`. Legacy: the existing `.sig` manifest's signatures are kept and the new one
 * appended (as cosign does), then the manifest is re-tagged. Bundle: a new referrer is pushed
 * by digest. Blobs go first, so the target never names content it does not hold.
 */
export async function signPackage(target: Target, subject: Descriptor, key: SigningKey, opts: SignOptions): Promise<SignResult> {
  const fingerprint = key.publicKey.fingerprint;
  const plain: Descriptor = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };
  if (opts.format === 'bundle') {
    const sig = bundleReferrerManifest(plain, await signBundle(key, subject.digest, opts.annotations), opts.now ?? new Date());
    await pushSignatureManifest(target, sig, opts.signal);
    return { format: 'bundle', subject: plain, manifest: sig.descriptor, fingerprint };
  }
  const payload = buildPayload(opts.repository, subject.digest, opts.annotations);
  const fresh: LegacySignature = { payload, signature: signPayload(key, payload), keyHint: key.publicKey.hint };
  const existing = await readLegacy(target, subject.digest, opts.signal);
  const sig = legacySignatureManifest([...(existing?.signatures ?? []), fresh]);
  const tag = signatureTag(subject.digest);
  await pushSignatureManifest(target, sig, opts.signal, tag);
  return { format: 'legacy', subject: plain, manifest: sig.descriptor, tag, fingerprint };
}

/** `FoundReferrer` is one referrer of the package, read and classified (src/sign/referrer.ts). */
export interface FoundReferrer {
  readonly descriptor: Descriptor;
  readonly classified: ClassifiedReferrer;
  /** A simple-signing referrer's signatures (also in `FoundSignatures.referred`). */
  readonly signatures?: readonly LegacySignature[];
  /** A signature bundle (also in `FoundSignatures.bundles`). */
  readonly bundle?: Uint8Array;
}

/**
 * `referrerContent` reads the one layer of an attestation bundle or Notation envelope referrer,
 * which `findSignatures` leaves unread (pull and run need only signatures); `undefined` for other kinds.
 */
export async function referrerContent(source: ReadOnlyTarget, referrer: FoundReferrer, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  const c = referrer.classified;
  return 'layer' in c && c.layer !== undefined ? fetchAll(source, c.layer, MAX_SIGNATURE_BYTES, signal) : undefined;
}

/** `FoundSignatures` is every signature a target holds for one digest, ready for `verifySignatures`. */
export interface FoundSignatures {
  /** The `.sig` manifest's layers. */
  readonly legacy: readonly LegacySignature[];
  /** The layers of cosign's OCI 1.1 simple-signing referrers, checked as `.sig` layers are. */
  readonly referred: readonly LegacySignature[];
  readonly bundles: readonly Uint8Array[];
  /** The `.sig` manifest, when there is one. */
  readonly legacyManifest?: Descriptor;
  /** The bundle referrer manifests, in the order of `bundles`. */
  readonly bundleManifests: readonly Descriptor[];
  /** The signed manifest's bytes, read when a message-signature bundle needs them. */
  readonly signedManifest?: Uint8Array;
  /** Every referrer the source listed, of any kind: what `copySignatures` carries, listed once. */
  readonly referrers: readonly Descriptor[];
  /** The referrers whose manifest names the package as subject, each with what it is (signatures, attestations, SBOMs, Notation, others). */
  readonly attached: readonly FoundReferrer[];
}

/**
 * `findSignatures` reads what `source` holds for `subject`: the layers of its `.sig` manifest
 * and, when `source` lists referrers, every referrer, each judged by its own manifest
 * (`classifyReferrer`), not by the listing's `artifactType`: cosign's OCI 1.1 simple-signing
 * signatures are read as `.sig` layers are, sigstore signature bundles are read, the rest is
 * only classified (`referrerContent` reads it).
 * Every byte is verified against its digest; a missing `.sig` tag or repository means no
 * signature, other failures are thrown.
 */
export async function findSignatures(source: ReadOnlyTarget, subject: Descriptor, signal?: AbortSignal): Promise<FoundSignatures> {
  // The two lookups are independent: asked together, they cost one round trip instead of two.
  const [legacy, listed] = await Promise.all([
    readLegacy(source, subject.digest, signal),
    canListReferrers(source)
      ? source.referrers(subject, undefined, signal).catch((e: unknown) => {
          if (!isMissing(e)) throw e;
          return [];
        })
      : [],
  ]);
  const referred: LegacySignature[] = [];
  const bundles: Uint8Array[] = [];
  const bundleManifests: Descriptor[] = [];
  const attached: FoundReferrer[] = [];
  for (const d of listed.filter((x) => isManifestType(x.mediaType)).slice(0, MAX_SIGNATURES)) {
    const descriptor: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    const manifest = await readManifest(source, descriptor, signal);
    if (manifest === undefined || manifest.subject?.digest !== subject.digest) continue;
    const classified = classifyReferrer(manifest);
    if (classified.kind === 'signature' && classified.shape === 'bundle') {
      const bundle = await fetchAll(source, classified.layer, MAX_SIGNATURE_BYTES, signal);
      bundles.push(bundle);
      bundleManifests.push(descriptor);
      attached.push({ descriptor, classified, bundle });
    } else if (classified.kind === 'signature') {
      const signatures = await readSimpleSigning(source, manifest, signal);
      referred.push(...signatures);
      attached.push({ descriptor, classified, signatures });
    } else attached.push({ descriptor, classified });
  }
  const signedManifest = bundles.some(isMessageSignatureBundle) ? await fetchAll(source, subject, MAX_MANIFEST_BYTES, signal) : undefined;
  return {
    ...(signedManifest === undefined ? {} : { signedManifest }),
    legacy: legacy?.signatures ?? [],
    referred,
    bundles,
    bundleManifests,
    referrers: listed,
    attached,
    ...(legacy === undefined ? {} : { legacyManifest: legacy.descriptor }),
  };
}

/** `CopiedSignatures` counts what `copySignatures` brought over. */
export interface CopiedSignatures {
  /** Legacy signatures and bundles found at the source (`findSignatures`). */
  readonly legacy: number;
  readonly bundles: number;
  /** Referrers of the package the destination holds now (of any `artifactType`). */
  readonly referrers: number;
  /** cosign's `.att` and `.sbom` tags copied (a destination's own are kept). */
  readonly tags: readonly string[];
  /** Attached artifacts left behind: past `MAX_ATTACHED`, past `MAX_ATTACHED_BYTES`, invalid, or naming another subject. */
  readonly skipped: number;
}

/**
 * `copySignatures` makes `dst` hold what `src` has attached to `subject`, so that checks work
 * offline wherever the package goes: every referrer (signatures in every shape, attestations,
 * SBOMs; at most `MAX_ATTACHED`, `MAX_ATTACHED_BYTES` in all) is copied byte for byte, so
 * `dst` lists it as a referrer; cosign's `.att` and `.sbom` manifests likewise, tagged as at
 * `src` unless `dst` has its own; the `.sig` manifest is copied as is when `dst` has none, else
 * merged with `dst`'s (signatures of both, once each) and re-tagged. Every byte is verified
 * against its digest; signatures are not verified here: that is the trust check's job, and it
 * reads them from wherever they end up. `known` is what `findSignatures` already read from
 * `src` for `subject` (the trust check's), to spare asking `src` again; `attached` is
 * `findAttachedTags` of `src` already under way (asked beside a download).
 */
export async function copySignatures(
  src: ReadOnlyTarget,
  dst: Target,
  subject: Descriptor,
  signal?: AbortSignal,
  known?: FoundSignatures,
  attached?: Promise<AttachedTags>,
): Promise<CopiedSignatures> {
  const [found, side] = await Promise.all([known ?? findSignatures(src, subject, signal), attached ?? findAttachedTags(src, subject, signal)]);
  const manifests = found.referrers.filter((d) => isGraphNode(d));
  let skipped = found.referrers.length - Math.min(manifests.length, MAX_ATTACHED);
  let referrers = 0;
  const budget = { left: MAX_ATTACHED_BYTES };
  for (const d of manifests.slice(0, MAX_ATTACHED)) {
    if (await copyAttached(src, dst, d, subject.digest, budget, signal)) referrers++;
    else skipped++;
  }
  const tags: string[] = [];
  for (const { tag, desc } of side) {
    if (desc === undefined || (await resolveTag(dst, tag, signal)) !== undefined) continue;
    if (!(await copyAttached(src, dst, desc, undefined, budget, signal))) {
      skipped++;
      continue;
    }
    await dst.tag(desc, tag, signal);
    tags.push(tag);
  }
  if (found.legacyManifest !== undefined) {
    const tag = signatureTag(subject.digest);
    const held = await readLegacy(dst, subject.digest, signal);
    if (held === undefined) {
      await copyTagged(src, dst, found.legacyManifest, tag, signal === undefined ? {} : { signal });
    } else if (held.descriptor.digest !== found.legacyManifest.digest) {
      const merged = legacySignatureManifest([...held.signatures, ...found.legacy]);
      if (merged.descriptor.digest !== held.descriptor.digest) {
        await pushSignatureManifest(dst, merged, signal, tag);
      }
    }
  }
  return { legacy: found.legacy.length + found.referred.length, bundles: found.bundles.length, referrers, tags, skipped };
}

/** `AttachedTags` are cosign's `.att` and `.sbom` tags of a subject, with the manifest each names at the source, if any. */
export type AttachedTags = readonly { readonly suffix: 'att' | 'sbom'; readonly tag: string; readonly desc: Descriptor | undefined }[];

/** `findAttachedTags` resolves cosign's `.att` and `.sbom` tags of `subject` in `src`, both at once (for `copySignatures` and listings). */
export function findAttachedTags(src: ReadOnlyTarget, subject: Descriptor, signal?: AbortSignal): Promise<AttachedTags> {
  return Promise.all(
    (['att', 'sbom'] as const).map(async (suffix) => {
      const tag = cosignTag(subject.digest, suffix);
      return { suffix, tag, desc: await resolveTag(src, tag, signal) };
    }),
  );
}

/**
 * Copies one attached manifest's graph (every byte verified) within `MAX_ATTACHED_NODES` and
 * the bytes `budget` has left, which it then takes. `false` leaves it behind: too large, not a
 * valid manifest, gone since it was listed, or, for a referrer (`subject` given), naming
 * another subject (a listing is the registry's or another client's word, the manifest is the content's).
 */
async function copyAttached(
  src: ReadOnlyTarget,
  dst: Target,
  listed: Descriptor,
  subject: Digest | undefined,
  budget: { left: number },
  signal?: AbortSignal,
): Promise<boolean> {
  const desc: Descriptor = { mediaType: listed.mediaType, digest: listed.digest, size: listed.size };
  if (await dst.exists(desc, signal)) return true;
  try {
    const bytes = await fetchAll(src, desc, MAX_MANIFEST_BYTES, signal);
    if (subject !== undefined && parseNode(desc, bytes).subject?.digest !== subject) return false;
    // The manifest was just read and verified: the copy takes it from here, and the rest from `src`.
    const held: ReadOnlyStorage = { exists: (d, s) => src.exists(d, s), fetch: async (d, s) => (d.digest === desc.digest ? [bytes] : src.fetch(d, s)) };
    const stats = await copyGraph(held, dst, desc, { maxBytes: budget.left, maxNodes: MAX_ATTACHED_NODES, ...(signal === undefined ? {} : { signal }) });
    budget.left -= stats.bytes;
    return true;
  } catch (e) {
    // What is wrong with this artifact at the source leaves it behind; a destination's failure is the caller's.
    const atSource = !isEbpmError(e) || e.data?.side !== 'destination';
    if (atSource && ['GRAPH_TOO_LARGE', 'SIZE_EXCEEDS_LIMIT', 'MANIFEST_INVALID', 'NOT_FOUND'].some((c) => isCode(e, c))) return false;
    throw e;
  }
}

/** `resolveTag` is the manifest `ref` names in `target`, or `undefined` when there is none. */
async function resolveTag(target: ReadOnlyTarget, ref: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
  try {
    return await target.resolve(ref, signal);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/**
 * `storedRepository` is one repository of the local store seen as a registry repository: the
 * store names tags `registry/namespace/name:tag` (services/resolve.ts `storeRefOf`), so a
 * package's `.sig` manifest is kept as `registry/namespace/name:sha256-<hex>.sig`, beside the
 * package, and exported with it. Content and referrers are the store's own (by digest).
 */
export function storedRepository(store: Target & ReferrerLister, repository: string): Target & ReferrerLister {
  const name = (ref: string) => (isDigest(ref) ? ref : `${repository}:${ref}`);
  return {
    fetch: (d, signal) => store.fetch(d, signal),
    exists: (d, signal) => store.exists(d, signal),
    push: (d, content, signal) => store.push(d, content, signal),
    resolve: (ref, signal) => store.resolve(name(ref), signal),
    tag: (d, ref, signal) => store.tag(d, name(ref), signal),
    referrers: (subject, artifactType, signal) => store.referrers(subject, artifactType, signal),
  };
}

/** Reads the `.sig` manifest of `digest` and its signature layers, or `undefined` without one. */
async function readLegacy(
  source: ReadOnlyTarget,
  digest: Digest,
  signal?: AbortSignal,
): Promise<{ descriptor: Descriptor; signatures: LegacySignature[] } | undefined> {
  const descriptor = await resolveTag(source, signatureTag(digest), signal);
  if (descriptor === undefined) return undefined;
  const plain: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
  const manifest = await readManifest(source, plain, signal);
  if (manifest === undefined) return undefined;
  return { descriptor: plain, signatures: await readSimpleSigning(source, manifest, signal) };
}

/** Reads the payloads of a `.sig` manifest's or an OCI 1.1 signature referrer's simple-signing layers. */
async function readSimpleSigning(source: ReadOnlyTarget, manifest: ImageManifest, signal?: AbortSignal): Promise<LegacySignature[]> {
  const signatures: LegacySignature[] = [];
  for (const layer of legacySignatureLayers(manifest).slice(0, MAX_SIGNATURES)) {
    const payload = await fetchAll(source, layer.descriptor, MAX_SIGNATURE_BYTES, signal);
    const { descriptor: _descriptor, ...rest } = layer;
    signatures.push({ payload, ...rest });
  }
  return signatures;
}

/**
 * Reads and parses an image manifest. Other media types (an index under the tag) and invalid
 * manifests are `undefined`: they hold no signature ebpm can check, which fails closed.
 */
async function readManifest(source: ReadOnlyTarget, desc: Descriptor, signal?: AbortSignal): Promise<ImageManifest | undefined> {
  if (!isManifestType(desc.mediaType)) return undefined;
  const bytes = await fetchAll(source, desc, MAX_MANIFEST_BYTES, signal);
  try {
    return parseManifest(bytes, desc.mediaType);
  } catch (e) {
    if (isCode(e, 'MANIFEST_INVALID')) return undefined;
    throw e;
  }
}

/** Pushes a signature manifest's blobs (those not yet held), then the manifest, under `tag` if given (`pushTagged`). */
async function pushSignatureManifest(target: Target, sig: SignatureManifest, signal?: AbortSignal, tag?: string): Promise<void> {
  for (const blob of sig.blobs) {
    if (!(await target.exists(blob.descriptor, signal))) await target.push(blob.descriptor, [blob.bytes], signal);
  }
  if (tag === undefined) await target.push(sig.descriptor, [sig.bytes], signal);
  else await pushTagged(target, sig.descriptor, [sig.bytes], tag, signal);
}

/** `KeyFiles` is what `writeKeyPair` wrote. */
export interface KeyFiles {
  readonly privatePath: string;
  readonly publicPath: string;
  readonly publicKey: PublicKey;
}

/**
 * `writeKeyPair` makes a cosign-compatible key pair and writes `<prefix>.key` (encrypted,
 * mode 0600) and `<prefix>.pub`, as `cosign generate-key-pair --output-key-prefix` does.
 * Existing files are `KEY_EXISTS` unless `force`; both files appear whole or not at all.
 */
export async function writeKeyPair(prefix: string, password: string, opts: { force?: boolean } = {}): Promise<KeyFiles> {
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  if (!opts.force) {
    const present = [privatePath, publicPath].filter((p) => existsSync(p));
    if (present.length > 0) {
      throw new EbpmError('KEY_EXISTS', `keygen: ${present.join(' and ')} already exist${present.length === 1 ? 's' : ''}`, {
        hint: 'choose another --output-key-prefix, or pass --force to replace the key pair',
        data: { files: present },
      });
    }
  }
  const pair = await generateKeyPair(password);
  const tmp = (p: string) => `${p}.${randomBytes(6).toString('hex')}.tmp`;
  const [privTmp, pubTmp] = [tmp(privatePath), tmp(publicPath)];
  try {
    await writeFile(privTmp, pair.privatePem, { mode: 0o600, flag: 'wx' });
    await writeFile(pubTmp, pair.publicPem, { mode: 0o644, flag: 'wx' });
    await rename(pubTmp, publicPath);
    await rename(privTmp, privatePath);
  } catch (e) {
    await Promise.all([unlink(privTmp).catch(() => undefined), unlink(pubTmp).catch(() => undefined)]);
    throw new EbpmError('KEY_WRITE_FAILED', `keygen: write ${prefix}.{key,pub}: ${(e as NodeJS.ErrnoException).code ?? 'failed'}`, {
      hint: 'check that the directory exists and is writable',
      cause: e,
    });
  }
  return { privatePath, publicPath, publicKey: pair.publicKey };
}

/** `readKeyFile` reads a key file's text; a missing or unreadable one is `KEY_UNREADABLE`. */
export async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new EbpmError('KEY_UNREADABLE', `key ${path}: ${(e as NodeJS.ErrnoException).code ?? 'cannot read'}`, {
      hint: 'give the path of a key made by ebpm keygen or cosign generate-key-pair',
      cause: e,
    });
  }
}

/** `isEncryptedKey` tells whether a private key file needs a password (cosign's encrypted PEM types). */
export function isEncryptedKey(pem: string): boolean {
  return pem.includes(`-----BEGIN ${SIGSTORE_PRIVATE_KEY_PEM}-----`) || pem.includes(`-----BEGIN ${COSIGN_PRIVATE_KEY_PEM}-----`);
}

/** `readTrustedKeyFile` reads a public key file, labelled by its file name without `.pub`. */
export async function readTrustedKeyFile(path: string): Promise<TrustedKey> {
  const pem = await readKeyFile(path);
  try {
    return { label: basename(path).replace(/\.pub$/, '') || path, publicKey: readPublicKey(pem) };
  } catch (e) {
    throw withContext(`key ${path}`, e);
  }
}

/** `readTrustedRootFile` reads a sigstore `trusted_root.json`, labelled by its file name without `.json`. */
export async function readTrustedRootFile(path: string): Promise<TrustedRoot> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new EbpmError('TRUSTED_ROOT_UNREADABLE', `trusted root ${path}: ${(e as NodeJS.ErrnoException).code ?? 'cannot read'}`, {
      hint: 'give the path of the trusted_root.json of your sigstore deployment',
      cause: e,
    });
  }
  const root = parseTrustedRoot(bytes, basename(path).replace(/\.json$/, '') || path);
  if (typeof root === 'string') {
    throw new EbpmError('TRUSTED_ROOT_INVALID', `trusted root ${path}: ${root}`, {
      hint: 'give the trusted_root.json of your sigstore deployment as it is distributed (cosign trusted-root create writes one)',
    });
  }
  return root;
}

/** `SignReferenceResult` is `signPackage`'s result for a user reference. */
export interface SignReferenceResult extends SignResult {
  /** `registry/namespace/name` */
  readonly repository: string;
  /** The store held the package and now holds the new signature too. */
  readonly stored: boolean;
}

/**
 * `signReference` resolves a user reference at its registry (remote or embedded), signs the
 * manifest it names there, and, when the local store holds that package, copies the signature
 * beside it so offline verification sees it. Errors read `sign <reference>: …`.
 */
export async function signReference(ctx: Context, input: string, key: SigningKey, opts: Omit<SignOptions, 'repository'>): Promise<SignReferenceResult> {
  try {
    const ref = parseUserReference(ctx, input);
    const resolved = await resolveRemote(ctx, ref, opts.signal === undefined ? {} : { signal: opts.signal });
    const repository = `${ref.registry}/${ref.repository}`;
    const remote = await openRepository(ctx, ref);
    const result = await signPackage(remote, resolved.descriptor, key, { ...opts, repository });
    const store = await ctx.store();
    const stored = await store.exists(resolved.descriptor);
    if (stored) await copySignatures(remote, storedRepository(store, repository), resolved.descriptor, opts.signal);
    return { ...result, repository, stored };
  } catch (e) {
    throw withContext(`sign ${input}`, e);
  }
}

/**
 * `pullSignatures` copies the signatures of a package pulled from its registry into the store,
 * beside it (`storedRepository`), so later checks and `ebpm verify` work offline.
 */
export async function pullSignatures(
  ctx: Context,
  store: OciLayout,
  r: Resolved,
  signal?: AbortSignal,
  found?: FoundSignatures,
  attached?: Promise<AttachedTags>,
): Promise<CopiedSignatures> {
  return copySignatures(
    await openRepository(ctx, r.ref),
    storedRepository(store, `${r.ref.registry}/${r.ref.repository}`),
    r.descriptor,
    signal,
    found,
    attached,
  );
}

/**
 * `storedSignatureRefs` names the stored `.sig`, `.att` and `.sbom` manifests of `packages`, for
 * `ebpm export` to carry (referrers go with the package on their own).
 */
export async function storedSignatureRefs(store: OciLayout, packages: readonly Resolved[]): Promise<string[]> {
  const held = new Set(await store.tags());
  return packages
    .flatMap((p) => (['sig', 'att', 'sbom'] as const).map((s) => `${p.ref.registry}/${p.ref.repository}:${cosignTag(p.descriptor.digest, s)}`))
    .filter((ref) => held.has(ref));
}
