import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/core/oci.js';
import { readPrivateKey, readPublicKey, type SigningKey } from '../../src/sign/keys.js';
import {
  ANNOTATION_COSIGN_SIGNATURE,
  ANNOTATION_EBPM_KEY_HINT,
  MEDIA_TYPE_SIMPLE_SIGNING,
  buildPayload,
  legacySignatureLayers,
  legacySignatureManifest,
  parsePayload,
  signPayload,
  signatureTag,
  verifyPayload,
} from '../../src/sign/payload.js';
import { caught, fixture, fixtureBytes } from './helpers.js';

const DIGEST = 'sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec';
const REPO_OF = (s: string): string => `localhost:5000/${s}`;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('simple-signing payload', () => {
  it('writes the exact bytes of cosign pkg/cosign/obsolete_test.go', () => {
    expect(Buffer.from(buildPayload('index.docker.io/namespace/image', DIGEST)).equals(Buffer.from(fixtureBytes('cosign-obsolete-payload.json')))).toBe(true);
  });

  it('parses the upstream payload and writes it back byte for byte', () => {
    const p = parsePayload(fixtureBytes('cosign-obsolete-payload.json'));
    expect(p).toEqual({ reference: 'index.docker.io/namespace/image', digest: DIGEST, optional: null });
    expect(text(buildPayload(p.reference, p.digest))).toBe(fixture('cosign-obsolete-payload.json'));
  });

  it('writes optional annotations as Go does: keys sorted by UTF-8 bytes, <>& and U+2028 escaped', () => {
    const bytes = buildPayload('localhost:5000/acme/sig<snoop>', DIGEST, { é: '1', b: '<b>&', Z: 'line\u2028sep', a: 'tab\tq"' });
    expect(text(bytes)).toBe(
      '{"critical":{"identity":{"docker-reference":"localhost:5000/acme/sig\\u003csnoop\\u003e"},"image":{"docker-manifest-digest":"' +
        DIGEST +
        '"},"type":"cosign container image signature"},"optional":{"Z":"line\\u2028sep","a":"tab\\tq\\"","b":"\\u003cb\\u003e\\u0026","é":"1"}}',
    );
    expect(parsePayload(bytes).optional).toEqual({ é: '1', b: '<b>&', Z: 'line\u2028sep', a: 'tab\tq"' });
  });

  it('escapes any string so that JSON.parse gives it back (lone surrogates as U+FFFD), with no raw <, >, &, U+2028, U+2029', () => {
    let seed = 7;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const pool = ['a', '<', '>', '&', '"', '\\', '\n', '\b', '\f', '\u0001', '\u007f', 'é', '\u2028', '\u2029', '😀', '\ud800', '\udfff', '/'];
    for (let i = 0; i < 500; i++) {
      const value = Array.from({ length: 1 + Math.floor(next() * 12) }, () => pool[Math.floor(next() * pool.length)]).join('');
      const json = text(buildPayload(REPO_OF(value), DIGEST));
      expect(json).not.toMatch(/[<>&\u2028\u2029]/);
      const expected = value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
      expect(parsePayload(new TextEncoder().encode(json)).reference).toBe(REPO_OF(expected));
    }
  });

  it('lists every bad field of a payload', async () => {
    const bad = new TextEncoder().encode(
      '{"critical":{"identity":{},"image":{"docker-manifest-digest":"sha256:XYZ"},"type":"https://example.com/x"},"optional":5}',
    );
    const e = await caught(() => parsePayload(bad));
    expect(e.code).toBe('SIGNATURE_PAYLOAD_INVALID');
    expect(e.data?.fields).toEqual([
      'critical.identity.docker-reference: missing',
      'critical.image.docker-manifest-digest: bad sha256 encoding',
      'critical.type: not "cosign container image signature"',
      'optional: not an object or null',
    ]);
  });

  it.each([
    ['not json', '{"critical":', 'not valid JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['invalid utf-8', '\xff', 'not valid JSON'],
  ])('refuses %s', async (_what, s, why) => {
    const e = await caught(() => parsePayload(Buffer.from(s, 'latin1')));
    expect([e.code, e.message]).toEqual(['SIGNATURE_PAYLOAD_INVALID', `simple-signing payload: payload: ${why}`]);
  });

  it('names the signature tag after the digest', async () => {
    expect(signatureTag(DIGEST)).toBe('sha256-4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec.sig');
    expect((await caught(() => signatureTag('sha256:ABC'))).code).toBe('INVALID_DIGEST');
  });
});

describe('ECDSA signatures over payloads', () => {
  let key: SigningKey;
  beforeAll(async () => {
    key = await readPrivateKey(fixture('cosign-pemsigstorekey.key'), 'hello');
  });

  it('verifies the sigstore/sigstore ecdsa_test.go vector ("sign me", openssl DER signature)', () => {
    const pub = readPublicKey(fixture('sigstore-ecdsa.pub'));
    const sig = fixture('sigstore-ecdsa-sign-me.sig');
    expect(verifyPayload(pub, new TextEncoder().encode('sign me'), sig)).toBe(true);
    expect(verifyPayload(pub, new TextEncoder().encode('sign me!'), sig)).toBe(false);
    expect(verifyPayload(pub, new TextEncoder().encode('sign me'), sig.slice(0, 40))).toBe(false);
  });

  it('signs as cosign does: base64 of a DER SEQUENCE{r,s} that verifies over sha256(payload)', () => {
    const payload = buildPayload('localhost:5000/acme/sigsnoop', DIGEST);
    const sig = signPayload(key, payload);
    const der = Buffer.from(sig, 'base64');
    expect(der[0]).toBe(0x30);
    expect(der[1]).toBe(der.length - 2);
    expect(verifyPayload(key.publicKey, payload, sig)).toBe(true);
    expect(verifyPayload(readPublicKey(fixture('sigstore-ecdsa.pub')), payload, sig)).toBe(false);
  });
});

describe('legacy .sig manifest', () => {
  it('builds an OCI manifest with the ggcr config and one simple-signing layer per signature, deduplicated', async () => {
    const key = await readPrivateKey(fixture('cosign-validecpkcs8.key'), '');
    const p1 = buildPayload('localhost:5000/acme/sigsnoop', DIGEST);
    const p2 = buildPayload('localhost:5000/acme/sigsnoop', DIGEST, { by: 'ci' });
    const s1 = signPayload(key, p1);
    const s2 = signPayload(key, p2);
    const built = legacySignatureManifest([
      { payload: p1, signature: s1 },
      { payload: p2, signature: s2, keyHint: key.publicKey.hint },
      { payload: p1, signature: s1 },
    ]);
    expect(built.manifest.layers).toEqual([
      { mediaType: MEDIA_TYPE_SIMPLE_SIGNING, digest: sha256(p1), size: p1.length, annotations: { [ANNOTATION_COSIGN_SIGNATURE]: s1 } },
      {
        mediaType: MEDIA_TYPE_SIMPLE_SIGNING,
        digest: sha256(p2),
        size: p2.length,
        annotations: { [ANNOTATION_COSIGN_SIGNATURE]: s2, [ANNOTATION_EBPM_KEY_HINT]: key.publicKey.hint },
      },
    ]);
    const [config, ...layers] = built.blobs;
    expect(text(config!.bytes)).toBe(
      `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"},{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${sha256(p1)}","${sha256(p2)}"]},"config":{}}`,
    );
    expect(built.manifest.config).toEqual({ mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config!.bytes), size: config!.bytes.length });
    expect(layers.map((l) => text(l.bytes))).toEqual([text(p1), text(p2)]);
    for (const b of built.blobs) expect(b.descriptor.digest).toBe(sha256(b.bytes));
    expect(built.descriptor).toEqual({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(built.bytes), size: built.bytes.length });

    // What the wiring step reads back from the registry.
    const parsed = parseManifest(built.bytes, 'application/vnd.oci.image.manifest.v1+json');
    expect(legacySignatureLayers(parsed)).toEqual([
      { descriptor: parsed.layers[0], signature: s1 },
      { descriptor: parsed.layers[1], signature: s2, keyHint: key.publicKey.hint },
    ]);
  });

  it('skips layers that are not signatures (other media types, keyless certificate only)', () => {
    const layers = legacySignatureLayers({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST, size: 2 },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: DIGEST, size: 1, annotations: { [ANNOTATION_COSIGN_SIGNATURE]: 'AA==' } },
        { mediaType: MEDIA_TYPE_SIMPLE_SIGNING, digest: DIGEST, size: 1, annotations: { 'dev.sigstore.cosign/certificate': 'pem' } },
      ],
    });
    expect(layers).toEqual([]);
  });
});
