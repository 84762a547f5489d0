import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, scryptSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, hintFingerprint, keyFingerprint, keyHint, readPrivateKey, readPublicKey } from '../../src/sign/keys.js';
import { TEST_PASSWORD, caught, fixture } from './helpers.js';

const PASSWORD = TEST_PASSWORD;

/** An encoder written from go-securesystemslib's format, independent of src/sign/keys.ts. */
function seal(pkcs8: Buffer, password: string, params: { N: number; r: number; p: number }, label = 'ENCRYPTED SIGSTORE PRIVATE KEY'): string {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const key = scryptSync(password, salt, 32, { ...params, maxmem: 256 * params.N * params.r + (1 << 20) });
  const env = {
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(nacl.secretbox(pkcs8, nonce, key)).toString('base64'),
  };
  return pemOf(label, Buffer.from(JSON.stringify(env)));
}

function pemOf(label: string, body: Buffer): string {
  return `-----BEGIN ${label}-----\n${body
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;
}

function envelopeOf(pem: string): Record<string, unknown> {
  const body = pem
    .split('\n')
    .filter((l) => !l.startsWith('-----'))
    .join('');
  return JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as Record<string, unknown>;
}

const p256Pkcs8 = (): Buffer => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'der', type: 'pkcs8' });

describe('cosign test vectors (sigstore/cosign pkg/cosign/keys_test.go, password "hello")', () => {
  it('decrypts pemsigstorekey (ENCRYPTED SIGSTORE, N=32768) to its P-256 key', async () => {
    const k = await readPrivateKey(fixture('cosign-pemsigstorekey.key'), 'hello');
    expect(k.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(k.publicKey.hint).toBe('8QV788EU1UhvC9s8cCWW1hVBWCSJgNS+SfbGH9xixZE=');
    expect(k.publicKey.fingerprint).toBe('f1057bf3c114d548');
  });

  it('decrypts pemcosignkey (legacy ENCRYPTED COSIGN label) to PKCS#8 EC P-256', async () => {
    const k = await readPrivateKey(fixture('cosign-pemcosignkey.key'), 'hello');
    expect(k.publicKey.hint).toBe('pmWcCLmQmIDG5LxRyrb9cmVnP2fWFMILpZoYlX/rcA0=');
  });

  it('refuses pemcosigneckey, which decrypts to SEC1, as cosign does', async () => {
    const e = await caught(() => readPrivateKey(fixture('cosign-pemcosigneckey.key'), 'hello'), ['hello']);
    expect(e.code).toBe('KEY_MALFORMED');
    expect(e.message).toBe('encrypted key: holds a SEC1 ec key, not PKCS#8');
  });

  it('says KEY_BAD_PASSWORD for a wrong password, without the password', async () => {
    const e = await caught(() => readPrivateKey(fixture('cosign-pemsigstorekey.key'), PASSWORD), [PASSWORD]);
    expect(e.code).toBe('KEY_BAD_PASSWORD');
    expect(e.message).toBe('decrypt private key: wrong password');
  });

  it('reads plain SEC1 (validecp256) and PKCS#8 (validecpkcs8) P-256 keys; their public halves are the ones in the files', async () => {
    const sec1 = await readPrivateKey(fixture('cosign-validecp256.key'), '');
    expect(sec1.publicKey.hint).toBe('bZ1PAvZz+AVw1e0vYSNgYM5kR1GICpXx4kgvpCDx4z4=');
    const pkcs8 = await readPrivateKey(fixture('cosign-validecpkcs8.key'), '');
    expect(pkcs8.publicKey.hint).toBe('t9OeYHQ/BOh7a8Dt/8LioXPnd5i6NyEqVwwN98T+D6o=');
  });

  it.each([
    ['cosign-validecp384.key', 'KEY_UNSUPPORTED', 'ecdsa curve secp384r1 is not supported'],
    ['cosign-ed25519.key', 'KEY_UNSUPPORTED', 'ed25519 keys are not supported'],
    ['cosign-validrsapkcs8.key', 'KEY_UNSUPPORTED', 'rsa keys are not supported'],
    ['cosign-invalidkey.key', 'KEY_MALFORMED', 'pem block "PGP PRIVATE KEY BLOCK" has no valid base64 body'],
  ])('refuses %s with %s', async (name, code, message) => {
    const e = await caught(() => readPrivateKey(fixture(name), 'hello'), ['hello']);
    expect([e.code, e.message]).toEqual([code, message]);
  });
});

describe('generateKeyPair', () => {
  it('writes an ENCRYPTED SIGSTORE PRIVATE KEY that cosign can read: scrypt N=65536 r=8 p=1, 32-byte salt, 24-byte nonce, PKCS#8 inside', async () => {
    const pair = await generateKeyPair(PASSWORD);
    expect(pair.privatePem).toMatch(
      /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n$/,
    );
    const env = envelopeOf(pair.privatePem) as {
      kdf: { name: string; params: unknown; salt: string };
      cipher: { name: string; nonce: string };
      ciphertext: string;
    };
    expect(Object.keys(env)).toEqual(['kdf', 'cipher', 'ciphertext']);
    expect(env.kdf.name).toBe('scrypt');
    expect(env.kdf.params).toEqual({ N: 65536, r: 8, p: 1 });
    expect(Buffer.from(env.kdf.salt, 'base64')).toHaveLength(32);
    expect(env.cipher.name).toBe('nacl/secretbox');
    expect(Buffer.from(env.cipher.nonce, 'base64')).toHaveLength(24);
    // Open it independently: the plaintext is a PKCS#8 P-256 key whose public half is publicPem.
    const secret = scryptSync(PASSWORD, Buffer.from(env.kdf.salt, 'base64'), 32, { N: 65536, r: 8, p: 1, maxmem: 200 << 20 });
    const plain = nacl.secretbox.open(Buffer.from(env.ciphertext, 'base64'), Buffer.from(env.cipher.nonce, 'base64'), secret);
    const key = createPrivateKey({ key: Buffer.from(plain!), format: 'der', type: 'pkcs8' });
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(readPublicKey(pair.publicPem).hint).toBe(pair.publicKey.hint);

    const back = await readPrivateKey(pair.privatePem, PASSWORD);
    expect(back.publicKey.hint).toBe(pair.publicKey.hint);
    expect(pair.privatePem).not.toContain(PASSWORD);
  });

  it('allows an empty password, as cosign does', async () => {
    const pair = await generateKeyPair('');
    expect((await readPrivateKey(pair.privatePem, '')).publicKey.fingerprint).toBe(pair.publicKey.fingerprint);
  });
});

describe('readPrivateKey scrypt parameters', () => {
  it.each([32768, 131072])('accepts N=%i r=8 p=1 (cosign CheckParams)', async (N) => {
    const der = p256Pkcs8();
    const k = await readPrivateKey(seal(der, PASSWORD, { N, r: 8, p: 1 }, 'ENCRYPTED COSIGN PRIVATE KEY'), PASSWORD);
    expect(k.privateKey.export({ format: 'der', type: 'pkcs8' }).equals(der)).toBe(true);
  });

  it.each([[{ N: 16384, r: 8, p: 1 }], [{ N: 65536, r: 16, p: 1 }], [{ N: 65536, r: 8, p: 2 }]])('refuses %j with KEY_UNSUPPORTED', async (params) => {
    const pem = seal(p256Pkcs8(), PASSWORD, params);
    const e = await caught(() => readPrivateKey(pem, PASSWORD), [PASSWORD]);
    expect(e.code).toBe('KEY_UNSUPPORTED');
    expect(e.message).toBe(`encrypted key: scrypt parameters ${JSON.stringify(params)} are not accepted`);
  });

  it('refuses a huge N before running scrypt', async () => {
    const pem = pemOf(
      'ENCRYPTED SIGSTORE PRIVATE KEY',
      Buffer.from(
        JSON.stringify({
          kdf: { name: 'scrypt', params: { N: 2 ** 30, r: 8, p: 1 }, salt: 'AAAA' },
          cipher: { name: 'nacl/secretbox', nonce: Buffer.alloc(24).toString('base64') },
          ciphertext: Buffer.alloc(40).toString('base64'),
        }),
      ),
    );
    // KEY_UNSUPPORTED is the parameter check's, made before deriving anything (scrypt at
    // N=2^30 would need 1 GiB and many seconds).
    expect((await caught(() => readPrivateKey(pem, PASSWORD))).code).toBe('KEY_UNSUPPORTED');
  });

  it('lists every bad envelope field in one KEY_MALFORMED', async () => {
    const pem = pemOf(
      'ENCRYPTED SIGSTORE PRIVATE KEY',
      Buffer.from(
        JSON.stringify({
          kdf: { name: 'argon2', params: { N: 32768, r: 8, p: 1 }, salt: 'not base64!' },
          cipher: { name: 'aes', nonce: 'AAAA' },
          ciphertext: 'AAAA',
        }),
      ),
    );
    const e = await caught(() => readPrivateKey(pem, PASSWORD), [PASSWORD]);
    expect(e.code).toBe('KEY_MALFORMED');
    expect(e.message).toBe(
      'encrypted key: kdf.name is not "scrypt", cipher.name is not "nacl/secretbox", kdf.salt is not base64, cipher.nonce is 3 bytes, expected 24, ciphertext is too short',
    );
  });

  it('refuses an envelope that is not JSON', async () => {
    const e = await caught(() => readPrivateKey(pemOf('ENCRYPTED COSIGN PRIVATE KEY', Buffer.from('{"kdf":')), PASSWORD));
    expect([e.code, e.message]).toEqual(['KEY_MALFORMED', 'encrypted key: body is not json']);
  });
});

describe('readPublicKey and key ids', () => {
  it('reads the sigstore ecdsaPub vector; the hint is base64 sha256 of the SPKI DER', () => {
    const pem = fixture('sigstore-ecdsa.pub');
    const k = readPublicKey(pem);
    const der = Buffer.from(
      pem
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'))
        .join(''),
      'base64',
    );
    expect(k.spki.equals(der)).toBe(true);
    expect(k.hint).toBe(createHash('sha256').update(der).digest('base64'));
    expect(k.hint).toBe('BbkI287U+rGk116fUp1kEAlO2fqo8nhIJHfaxW9erx0=');
    expect(k.fingerprint).toBe('05b908dbced4fab1');
    expect(keyHint(der)).toBe(k.hint);
    expect(keyFingerprint(der)).toBe(createHash('sha256').update(der).digest('hex').slice(0, 16));
  });

  it('skips EC PARAMETERS blocks (openssl ecparam -genkey output)', async () => {
    const text = `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${fixture('cosign-validecp256.key')}`;
    expect((await readPrivateKey(text, '')).publicKey.fingerprint).toBe('6d9d4f02f673f805');
  });

  it.each([
    ['a private key', () => fixture('cosign-validecpkcs8.key'), 'KEY_UNSUPPORTED', '"PRIVATE KEY" is not a public key; expected "PUBLIC KEY"'],
    [
      'a P-384 key',
      () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'pem', type: 'spki' }) as string,
      'KEY_UNSUPPORTED',
      'ecdsa curve secp384r1 is not supported',
    ],
    ['text without pem', () => 'ssh-ed25519 AAAA', 'KEY_MALFORMED', 'no pem block found'],
    ['two keys', () => fixture('sigstore-ecdsa.pub') + fixture('sigstore-ecdsa.pub'), 'KEY_MALFORMED', '2 pem blocks found, expected one key'],
    [
      'mismatched labels',
      () => '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      'KEY_MALFORMED',
      'pem block "PUBLIC KEY" ends with "PRIVATE KEY"',
    ],
    ['a corrupted body', () => fixture('sigstore-ecdsa.pub').replace('MFkw', 'MFkx'), 'KEY_MALFORMED', 'public key: cannot parse der'],
  ])('refuses %s', async (_what, pem, code, message) => {
    const e = await caught(() => readPublicKey(pem()));
    expect([e.code, e.message]).toEqual([code, message]);
  });
});

describe('hintFingerprint', () => {
  it('shows a hint as the fingerprint of the key it names, and anything else as it is', () => {
    const key = readPublicKey(fixture('sigstore-js-key-1.pub'));
    expect(hintFingerprint(key.hint)).toBe(key.fingerprint);
    expect(hintFingerprint('key-1')).toBe('key-1');
    expect(hintFingerprint(Buffer.alloc(31).toString('base64'))).toBe(`${'A'.repeat(40)}AA==`);
  });
});
