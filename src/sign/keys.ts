// Cosign-compatible key files: the encrypted private key (`ENCRYPTED SIGSTORE PRIVATE KEY`)
// and the SPKI public key (`cosign.pub`). Format: cosign@v3 `pkg/cosign/keys.go` and
// go-securesystemslib@v0.11.0 `encrypted/encrypted.go` (scrypt KDF + NaCl secretbox around
// a PKCS#8 DER key). ebpm signs and verifies ECDSA P-256 with SHA-256 only: cosign's default,
// and the only key `cosign generate-key-pair` makes.
import { createHash, createPrivateKey, createPublicKey, generateKeyPair as nodeGenerateKeyPair, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type nacl from 'tweetnacl';
import { EbpmError } from '../core/errors.js';
import { decodeBase64Strict, decodePem, encodePem, type PemBlock } from './pem.js';

/** `PublicKey` is a parsed P-256 verification key with the ids ebpm shows and matches on. */
export interface PublicKey {
  readonly key: KeyObject;
  /** DER SubjectPublicKeyInfo, what both ids hash. */
  readonly spki: Buffer;
  /** `hint` is base64(sha256(SPKI DER)), what cosign writes as the bundle key hint. */
  readonly hint: string;
  /** `fingerprint` is the first 16 hex digits of sha256(SPKI DER), for display and records. */
  readonly fingerprint: string;
}

/** `SigningKey` is a decrypted P-256 private key and its public half. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: PublicKey;
}

/** `TrustedKey` is a public key the trust policy names, with the label users know it by. */
export interface TrustedKey {
  readonly label: string;
  readonly publicKey: PublicKey;
}

/** `KeyPairPem` is what `ebpm keygen` writes: `cosign.key` and `cosign.pub` contents. */
export interface KeyPairPem {
  readonly privatePem: string;
  readonly publicPem: string;
  readonly publicKey: PublicKey;
}

/** The PEM types cosign writes for encrypted keys (new and legacy). */
export const SIGSTORE_PRIVATE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_PRIVATE_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';

/**
 * The scrypt cost parameters go-securesystemslib `CheckParams` accepts, and nothing else
 * (an attacker-chosen N would otherwise let a key file burn memory and CPU).
 */
export const ACCEPTED_SCRYPT_N: readonly number[] = [32768, 65536, 131072];
const SCRYPT_R = 8;
const SCRYPT_P = 1;
/** go-securesystemslib ≥ v0.7.0 `Encrypt` default ("Standard"). */
const DEFAULT_SCRYPT_N = 65536;
const SALT_BYTES = 32;

/** nacl/secretbox (XSalsa20-Poly1305) sizes, as tweetnacl's `secretbox.*Length`: envelopes are checked without loading it. */
const SECRETBOX = { keyLength: 32, nonceLength: 24, overheadLength: 16 } as const;

/** tweetnacl, loaded only to seal or open a private key: reading public keys (every policy load) needs none of it. */
async function secretbox(): Promise<typeof nacl.secretbox> {
  return (await import('tweetnacl')).default.secretbox;
}

const scryptAsync = promisify(scrypt) as (pw: Buffer, salt: Buffer, len: number, o: object) => Promise<Buffer>;
const generateEc = promisify(nodeGenerateKeyPair);

/**
 * `generateKeyPair` makes a new P-256 key and seals it as cosign does
 * (`ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt N=65536 r=8 p=1, 32-byte salt). An empty password
 * is allowed, as in cosign.
 */
export async function generateKeyPair(password: string | Uint8Array): Promise<KeyPairPem> {
  const { privateKey } = await generateEc('ec', { namedCurve: 'prime256v1' });
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(SECRETBOX.nonceLength);
  const secret = await deriveKey(password, salt, DEFAULT_SCRYPT_N);
  const ciphertext = (await secretbox())(pkcs8, nonce, secret);
  secret.fill(0);
  // Field order and base64 of []byte fields as Go's json.Marshal writes the envelope.
  const envelope =
    `{"kdf":{"name":"scrypt","params":{"N":${DEFAULT_SCRYPT_N},"r":${SCRYPT_R},"p":${SCRYPT_P}},"salt":"${salt.toString('base64')}"},` +
    `"cipher":{"name":"nacl/secretbox","nonce":"${nonce.toString('base64')}"},"ciphertext":"${Buffer.from(ciphertext).toString('base64')}"}`;
  const publicKey = toPublicKey(createPublicKey(privateKey));
  return {
    privatePem: encodePem(SIGSTORE_PRIVATE_KEY_PEM, Buffer.from(envelope)),
    publicPem: encodePem('PUBLIC KEY', publicKey.spki),
    publicKey,
  };
}

/**
 * `readPrivateKey` opens a private key file: cosign's encrypted PEM (either label, every
 * scrypt N cosign accepts) or a plain PKCS#8 `PRIVATE KEY` / SEC1 `EC PRIVATE KEY`.
 * The password is never put in an error.
 */
export async function readPrivateKey(pem: string, password: string | Uint8Array): Promise<SigningKey> {
  const block = singleKeyBlock(pem);
  let privateKey: KeyObject;
  switch (block.type) {
    case SIGSTORE_PRIVATE_KEY_PEM:
    case COSIGN_PRIVATE_KEY_PEM:
      privateKey = parsePkcs8(await openEnvelope(block.der, password), 'encrypted key');
      break;
    case 'PRIVATE KEY':
      privateKey = parsePkcs8(block.der, 'private key');
      break;
    case 'EC PRIVATE KEY':
      privateKey = parseDer(() => createPrivateKey({ key: block.der, format: 'der', type: 'sec1' }), 'ec private key');
      break;
    default:
      throw unsupported(`"${block.type}" is not a private key type ebpm reads`);
  }
  requireP256(privateKey);
  return { privateKey, publicKey: toPublicKey(createPublicKey(privateKey)) };
}

/** `readPublicKey` parses a PEM SPKI `PUBLIC KEY` (a `cosign.pub`). */
export function readPublicKey(pem: string): PublicKey {
  const block = singleKeyBlock(pem);
  if (block.type !== 'PUBLIC KEY') throw unsupported(`"${block.type}" is not a public key; expected "PUBLIC KEY"`);
  const key = parseDer(() => createPublicKey({ key: block.der, format: 'der', type: 'spki' }), 'public key');
  requireP256(key);
  return toPublicKey(key);
}

/** `keyHint` is base64(sha256(SPKI DER)): cosign's key hint in bundles (`internal/key/svkeypair.go`). */
export function keyHint(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('base64');
}

/** `keyFingerprint` is the short display id: 16 hex digits of sha256(SPKI DER). */
export function keyFingerprint(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex').slice(0, 16);
}

/**
 * `hintFingerprint` is the fingerprint of the key a hint names (a hint is base64 of the same
 * sha256), so that a key is shown the same way whether it was found or only named; a hint
 * that is not base64 of a sha256 is shown as it is.
 */
export function hintFingerprint(hint: string): string {
  const bytes = Buffer.from(hint, 'base64');
  return bytes.length === 32 && bytes.toString('base64') === hint ? bytes.subarray(0, 8).toString('hex') : hint;
}

/** `toPublicKey` is a verification key with its ids (the key of a keyless certificate, too). */
export function toPublicKey(key: KeyObject): PublicKey {
  const spki = key.export({ format: 'der', type: 'spki' });
  return { key, spki, hint: keyHint(spki), fingerprint: keyFingerprint(spki) };
}

/** One key block per file; `EC PARAMETERS` blocks (`openssl ecparam -genkey` output) are skipped. */
function singleKeyBlock(pem: string): PemBlock {
  const blocks = decodePem(pem).filter((b) => b.type !== 'EC PARAMETERS');
  if (blocks.length === 0) throw malformed('no pem block found');
  if (blocks.length > 1) throw malformed(`${blocks.length} pem blocks found, expected one key`);
  return blocks[0]!;
}

interface Envelope {
  readonly n: number;
  readonly salt: Buffer;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
}

/** Decrypts the scrypt + secretbox envelope to the PKCS#8 DER it holds. */
async function openEnvelope(der: Buffer, password: string | Uint8Array): Promise<Buffer> {
  const env = parseEnvelope(der);
  const secret = await deriveKey(password, env.salt, env.n);
  const plain = (await secretbox()).open(env.ciphertext, env.nonce, secret);
  secret.fill(0);
  if (plain === null) {
    throw new EbpmError('KEY_BAD_PASSWORD', 'decrypt private key: wrong password', {
      hint: 'give the password the key was created with (EBPM_PASSWORD, or COSIGN_PASSWORD, or at the prompt)',
    });
  }
  return Buffer.from(plain);
}

/** Narrows the envelope JSON, listing every bad field. */
function parseEnvelope(der: Buffer): Envelope {
  let doc: unknown;
  try {
    doc = JSON.parse(der.toString('utf8'));
  } catch (e) {
    throw malformed('encrypted key: body is not json', e);
  }
  const bad: string[] = [];
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    bad.push(`${path} is not an object`);
    return {};
  };
  const bytes = (v: unknown, path: string, len?: number): Buffer => {
    const b = typeof v === 'string' ? decodeBase64Strict(v) : undefined;
    if (b === undefined) bad.push(`${path} is not base64`);
    else if (len !== undefined && b.length !== len) bad.push(`${path} is ${b.length} bytes, expected ${len}`);
    else if (b.length === 0) bad.push(`${path} is empty`);
    return b ?? Buffer.alloc(0);
  };
  const root = obj(doc, 'key');
  const kdf = obj(root.kdf, 'kdf');
  const params = obj(kdf.params, 'kdf.params');
  const cipher = obj(root.cipher, 'cipher');
  if (kdf.name !== 'scrypt') bad.push('kdf.name is not "scrypt"');
  if (cipher.name !== 'nacl/secretbox') bad.push('cipher.name is not "nacl/secretbox"');
  const salt = bytes(kdf.salt, 'kdf.salt');
  const nonce = bytes(cipher.nonce, 'cipher.nonce', SECRETBOX.nonceLength);
  const ciphertext = bytes(root.ciphertext, 'ciphertext');
  if (ciphertext.length > 0 && ciphertext.length <= SECRETBOX.overheadLength) bad.push('ciphertext is too short');
  const { N: n, r, p } = params;
  const paramsOk = typeof n === 'number' && ACCEPTED_SCRYPT_N.includes(n) && r === SCRYPT_R && p === SCRYPT_P;
  if (bad.length > 0) throw malformed(`encrypted key: ${bad.join(', ')}`);
  if (!paramsOk) {
    throw unsupported(`encrypted key: scrypt parameters ${JSON.stringify({ N: n, r, p })} are not accepted`, {
      hint: `cosign and ebpm accept N in ${ACCEPTED_SCRYPT_N.join(', ')} with r=8 p=1; re-encrypt the key with cosign or ebpm`,
    });
  }
  return { n: n as number, salt, nonce, ciphertext };
}

