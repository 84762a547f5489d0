// `VerifiedContent`: a byte is hashed once between source and destination (the copy routine's
// pass is the one the store and the upload rely on), and relying on it never lets bad bytes in.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256Digest } from '../../src/core/digest.js';
import type { Descriptor } from '../../src/core/oci.js';
import { copyGraph } from '../../src/content/copy.js';
import { MemoryStore } from '../../src/content/memory.js';
import { closeContent } from '../../src/content/storage.js';
import { VerifiedContent } from '../../src/content/verify.js';
import { OciLayout } from '../../src/store/layout.js';
import { caught } from './fixtures.js';

// Counts every byte any SHA-256 in this file's module graph is fed.
const hashed = vi.hoisted(() => ({ bytes: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:crypto')>();
  return {
    ...orig,
    createHash: (algorithm: string) => {
      const h = orig.createHash(algorithm);
      const update = h.update.bind(h);
      h.update = ((data: Uint8Array) => {
        hashed.bytes += data.byteLength;
        return update(data);
      }) as typeof h.update;
      return h;
    },
  };
});

// core/digest.ts takes node:crypto from process.getBuiltinModule, which the mock above does not
// reach: it gets the counting createHash too.
const builtin = process.getBuiltinModule.bind(process);
vi.spyOn(process, 'getBuiltinModule').mockImplementation(((id: string) =>
  id === 'node:crypto' ? { ...builtin('node:crypto'), createHash } : builtin(id)) as typeof process.getBuiltinModule);

const base = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'verified-'));
let n = 0;
const layout = () => OciLayout.open(join(base, String(n++)));
const blob = (bytes: Uint8Array): Descriptor => ({ mediaType: 'application/octet-stream', digest: sha256Digest(bytes), size: bytes.byteLength });
const chunks = (bytes: Uint8Array, size: number): Uint8Array[] =>
  Array.from({ length: Math.ceil(bytes.byteLength / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

describe('VerifiedContent', () => {
  const bytes = randomBytes(3 << 20);
  const desc = blob(bytes);
  beforeEach(() => {
    hashed.bytes = 0;
  });

  it('copies a blob into the store hashing each byte once, and back out the same way', async () => {
    const src = new MemoryStore();
    await src.push(desc, chunks(bytes, 64 << 10));
    hashed.bytes = 0;
    const store = await layout();
    expect(await copyGraph(src, store, desc)).toEqual({ copied: 1, skipped: 0, mounted: 0, bytes: bytes.byteLength });
    expect(hashed.bytes).toBe(bytes.byteLength);
    expect(readFileSync(store.blobPath(desc.digest)).equals(bytes)).toBe(true);

    hashed.bytes = 0;
    const dst = new MemoryStore();
    await copyGraph(store, dst, desc);
    expect(hashed.bytes).toBe(bytes.byteLength);
  });

  it('keeps nothing when the pass the store relies on finds other bytes, and blames the source', async () => {
    const lying = { fetch: async () => chunks(Buffer.concat([bytes.subarray(1), Buffer.from([bytes[0]! ^ 1])]), 1 << 20), exists: async () => true };
    const store = await layout();
    const e = await caught(copyGraph(lying, store, desc));
    expect([e.code, e.data?.side, e.message]).toEqual([
      'DIGEST_MISMATCH',
      'source',
      expect.stringMatching(/^source: push sha256:[0-9a-f]{64}: sha256:[0-9a-f]{64}: content hashes to sha256:[0-9a-f]{64}$/),
    ]);
    expect(await store.exists(desc)).toBe(false);
    expect([readdirSync(join(store.root, 'blobs', 'sha256')), readdirSync(join(store.root, 'ingest'))]).toEqual([[], []]);
  });

  it('is taken as is only for the same digest and size; another size is checked again', async () => {
    const pass = VerifiedContent.of(desc, [bytes]);
    expect(VerifiedContent.of({ ...desc, mediaType: 'application/x-other' }, pass)).toBe(pass);
    const store = await layout();
    const e = await caught(store.push({ ...desc, size: desc.size - 1 }, pass));
    expect([e.code, e.data]).toEqual(['SIZE_MISMATCH', { digest: desc.digest, expected: desc.size - 1, actual: desc.size }]);
    expect(readdirSync(join(store.root, 'ingest'))).toEqual([]);
  });

  it('is read once: a second read throws instead of yielding nothing', async () => {
    const pass = VerifiedContent.of(desc, [bytes]);
    const store = await layout();
    await store.push(desc, pass);
    const e = await caught(
      (async () => {
        for await (const _ of pass) return;
      })(),
    );
    expect([e.code, e.message]).toEqual(['INTERNAL', `${desc.digest}: verified content read twice`]);
  });

  it('starts over from its source for a destination that retries, counting progress from 0', async () => {
    const progress: number[] = [];
    let fetches = 0;
    const src = {
      fetch: async () => {
        fetches++;
        return chunks(bytes, 1 << 20);
      },
      exists: async () => true,
    };
    // A destination that drops its first upload after one chunk, then reads the content again.
    const flaky = {
      fetch: async () => [],
      exists: async () => false,
      push: async (_: Descriptor, content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) => {
        const first = VerifiedContent.of(desc, content);
        for await (const _c of first) break;
        let n = 0;
        for await (const c of await first.reopen!()) n += c.byteLength;
        expect(n).toBe(bytes.byteLength);
      },
    };
    expect(await copyGraph(src, flaky, desc, { onCopyProgress: (_, b) => progress.push(b) })).toEqual({
      copied: 1,
      skipped: 0,
      mounted: 0,
      bytes: bytes.byteLength,
    });
    expect([fetches, progress]).toEqual([2, [1 << 20, 1 << 20, 2 << 20, 3 << 20]]);
  });

  it("lets its source go when closed unread, through the copy routine's views of it", async () => {
    const released: string[] = [];
    // What copyGraph hands a destination: the source's pass, observed and able to start over.
    const handed = VerifiedContent.of(desc, [bytes])
      .closing(() => released.push('source'))
      .observe(() => undefined)
      .withReopen(async () => VerifiedContent.of(desc, [bytes]));
    await closeContent(handed);
    await closeContent(handed);
    expect(released).toEqual(['source']);
    // A pass that was read ends its source itself: closing it afterwards releases nothing.
    const read = VerifiedContent.of(desc, [bytes]).closing(() => released.push('read'));
    await (await layout()).push(desc, read);
    await closeContent(read);
    expect(released).toEqual(['source']);
  });
});
