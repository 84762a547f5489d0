import { describe, expect, it } from 'vitest';
import { digesterFor, isDigest, parseDigest, sha256Digest } from '../../src/core/digest.js';
import { canonicalJson } from '../../src/core/json.js';
import {
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_IMAGE_INDEX,
  MEDIA_TYPE_IMAGE_MANIFEST,
  manifestBytes,
  parseDescriptor,
  parseIndex,
  parseManifest,
  type ImageManifest,
} from '../../src/core/oci.js';
import { fetchAll } from '../../src/content/storage.js';
import { verifyContent } from '../../src/content/verify.js';
import { caught, collect } from './fixtures.js';

const HEX = 'a'.repeat(64);
const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const thrown = (f: () => unknown): { code: string; message: string; data: { fields?: string[] } } => {
  try {
    f();
  } catch (e) {
    return e as never;
  }
  throw new Error('expected a throw');
};

describe('digests', () => {
  it('hashes and parses by the image-spec grammar', () => {
    expect(sha256Digest(EMPTY_JSON)).toBe(EMPTY_DESCRIPTOR.digest);
    expect(parseDigest(`sha256:${HEX}`)).toEqual({ algorithm: 'sha256', encoded: HEX });
    expect(parseDigest(`sha512:${'b'.repeat(128)}`).algorithm).toBe('sha512');
    expect(parseDigest('multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8').algorithm).toBe('multihash+base58');
    const cases: [string, string][] = [
      [`sha256:${HEX.toUpperCase()}`, 'bad sha256 encoding'],
      ['sha256:abc', 'bad sha256 encoding'],
      [`sha512:${HEX}`, 'bad sha512 encoding'],
      ['sha256', 'not a digest'],
      [`SHA256:${HEX}`, 'not a digest'],
      [`sha256:../${HEX}`, 'not a digest'],
    ];
    for (const [s, why] of cases) {
      const e = thrown(() => parseDigest(s));
      expect([e.code, e.message]).toEqual(['INVALID_DIGEST', `invalid digest ${JSON.stringify(s)}: ${why}`]);
      expect(isDigest(s)).toBe(false);
    }
    expect(thrown(() => digesterFor('blake3:abcd')).code).toBe('UNSUPPORTED_DIGEST');
  });
});

