// Keyless (Fulcio certificate) bundles, verified offline against a trusted root and the
// identities trusted under it. The signing side is @sigstore/mock (keyless.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/core/digest.js';
import { checkBundle } from '../../src/sign/bundle.js';
import { identityMatches, identityProblems, parseTrustedRoot, type KeylessTrust, type TrustedIdentity, type TrustedRoot } from '../../src/sign/identity.js';
import { verifySignatures } from '../../src/sign/verify.js';
import { keylessAuthority, signKeyless, type KeylessAuthority } from './keyless.js';

const DIGEST = 'sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6' as Digest;
const OTHER = 'sha256:1111111111111111111111111111111111111111111111111111111111111111' as Digest;
const WORKFLOW = 'https://github.com/acme/sigsnoop/.github/workflows/release.yml@refs/tags/v1.2.0';
const GITHUB = 'https://token.actions.githubusercontent.com';
const EXACT: TrustedIdentity = { subject: WORKFLOW, issuer: GITHUB };

let authority: KeylessAuthority;
let stranger: KeylessAuthority;
let root: TrustedRoot;
beforeAll(async () => {
  [authority, stranger] = await Promise.all([keylessAuthority(), keylessAuthority()]);
  root = parseTrustedRoot(new TextEncoder().encode(JSON.stringify(authority.trustedRoot)), 'mock') as TrustedRoot;
});

const trust = (...identities: TrustedIdentity[]): KeylessTrust => ({ root, identities });
const check = async (bundle: Uint8Array, keyless?: KeylessTrust, digest = DIGEST) =>
  verifySignatures({ digest, legacy: [], bundles: [bundle], trustedKeys: [], ...(keyless ? { keyless } : {}) });