async function deriveKey(password: string | Uint8Array, salt: Buffer, n: number): Promise<Buffer> {
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password);
  // scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) is below N=65536's 64 MiB.
  return scryptAsync(pw, salt, SECRETBOX.keyLength, { N: n, r: SCRYPT_R, p: SCRYPT_P, maxmem: 256 * n * SCRYPT_R + (1 << 20) });
}

/**
 * PKCS#8 only, as cosign's `x509.ParsePKCS8PrivateKey`: an envelope holding a SEC1 key
 * (cosign's own `pemcosigneckey` test vector) is refused as cosign refuses it.
 */
function parsePkcs8(der: Buffer, what: string): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (e) {
    let sec1 = false;
    try {
      createPrivateKey({ key: der, format: 'der', type: 'sec1' });
      sec1 = true;
    } catch {
      // neither PKCS#8 nor SEC1: reported below as malformed
    }
    if (sec1) throw malformed(`${what}: holds a SEC1 ec key, not PKCS#8`, e);
    throw malformed(`${what}: not a PKCS#8 key`, e);
  }
}

function parseDer(parse: () => KeyObject, what: string): KeyObject {
  try {
    return parse();
  } catch (e) {
    throw malformed(`${what}: cannot parse der`, e);
  }
}

function requireP256(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type === 'ec' && curve === 'prime256v1') return;
  throw unsupported(type === 'ec' ? `ecdsa curve ${curve ?? 'unknown'} is not supported` : `${type ?? 'unknown'} keys are not supported`);
}

function malformed(message: string, cause?: unknown): EbpmError {
  return new EbpmError('KEY_MALFORMED', message, { cause, hint: 'the key file is damaged or not a key; export or generate it again' });
}

function unsupported(message: string, opts: { hint?: string } = {}): EbpmError {
  return new EbpmError('KEY_UNSUPPORTED', message, {
    hint: opts.hint ?? 'ebpm signs and verifies ECDSA P-256 keys (cosign generate-key-pair, ebpm keygen)',
  });
}