describe('manifests', () => {
  const good: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    artifactType: 'application/vnd.ebpm.test.v1',
    config: { ...EMPTY_DESCRIPTOR },
    layers: [{ mediaType: 'application/vnd.ebpm.bpf.v1', digest: `sha256:${HEX}`, size: 10, annotations: { 'org.opencontainers.image.title': 'x.bpf.o' } }],
    annotations: { 'org.opencontainers.image.version': '1.2.0' },
  };

  it('parses a valid manifest and serialises it canonically', () => {
    const bytes = manifestBytes(good);
    expect(parseManifest(bytes, MEDIA_TYPE_IMAGE_MANIFEST)).toEqual(good);
    expect(Buffer.from(bytes).toString().startsWith('{"annotations":{"org.opencontainers.image.version":"1.2.0"},"artifactType"')).toBe(true);
    expect(manifestBytes(parseManifest(bytes))).toEqual(bytes);
    expect(canonicalJson({ b: 1, a: [true, null, { d: 'x', c: undefined }] })).toBe('{"a":[true,null,{"d":"x"}],"b":1}');
  });

  it('lists every bad field in one error', () => {
    const bad = {
      schemaVersion: 1,
      mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
      config: { mediaType: 'not a type', digest: 'sha256:zz', size: -1 },
      layers: [good.layers[0], { ...good.layers[0], size: '10' }, { ...good.layers[0], digest: 'nope' }, 7],
      subject: { mediaType: MEDIA_TYPE_IMAGE_MANIFEST, size: 3 },
      annotations: { a: 1 },
    };
    const e = thrown(() => parseManifest(enc(bad)));
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.data.fields).toEqual([
      'schemaVersion: must be 2',
      'config.mediaType: not a media type',
      'config.digest: bad sha256 encoding',
      'config.size: not a non-negative integer',
      'layers[1].size: not a non-negative integer',
      'layers[2].digest: not a digest',
      'layers[3]: not an object',
      'subject.digest: missing',
      'annotations["a"]: not a string',
    ]);
    expect(e.message).toBe('invalid manifest: schemaVersion: must be 2; config.mediaType: not a media type; config.digest: bad sha256 encoding; and 6 more');
    expect(thrown(() => parseManifest(Buffer.from('[1]'))).data.fields).toEqual(['(root): not a JSON object']);
    expect(thrown(() => parseManifest(Buffer.from('{"sch'))).code).toBe('MANIFEST_INVALID');
  });

  it('checks the media type against the declared content type', () => {
    const bytes = manifestBytes(good);
    expect(thrown(() => parseManifest(bytes, MEDIA_TYPE_DOCKER_MANIFEST)).data.fields).toEqual([
      `mediaType: "${MEDIA_TYPE_IMAGE_MANIFEST}" does not match the declared "${MEDIA_TYPE_DOCKER_MANIFEST}"`,
    ]);
    expect(thrown(() => parseManifest(bytes, MEDIA_TYPE_IMAGE_INDEX)).data.fields).toEqual([
      `(content-type): "${MEDIA_TYPE_IMAGE_INDEX}" is not an manifest media type`,
    ]);
    expect(thrown(() => parseIndex(bytes)).data.fields).toEqual([`mediaType: "${MEDIA_TYPE_IMAGE_MANIFEST}" is not an index media type`, 'manifests: missing']);
    const { mediaType: _m, ...untyped } = good;
    expect(parseManifest(enc(untyped), `${MEDIA_TYPE_DOCKER_MANIFEST}; charset=utf-8`).mediaType).toBe(MEDIA_TYPE_DOCKER_MANIFEST);
    expect(parseIndex(enc({ schemaVersion: 2, manifests: [] }))).toEqual({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [] });
  });

  it('refuses manifests over 4 MiB', () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const e = thrown(() => parseManifest(big));
    expect([e.code, e.message]).toEqual(['MANIFEST_TOO_LARGE', 'manifest is 4194305 bytes, over the 4194304-byte limit']);
  });

  it('checks embedded data against digest and size', () => {
    expect(parseDescriptor({ ...EMPTY_DESCRIPTOR })).toEqual(EMPTY_DESCRIPTOR);
    expect(thrown(() => parseDescriptor({ ...EMPTY_DESCRIPTOR, data: 'e3w=' })).data.fields).toEqual(['data: does not match digest and size']);
    expect(thrown(() => parseDescriptor({ ...EMPTY_DESCRIPTOR, data: '!!' })).data.fields).toEqual(['data: not base64']);
  });

  it('only ever fails with its own codes on mutated input (fuzz)', () => {
    const base = Buffer.from(manifestBytes(good));
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k <= rand(4); k++) b[rand(b.length)] = rand(256);
      try {
        parseManifest(b);
      } catch (e) {
        expect((e as { code: string }).code).toBe('MANIFEST_INVALID');
      }
    }
  });
});

describe('verifying streams', () => {
  const bytes = Buffer.from('0123456789');
  const desc = { mediaType: 'application/octet-stream', digest: sha256Digest(bytes), size: 10 };

  it('passes good content through and rejects short, long and wrong content', async () => {
    expect((await collect(verifyContent(desc, [bytes.subarray(0, 3), bytes.subarray(3)]))).equals(bytes)).toBe(true);
    expect((await caught(collect(verifyContent(desc, [bytes.subarray(0, 9)])))).data).toEqual({ digest: desc.digest, expected: 10, actual: 9 });
    await expect(collect(verifyContent(desc, [bytes, Buffer.from('x')]))).rejects.toThrowWithCode('SIZE_MISMATCH');
    await expect(collect(verifyContent(desc, [Buffer.from('0123456780')]))).rejects.toThrowWithCode('DIGEST_MISMATCH');
  });

  it('holds back the last chunk until the content checks out', async () => {
    const seen: string[] = [];
    await caught(
      (async () => {
        for await (const c of verifyContent(desc, [Buffer.from('01234'), Buffer.from('56789!')])) seen.push(c.toString());
      })(),
    );
    expect(seen).toEqual([]);
  });

  it('fetchAll refuses declared sizes over its limit before fetching', async () => {
    let fetched = false;
    const f = {
      fetch: async () => {
        fetched = true;
        return [bytes];
      },
    };
    await expect(fetchAll(f, desc, 9)).rejects.toThrowWithCode('SIZE_EXCEEDS_LIMIT');
    expect(fetched).toBe(false);
    expect(Buffer.from(await fetchAll(f, desc, 10)).equals(bytes)).toBe(true);
    // A huge declared size is not allocated: the lie is caught by the stream instead.
    const liar = { ...desc, size: 2 ** 40 };
    await expect(fetchAll(f, liar, 2 ** 41)).rejects.toThrowWithCode('SIZE_MISMATCH');
  });
});
