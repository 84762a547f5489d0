// Round trips (keygen → sign → verify) in both formats, and every tamper case refused with its reason.
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { signBundle } from '../../src/sign/bundle.js';
import { generateKeyPair, keyFingerprint, keyHint, readPrivateKey, type SigningKey, type TrustedKey } from '../../src/sign/keys.js';
import { buildPayload, signPayload, type LegacySignature } from '../../src/sign/payload.js';
import { describeFailure, verifySignatures, type Verification } from '../../src/sign/verify.js';
import { TEST_PASSWORD, fixture } from './helpers.js';

const DIGEST = 'sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6';
const OTHER = 'sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec';
const REPO = 'localhost:5000/acme/sigsnoop';
const PASSWORD = TEST_PASSWORD;

let release: SigningKey; // generated, trusted
let stranger: SigningKey; // cosign's validecpkcs8 vector, not trusted
let p384: SigningKey; // another curve
let trusted: TrustedKey[];

function legacy(key: SigningKey, digest = DIGEST, withHint = true): LegacySignature {
  const payload = buildPayload(REPO, digest);
  const sig = { payload, signature: signPayload(key, payload) };
  return withHint ? { ...sig, keyHint: key.publicKey.hint } : sig;
}

type BundleJson = { dsseEnvelope: { payload: string; signatures: { sig: string }[] } };
function editBundle(bytes: Uint8Array, edit: (b: BundleJson) => void): Uint8Array {
  const b = JSON.parse(new TextDecoder().decode(bytes)) as BundleJson;
  edit(b);
  return new TextEncoder().encode(JSON.stringify(b));
}

/** Flips one byte of base64 content. */
function flipByte(b64: string, at: number): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[at] = bytes[at]! ^ 0x01;
  return bytes.toString('base64');
}
function truncate(b64: string): string {
  const bytes = Buffer.from(b64, 'base64');
  return bytes.subarray(0, bytes.length - 5).toString('base64');
}

function failure(v: Verification): { reason: string; detail: string } {
  expect(v.verified).toBe(false);
  return v.verified ? { reason: '', detail: '' } : { reason: v.reason, detail: v.detail };
}

beforeAll(async () => {
  const pair = await generateKeyPair(PASSWORD);
  release = await readPrivateKey(pair.privatePem, PASSWORD);
  stranger = await readPrivateKey(fixture('cosign-validecpkcs8.key'), '');
  const k = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const spki = k.publicKey.export({ format: 'der', type: 'spki' });
  p384 = { privateKey: k.privateKey, publicKey: { key: k.publicKey, spki, hint: keyHint(spki), fingerprint: keyFingerprint(spki) } };
  trusted = [{ label: 'release', publicKey: release.publicKey }];
});

describe('round trips', () => {
  it('keygen → legacy signature → verified by the trusted key', async () => {
    const v = await verifySignatures({ digest: DIGEST, legacy: [legacy(release)], bundles: [], trustedKeys: trusted });
    expect(v).toEqual({
      verified: true,
      digest: DIGEST,
      signedBy: [{ format: 'legacy', digest: DIGEST, keyLabel: 'release', fingerprint: release.publicKey.fingerprint }],
      rejected: [],
    });
  });

  it('verifies a cosign-made legacy signature (no ebpm key hint)', async () => {
    const v = await verifySignatures({ digest: DIGEST, legacy: [legacy(release, DIGEST, false)], bundles: [], trustedKeys: trusted });
    expect(v.verified).toBe(true);
  });

  it('keygen → sigstore bundle → verified by the trusted key', async () => {
    const v = await verifySignatures({ digest: DIGEST, legacy: [], bundles: [await signBundle(release, DIGEST)], trustedKeys: trusted });
    expect(v).toEqual({
      verified: true,
      digest: DIGEST,
      signedBy: [{ format: 'bundle', digest: DIGEST, keyLabel: 'release', fingerprint: release.publicKey.fingerprint }],
      rejected: [],
    });
  });

  it('lists both formats, and keeps rejected signatures beside a good one', async () => {
    const v = await verifySignatures({
      digest: DIGEST,
      legacy: [legacy(stranger), legacy(release)],
      bundles: [await signBundle(release, DIGEST)],
      trustedKeys: trusted,
    });
    expect(v.verified).toBe(true);
    expect(v.verified && v.signedBy.map((s) => s.format)).toEqual(['legacy', 'bundle']);
    expect(v.rejected).toEqual([
      { format: 'legacy', index: 0, reason: 'untrusted-key', detail: `signed by key ${stranger.publicKey.fingerprint}, which is not trusted` },
    ]);
  });

  it('says no-signature when there is none', async () => {
    const v = await verifySignatures({ digest: DIGEST, legacy: [], bundles: [], trustedKeys: trusted });
    expect(v).toEqual({ verified: false, digest: DIGEST, reason: 'no-signature', detail: `${DIGEST} has no signature`, rejected: [] });
    expect(describeFailure('no-signature')).toBe('not signed');
  });
});

