import { digesterFor } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import type { Descriptor } from '../core/oci.js';

/**
 * `verifyContent` passes `source` through unchanged while counting and hashing it, after oras-go
 * `content/reader.go#VerifyReader`. It fails with `SIZE_MISMATCH` as soon as more bytes than
 * `desc.size` arrive (trailing data) or when the stream ends short, and with `DIGEST_MISMATCH` when
 * the bytes hash to something else; `data` carries `expected` and `actual`. The last chunk is
 * only yielded once the whole stream checked out, so a consumer that commits after the loop never
 * commits bad content. It allocates nothing from the declared size.
 */
export async function* verifyContent(
  desc: Descriptor,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array, void, undefined> {
  const digester = digesterFor(desc.digest);
  let n = 0;
  let held: Uint8Array | undefined;
  for await (const chunk of source) {
    signal?.throwIfAborted();
    n += chunk.byteLength;
    if (n > desc.size) throw sizeMismatch(desc, n, 'more than');
    digester.update(chunk);
    if (held !== undefined) yield held;
    held = chunk;
  }
  signal?.throwIfAborted();
  if (n < desc.size) throw sizeMismatch(desc, n, 'only');
  const actual = digester.digest();
  if (actual !== desc.digest) {
    throw new EbpmError('DIGEST_MISMATCH', `${desc.digest}: content hashes to ${actual}`, {
      hint: 'the content was corrupted or replaced; nothing of it was kept',
      data: { expected: desc.digest, actual },
    });
  }
  if (held !== undefined) yield held;
}

function sizeMismatch(desc: Descriptor, actual: number, how: 'more than' | 'only'): EbpmError {
  const got = how === 'only' ? `only ${actual} bytes` : `more than ${desc.size} bytes`;
  return new EbpmError('SIZE_MISMATCH', `${desc.digest}: got ${got}, expected ${desc.size}`, {
    hint: 'the content is truncated or has trailing data; nothing of it was kept',
    data: { digest: desc.digest, expected: desc.size, actual },
  });
}

/**
 * `VerifiedContent` is one `verifyContent` pass over a stream, marked with the descriptor it
 * checks, so that whoever receives it (the copy routine, a store's ingest, a blob upload) can
 * use the bytes without hashing them again: each byte is hashed once between source and
 * destination. It is the same pass, not a promise about earlier bytes: a consumer that writes
 * the chunks it reads and commits only after the loop ends writes exactly the bytes that were
 * checked, and a mismatch throws from the loop before the last chunk, so nothing is committed.
 * A pass can be read once; reading it again throws instead of yielding nothing.
 */
export class VerifiedContent implements AsyncIterable<Uint8Array> {
  private taken = false;

  private constructor(
    readonly descriptor: Descriptor,
    private readonly chunks: AsyncIterable<Uint8Array>,
    /**
     * `reopen` starts a new pass over the same content read again from its source, when the
     * source can be read again (`withReopen`): a destination retrying a failed upload takes it
     * instead of this pass, which is spent (registry/blobs.ts).
     */
    readonly reopen?: () => Promise<VerifiedContent>,
    private readonly release?: () => void,
  ) {}

  /** `of` is `content` when it is already a pass checking `desc` (same digest and size), else a new pass over it. */
  static of(desc: Descriptor, content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, signal?: AbortSignal): VerifiedContent {
    if (content instanceof VerifiedContent && content.descriptor.digest === desc.digest && content.descriptor.size === desc.size) return content;
    return new VerifiedContent(desc, verifyContent(desc, content, signal));
  }

  /**
   * `observe` is a view of this same pass that calls `onChunk` with each chunk before handing it
   * on and `onError` with a failure of the pass (a mismatch, a broken source), then rethrows it.
   */
  observe(onChunk: (chunk: Uint8Array) => void, onError?: (e: unknown) => void): VerifiedContent {
    const self = this;
    async function* observed(): AsyncGenerator<Uint8Array> {
      try {
        for await (const chunk of self) {
          onChunk(chunk);
          yield chunk;
        }
      } catch (e) {
        onError?.(e);
        throw e;
      }
    }
    return new VerifiedContent(this.descriptor, observed(), undefined, this.release);
  }

  /** `withReopen` is this pass, able to start over with `again` (see `reopen`): a content-addressed blob can always be fetched again. */
  withReopen(again: () => Promise<VerifiedContent>): VerifiedContent {
    return new VerifiedContent(this.descriptor, this, again, this.release);
  }

  /**
   * `closing` is this pass with `release` to run if it is closed before it is read (`close`): a
   * source not yet started (an HTTP body nobody asked for a chunk of) is not reached by the
   * `return()` of iterators that never ran, and would hold its connection.
   */
  closing(release: () => void): VerifiedContent {
    return new VerifiedContent(this.descriptor, this, this.reopen, release);
  }

  /** `close` gives up a pass that will not be read (the destination already holds the content). */
  async close(): Promise<void> {
    if (this.taken) return;
    this.taken = true;
    this.release?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.taken) {
      throw new EbpmError('INTERNAL', `${this.descriptor.digest}: verified content read twice`, {
        hint: 'this is a bug in ebpm; please report it',
      });
    }
    this.taken = true;
    return this.chunks[Symbol.asyncIterator]();
  }
}
