// bpfman image layers that are not the gzipped tar they claim to be: a gzip bomb, data that is
// not gzip, truncated gzip, gzip of something that is not a tar. Each is FOREIGN_INVALID (exit
// 1) with one line naming the layer, not a RangeError or a zlib message as "a bug in ebpm".
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/cli/errors.js';
import { MemoryStore } from '../../src/content/memory.js';
import { descriptorFor, MEDIA_TYPE_IMAGE_CONFIG, MEDIA_TYPE_IMAGE_MANIFEST, type ImageManifest } from '../../src/core/oci.js';
import { readForeignManifest } from '../../src/package/foreign.js';

const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const HINT = 'the image is not the bpfman bytecode image it claims to be, or it is damaged; ask its publisher';

async function bpfmanImage(layerBytes: Uint8Array): Promise<{ store: MemoryStore; manifest: ImageManifest; layerDigest: string }> {
  const store = new MemoryStore();
  const config = new TextEncoder().encode(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'io.ebpf.programs': '{"p":"tracepoint"}' } },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const c = descriptorFor(MEDIA_TYPE_IMAGE_CONFIG, config);
  const l = descriptorFor(LAYER, layerBytes);
  await store.push(c, [config]);
  await store.push(l, [layerBytes]);
  return { store, manifest: { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config: c, layers: [l] }, layerDigest: l.digest };
}

async function tarOf(name: string, body: Uint8Array): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name }, Buffer.from(body));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const cases: [string, () => Promise<Uint8Array>, string][] = [
  // 65 MiB of zeros compress to about 65 KiB.
  ['a gzip bomb', async () => gzipSync(Buffer.alloc(65 << 20)), 'unpacks to more than 67108864 bytes'],
  ['data that is not gzip', async () => randomBytes(4096), 'not gzip data (incorrect header check)'],
  ['truncated gzip', async () => gzipSync(await tarOf('prog.o', randomBytes(8192))).subarray(0, 3000), 'truncated gzip data'],
  ['gzip of something else', async () => gzipSync(Buffer.from('not a tar archive, just text '.repeat(40))), 'not a tar archive, or a truncated one'],
];

describe('bpfman layers that are not what they claim', () => {
  for (const [what, bytes, problem] of cases) {
    it(`refuses ${what} with FOREIGN_INVALID`, async () => {
      const { store, manifest, layerDigest } = await bpfmanImage(await bytes());
      const e = await readForeignManifest(store, manifest, { name: 'prog', tag: '1.0.0' }).then(
        () => undefined,
        (x: unknown) => x as { code: string; message: string; hint: string },
      );
      expect([e?.code, e?.message, e?.hint]).toEqual(['FOREIGN_INVALID', `bpfman image layer ${layerDigest.slice(0, 19)}: ${problem}`, HINT]);
      expect(exitCodeFor(e)).toBe(1);
    });
  }
});