describe('tampering, legacy format', () => {
  const cases: [string, () => LegacySignature, string, string][] = [
    [
      'a changed byte in the payload',
      () => {
        const s = legacy(release);
        const payload = Uint8Array.from(s.payload);
        payload[40] = payload[40]! ^ 0x01;
        return { ...s, payload };
      },
      'bad-signature',
      'legacy signature: signature does not verify with trusted key release: the signed content was changed',
    ],
    ['a signature moved to another digest', () => legacy(release, OTHER), 'digest-mismatch', `legacy signature: payload is for ${OTHER}`],
    [
      'a truncated signature',
      () => {
        const s = legacy(release);
        return { ...s, signature: truncate(s.signature) };
      },
      'bad-signature',
      'legacy signature: signature is truncated or has trailing bytes',
    ],
    ['a P-384 signature', () => legacy(p384), 'bad-signature', 'legacy signature: signature is not on curve P-256 (r or s out of range)'],
    ['another key', () => legacy(stranger), 'untrusted-key', `legacy signature: signed by key ${'STRANGER'}, which is not trusted`],
    [
      'another key, cosign-made (no hint)',
      () => legacy(stranger, DIGEST, false),
      'untrusted-key',
      'legacy signature: no trusted key verifies this signature (another signer, or altered content)',
    ],
    ['not base64', () => ({ ...legacy(release), signature: 'MEUCIQ!!' }), 'bad-signature', 'legacy signature: signature is not base64'],
  ];
  it.each(cases)('refuses %s', async (_what, make, reason, detail) => {
    const v = await verifySignatures({ digest: DIGEST, legacy: [make()], bundles: [], trustedKeys: trusted });
    expect(failure(v)).toEqual({ reason, detail: detail.replace('STRANGER', stranger.publicKey.fingerprint) });
  });

  it('refuses a validly signed payload that is not a simple-signing payload', async () => {
    const payload = new TextEncoder().encode('{"critical":{}}');
    const v = await verifySignatures({ digest: DIGEST, legacy: [{ payload, signature: signPayload(release, payload) }], bundles: [], trustedKeys: trusted });
    expect(failure(v).reason).toBe('bad-signature');
    expect(failure(v).detail).toMatch(/^legacy signature: simple-signing payload: critical.identity: not an object; /);
  });
});

describe('tampering, bundle format', () => {
  const cases: [string, () => Promise<Uint8Array> | Uint8Array, string, string][] = [
    [
      'a changed byte in the signed statement',
      async () =>
        editBundle(await signBundle(release, DIGEST), (b) => {
          b.dsseEnvelope.payload = flipByte(b.dsseEnvelope.payload, 30);
        }),
      'bad-signature',
      'bundle signature: signature does not verify with trusted key release: the signed content was changed',
    ],
    ['a signature moved to another digest', () => signBundle(release, OTHER), 'digest-mismatch', `bundle signature: statement is for ${OTHER}`],
    [
      'a truncated signature',
      async () =>
        editBundle(await signBundle(release, DIGEST), (b) => {
          b.dsseEnvelope.signatures[0]!.sig = truncate(b.dsseEnvelope.signatures[0]!.sig);
        }),
      'bad-signature',
      'bundle signature: signature is truncated or has trailing bytes',
    ],
    ['a P-384 signature', () => signBundle(p384, DIGEST), 'bad-signature', 'bundle signature: signature is not on curve P-256 (r or s out of range)'],
    ['another key', () => signBundle(stranger, DIGEST), 'untrusted-key', 'bundle signature: signed by key STRANGER, which is not trusted'],
    [
      'a malformed bundle',
      () => new TextEncoder().encode('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}'),
      'bad-signature',
      'bundle signature: bundle is malformed: bad content, verificationMaterial',
    ],
    [
      'the keyless cosign sample bundle',
      () => new TextEncoder().encode(fixture('cosign-oci-attestation.sigstore.json')),
      'untrusted-key',
      'bundle signature: keyless signature by subject "cody@soyland.com", issuer "https://github.com/login/oauth"; no certificate identity is trusted',
    ],
  ];
  it.each(cases)('refuses %s', async (_what, make, reason, detail) => {
    const v = await verifySignatures({ digest: DIGEST, legacy: [], bundles: [await make()], trustedKeys: trusted });
    expect(failure(v)).toEqual({ reason, detail: detail.replace('STRANGER', stranger.publicKey.fingerprint) });
  });

  it('refuses a bundle whose hint names the trusted key but another key signed it', async () => {
    const forged = editBundle(await signBundle(stranger, DIGEST), (b) => {
      (b as unknown as { verificationMaterial: { publicKey: { hint: string } } }).verificationMaterial.publicKey.hint = release.publicKey.hint;
    });
    expect(failure(await verifySignatures({ digest: DIGEST, legacy: [], bundles: [forged], trustedKeys: trusted })).reason).toBe('bad-signature');
  });
});