describe('keyless bundles', () => {
  it('verify with the exact identity and issuer: signer, issuer, certificate key fingerprint and root', async () => {
    const v = await check(await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: GITHUB }), trust(EXACT));
    expect(v.verified).toBe(true);
    if (!v.verified) return;
    expect(v.signedBy).toHaveLength(1);
    expect(v.signedBy[0]).toMatchObject({ format: 'bundle', digest: DIGEST, keyLabel: 'mock', identity: { subject: WORKFLOW, issuer: GITHUB } });
    expect(v.signedBy[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('verify with regular expressions (unanchored, as cosign), with a log entry and an RFC 3161 timestamp', async () => {
    const bundle = await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: GITHUB, timestamp: true });
    const v = await check(bundle, trust({ subjectRegExp: '^https://github\\.com/acme/', issuerRegExp: 'actions\\.githubusercontent' }));
    expect(v.verified).toBe(true);
  });

  it('verify in the v0.2 form, whose material is a certificate chain', async () => {
    const bundle = await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: GITHUB, chain: true });
    expect(JSON.parse(new TextDecoder().decode(bundle)).verificationMaterial.x509CertificateChain.certificates).toHaveLength(1);
    expect((await check(bundle, trust(EXACT))).verified).toBe(true);
  });

  it('are refused with a wrong identity, naming the identity found and the one wanted', async () => {
    const v = await check(
      await signKeyless(authority, DIGEST, { subject: 'https://github.com/mallory/x/.github/workflows/r.yml@refs/heads/main', issuer: GITHUB }),
      trust(EXACT),
    );
    expect(v).toMatchObject({
      verified: false,
      reason: 'untrusted-key',
      detail: `bundle signature: keyless signature by subject "https://github.com/mallory/x/.github/workflows/r.yml@refs/heads/main", issuer "${GITHUB}", not by a trusted identity (subject "${WORKFLOW}", issuer "${GITHUB}")`,
    });
  });

  it('are refused with a wrong issuer', async () => {
    const v = await check(
      await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: 'https://accounts.google.com' }),
      trust(EXACT, { subject: WORKFLOW, issuerRegExp: '^https://gitlab\\.com$' }),
    );
    expect(v).toMatchObject({
      verified: false,
      reason: 'untrusted-key',
      detail: `bundle signature: keyless signature by subject "${WORKFLOW}", issuer "https://accounts.google.com", not by a trusted identity (subject "${WORKFLOW}", issuer "${GITHUB}"; or subject "${WORKFLOW}", issuer ~ /^https://gitlab\\.com$/)`,
    });
  });

  it('are refused when the certificate comes from another CA', async () => {
    const v = await check(await signKeyless(stranger, DIGEST, { subject: WORKFLOW, issuer: GITHUB }), trust(EXACT));
    expect(v).toMatchObject({
      verified: false,
      reason: 'untrusted-key',
      detail: `bundle signature: keyless signature by subject "${WORKFLOW}", issuer "${GITHUB}": its certificate does not chain to a certificate authority of trusted root mock`,
    });
  });

  it('are refused when the trusted identity signed another digest', async () => {
    const v = await check(await signKeyless(authority, OTHER, { subject: WORKFLOW, issuer: GITHUB }), trust(EXACT));
    expect(v).toMatchObject({ verified: false, reason: 'digest-mismatch', detail: `bundle signature: statement is for ${OTHER}` });
  });

  it('are refused without a transparency-log entry, as cosign refuses them without --insecure-ignore-tlog', async () => {
    const v = await check(await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: GITHUB, tlog: false, timestamp: true }), trust(EXACT));
    expect(v).toMatchObject({
      verified: false,
      reason: 'untrusted-key',
      detail: `bundle signature: keyless signature by subject "${WORKFLOW}", issuer "${GITHUB}": expected 1 tlog entries, got 0 (TLOG_ERROR) under trusted root mock`,
    });
  });

  it('are refused when the signed statement was changed, or the certificate is not one', async () => {
    interface BundleJson {
      dsseEnvelope: { payload: string };
      verificationMaterial: { certificate: { rawBytes: string } };
    }
    const edit = (bytes: Uint8Array, change: (b: BundleJson) => void): Uint8Array => {
      const doc = JSON.parse(new TextDecoder().decode(bytes));
      change(doc);
      return new TextEncoder().encode(JSON.stringify(doc));
    };
    const good = await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: GITHUB });
    const statement = Buffer.from(JSON.parse(new TextDecoder().decode(good)).dsseEnvelope.payload, 'base64').toString();
    const tampered = edit(good, (b) => {
      b.dsseEnvelope.payload = Buffer.from(statement.replace('"predicate":{}', '"predicate":{"x":1}')).toString('base64');
    });
    expect(await check(tampered, trust(EXACT))).toMatchObject({
      verified: false,
      reason: 'bad-signature',
      detail: `bundle signature: keyless signature by subject "${WORKFLOW}", issuer "${GITHUB}" does not verify: the signed content was changed`,
    });
    const garbage = edit(good, (b) => {
      b.verificationMaterial.certificate.rawBytes = Buffer.from('not a certificate').toString('base64');
    });
    const v = await check(garbage, trust(EXACT));
    expect(v).toMatchObject({ verified: false, reason: 'bad-signature' });
    expect(v.verified ? '' : v.detail).toMatch(/^bundle signature: bundle certificate is malformed: /);
  });

  it('are refused when no identity is trusted, naming the signer', async () => {
    const v = await check(await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: GITHUB }));
    expect(v).toMatchObject({
      verified: false,
      reason: 'untrusted-key',
      detail: `bundle signature: keyless signature by subject "${WORKFLOW}", issuer "${GITHUB}"; no certificate identity is trusted`,
    });
  });

  it('a root whose material cannot be read is TRUSTED_ROOT_INVALID', async () => {
    const bad = parseTrustedRoot(
      new TextEncoder().encode(JSON.stringify({ ...authority.trustedRoot, certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: 'AAAA' }] } }] })),
      'broken',
    ) as TrustedRoot;
    const bundle = await signKeyless(authority, DIGEST, { subject: WORKFLOW, issuer: GITHUB });
    await expect(checkBundle(bundle, DIGEST, [], { root: bad, identities: [EXACT] })).rejects.toThrowWithCode(
      'TRUSTED_ROOT_INVALID',
      'trusted root broken: unsupported tag 0x00',
    );
  });
});

describe('identities and roots', () => {
  it('match exactly or by expression, both sides', () => {
    expect(identityMatches(EXACT, { subject: WORKFLOW, issuer: GITHUB })).toBe(true);
    expect(identityMatches(EXACT, { subject: `${WORKFLOW}x`, issuer: GITHUB })).toBe(false);
    expect(identityMatches({ subjectRegExp: 'acme', issuer: GITHUB }, { subject: WORKFLOW, issuer: `${GITHUB}/` })).toBe(false);
  });

  it('list every problem of an identity', () => {
    expect(identityProblems({ subject: 'a', subjectRegExp: 'b', issuerRegExp: '(' })).toEqual([
      'needs exactly one of subject, subjectRegExp',
      'issuerRegExp: Invalid regular expression: /(/u: Unterminated group',
    ]);
    expect(identityProblems({ subject: '' })).toEqual(['subject: not a non-empty string', 'needs exactly one of issuer, issuerRegExp']);
  });

  it('a trusted root must be an object with certificate authorities', () => {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    expect(parseTrustedRoot(enc([]), 'x')).toBe('not a sigstore trusted root (a json object)');
    expect(parseTrustedRoot(enc({ tlogs: {} }), 'x')).toBe('not a sigstore trusted root: tlogs not an array');
    expect(parseTrustedRoot(enc({ tlogs: [] }), 'x')).toBe('trusted root has no certificateAuthorities: it cannot verify a Fulcio certificate');
  });
});
