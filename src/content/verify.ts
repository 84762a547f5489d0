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