describe('several failing signatures', () => {
  it('reports the most telling reason: digest-mismatch, then bad-signature, then untrusted-key', async () => {
    const v = await verifySignatures({
      digest: DIGEST,
      legacy: [legacy(stranger), legacy(release, OTHER)],
      bundles: [await signBundle(p384, DIGEST)],
      trustedKeys: trusted,
    });
    expect(failure(v)).toEqual({ reason: 'digest-mismatch', detail: `legacy signature: payload is for ${OTHER} (3 signatures, none trusted)` });
    expect(v.rejected.map((r) => [r.format, r.index, r.reason])).toEqual([
      ['legacy', 0, 'untrusted-key'],
      ['legacy', 1, 'digest-mismatch'],
      ['bundle', 0, 'bad-signature'],
    ]);
  });

  it('says untrusted-key when the policy trusts no key', async () => {
    const v = await verifySignatures({ digest: DIGEST, legacy: [legacy(release, DIGEST, false)], bundles: [], trustedKeys: [] });
    expect(failure(v)).toEqual({ reason: 'untrusted-key', detail: 'legacy signature: no trusted keys' });
  });
});

describe('mutation fuzzing (seeded)', () => {
  /** A small deterministic PRNG (mulberry32), so a failure reproduces. */
  function rng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function mutate(bytes: Uint8Array, next: () => number): Uint8Array {
    const out = Uint8Array.from(bytes);
    const n = 1 + Math.floor(next() * 3);
    for (let i = 0; i < n; i++) out[Math.floor(next() * out.length)] = Math.floor(next() * 256);
    // A mutation that wrote back the bytes it replaced is no mutation (the keys, and so the
    // signatures, are new each run): make sure something changed.
    if (out.every((b, i) => b === bytes[i])) out[0] = out[0]! ^ 1;
    return out;
  }

  it('never verifies and never throws on mutated legacy signatures and payloads', async () => {
    const next = rng(1);
    const good = legacy(release);
    const sigBytes = new TextEncoder().encode(good.signature);
    for (let i = 0; i < 300; i++) {
      const sig = i % 2 === 0 ? { ...good, payload: mutate(good.payload, next) } : { ...good, signature: new TextDecoder().decode(mutate(sigBytes, next)) };
      const v = await verifySignatures({ digest: DIGEST, legacy: [sig], bundles: [], trustedKeys: trusted });
      expect(v.verified, `mutation ${i}`).toBe(false);
    }
  });

  it('never throws on mutated bundles, and verifies one only if what is signed is unchanged', async () => {
    const next = rng(2);
    const good = await signBundle(release, DIGEST);
    const envelope = (b: Uint8Array): unknown =>
      (JSON.parse(new TextDecoder().decode(b)) as { dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] } }).dsseEnvelope;
    const signed = (b: Uint8Array): unknown => {
      const e = envelope(b) as { payload: string; payloadType: string; signatures: { sig: string }[] };
      return [Buffer.from(e.payload, 'base64').toString('hex'), e.payloadType, Buffer.from(e.signatures[0]!.sig, 'base64').toString('hex')];
    };
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = mutate(good, next);
      const v = await verifySignatures({ digest: DIGEST, legacy: [], bundles: [bytes], trustedKeys: trusted });
      if (v.verified) expect(signed(bytes), `mutation ${i}`).toEqual(signed(good));
      else refused++;
    }
    expect(refused).toBeGreaterThan(250);
  });
});
