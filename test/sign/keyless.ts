// Keyless signing for tests, offline: a mock Fulcio CA (with a CT log that embeds an SCT in
// every certificate), a mock Rekor v1 log and a mock RFC 3161 TSA from `@sigstore/mock`, used
// through their in-process APIs (no HTTP, no OIDC token), and the `trusted_root.json` that
// trusts them. `signKeyless` writes the bundle cosign v3 writes for an image signed keylessly:
// the cosign sign statement in a DSSE envelope, the Fulcio certificate, and the log entry
// and/or timestamp.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { bundleToJSON, toDSSEBundle } from '@sigstore/bundle';
import { initializeCA, initializeCTLog, initializeTLog, initializeTSA } from '@sigstore/mock';
import type { Digest } from '../../src/core/digest.js';
import { IN_TOTO_PAYLOAD_TYPE, signStatement } from '../../src/sign/bundle.js';

/** Fulcio's OIDC issuer extension (v2, DER UTF8String), `1.3.6.1.4.1.57264.1.8`. */
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const REKOR_URL = 'https://rekor.mock.test';

/** A Rekor v1 log entry as the mock returns it (the API's `LogEntry` value). */
interface RekorEntry {
  readonly body: string;
  readonly integratedTime: number;
  readonly logID: string;
  readonly logIndex: number;
  readonly verification: {
    readonly signedEntryTimestamp: string;
    readonly inclusionProof: { logIndex: number; rootHash: string; treeSize: number; hashes: string[]; checkpoint: string };
  };
}

/** `KeylessAuthority` is one mock sigstore deployment and the trusted root naming it. */
export interface KeylessAuthority {
  readonly ca: Awaited<ReturnType<typeof initializeCA>>;
  readonly tlog: Awaited<ReturnType<typeof initializeTLog>>;
  readonly tsa: Awaited<ReturnType<typeof initializeTSA>>;
  /** The sigstore TrustedRoot JSON (`trusted_root.json`) for this deployment. */
  readonly trustedRoot: Record<string, unknown>;
}

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const b64 = (b: ArrayBufferView) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
const FOREVER = { start: '2000-01-01T00:00:00Z' };

function logInstance(baseUrl: string, spki: Buffer) {
  return {
    baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: spki.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: FOREVER },
    logId: { keyId: createHash('sha256').update(spki).digest('base64') },
  };
}

/** `keylessAuthority` starts a mock Fulcio (with CT log), Rekor and TSA, each with keys of its own. */
export async function keylessAuthority(): Promise<KeylessAuthority> {
  // One fixed clock for the four: the Fulcio certificates are valid from it, log entries and
  // timestamps are at it. The mock's CA and TSA certificates are valid from the moment they are
  // made for a year, so the clock is an hour ahead: every certificate is valid at it however
  // slowly this runs. Whole seconds, as RFC 3161 `genTime` is read back.
  const clock = new Date(Math.floor(Date.now() / 1000) * 1000 + 3600_000);
  const ctlog = await initializeCTLog(p256(), clock);
  const ca = await initializeCA(p256(), ctlog, clock);
  const tlog = await initializeTLog(REKOR_URL, p256(), clock);
  const tsa = await initializeTSA(p256(), clock);
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [logInstance(REKOR_URL, tlog.publicKey)],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: 'https://fulcio.mock.test',
        certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
        validFor: FOREVER,
      },
    ],
    ctlogs: [logInstance('https://ctfe.mock.test', ctlog.publicKey)],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'tsa' },
        certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
        validFor: FOREVER,
      },
    ],
  };
  return { ca, tlog, tsa, trustedRoot };
}

export interface KeylessSignOptions {
  /** The certificate's SAN (a URI, as Fulcio writes for workflow identities). */
  readonly subject: string;
  /** The OIDC issuer Fulcio records in the certificate. */
  readonly issuer: string;
  /** A Rekor v1 entry with its signed entry timestamp (default true). */
  readonly tlog?: boolean;
  /** An RFC 3161 timestamp over the signature (default false). */
  readonly timestamp?: boolean;
  /** A v0.2 bundle naming the certificate as a one-element `x509CertificateChain`, as sigstore clients wrote before v0.3. */
  readonly chain?: boolean;
}

/** `signKeyless` signs `digest` with a fresh key certified by `authority`'s CA and returns the bundle JSON bytes. */
export async function signKeyless(authority: KeylessAuthority, digest: Digest, opts: KeylessSignOptions): Promise<Uint8Array> {
  const { privateKey, publicKey } = p256();
  const certificate = Buffer.from(
    (
      await authority.ca.issueCertificate({
        publicKey: publicKey.export({ format: 'der', type: 'spki' }),
        subjectAltName: opts.subject,
        extensions: [{ oid: OID_ISSUER_V2, value: opts.issuer }],
      })
    ).buffer,
  );
  const payload = Buffer.from(signStatement(digest));
  const type = Buffer.from(IN_TOTO_PAYLOAD_TYPE);
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
  const signature = sign('sha256', pae, privateKey);
  const bundle = toDSSEBundle({ artifact: payload, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, certificate, certificateChain: opts.chain ?? false });
  if (opts.tlog ?? true) {
    const envelope = JSON.stringify({
      payload: payload.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: signature.toString('base64') }],
    });
    const pem = `-----BEGIN CERTIFICATE-----\n${certificate.toString('base64')}\n-----END CERTIFICATE-----\n`;
    const logged = await authority.tlog.log({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: createHash('sha256').update(envelope).digest('hex') },
        payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
        signatures: [{ signature: signature.toString('base64'), verifier: Buffer.from(pem).toString('base64') }],
      },
    });
    const entry = Object.values(logged)[0] as RekorEntry;
    const proof = entry.verification.inclusionProof;
    bundle.verificationMaterial.tlogEntries = [
      {
        logIndex: String(entry.logIndex),
        logId: { keyId: Buffer.from(entry.logID, 'hex') },
        kindVersion: { kind: 'dsse', version: '0.0.1' },
        integratedTime: String(entry.integratedTime),
        inclusionPromise: { signedEntryTimestamp: Buffer.from(entry.verification.signedEntryTimestamp, 'base64') },
        inclusionProof: {
          logIndex: String(proof.logIndex),
          rootHash: Buffer.from(proof.rootHash, 'hex'),
          treeSize: String(proof.treeSize),
          hashes: proof.hashes.map((h) => Buffer.from(h, 'hex')),
          checkpoint: { envelope: proof.checkpoint },
        },
        canonicalizedBody: Buffer.from(entry.body, 'base64'),
      },
    ];
  }
  if (opts.timestamp) {
    const token = await authority.tsa.timestamp({
      artifactHash: createHash('sha256').update(signature).digest(),
      hashAlgorithmOID: '2.16.840.1.101.3.4.2.1',
      nonce: 1,
      policyOID: '1.3.6.1.4.1.57264.2',
    });
    bundle.verificationMaterial.timestampVerificationData = {
      rfc3161Timestamps: [{ signedTimestamp: Buffer.from(token.buffer, token.byteOffset, token.byteLength) }],
    };
  }
  return new TextEncoder().encode(JSON.stringify(bundleToJSON(bundle)));
}
