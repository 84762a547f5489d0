import type { Hash } from 'node:crypto';
import { EbpmError } from './errors.js';

/**
 * node:crypto, loaded at the first hash rather than with this module: a Wasm guest's thread
 * imports it (runtime/admission.ts) and seldom hashes, and loading node:crypto costs a thread
 * about 3 ms of its start.
 */
const createHash = (algorithm: string): Hash => process.getBuiltinModule('node:crypto').createHash(algorithm);

/**
 * Content digests as the OCI image-spec v1.1.1 defines them (`descriptor.md#digests`):
 * `algorithm ":" encoded`, algorithm components `[a-z0-9]+` joined by `[+._-]`, encoded `[a-zA-Z0-9=_-]+`.
 * Registered algorithms have stricter encodings: sha256 is 64 lowercase hex, sha512 is 128.
 */
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** `REGISTERED` maps each registered algorithm to its encoded form and its node hash name. */
const REGISTERED: Readonly<Record<string, { encoded: RegExp; hash: string }>> = {
  sha256: { encoded: /^[a-f0-9]{64}$/, hash: 'sha256' },
  sha512: { encoded: /^[a-f0-9]{128}$/, hash: 'sha512' },
};

/** `Digest` is a validated digest string, `sha256:<hex>`. */
export type Digest = string;

/** `ParsedDigest` is a digest split into its two parts. */
export interface ParsedDigest {
  readonly algorithm: string;
  readonly encoded: string;
}

/** `sha256Digest` hashes bytes into the digest string the OCI specs use. */
export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `shortDigest` is the algorithm and the first 12 characters of the encoded part (`sha256:0123456789ab`), as tables and messages show digests. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(0, colon + 1 + 12);
}

/**
 * `parseDigest` checks `s` against the image-spec grammar and, for registered algorithms,
 * their encoding; unknown algorithms pass if they fit the grammar, as the spec asks.
 * Throws `INVALID_DIGEST`.
 */
export function parseDigest(s: string): ParsedDigest {
  const problem = digestProblem(s);
  if (problem !== undefined) {
    throw new EbpmError('INVALID_DIGEST', `invalid digest ${JSON.stringify(s.slice(0, 140))}: ${problem}`, {
      hint: 'a digest looks like sha256:<64 lowercase hex digits>',
      data: { digest: s },
    });
  }
  const at = s.indexOf(':');
  return { algorithm: s.slice(0, at), encoded: s.slice(at + 1) };
}

/** `digestProblem` says what is wrong with a digest string, or `undefined` if nothing is. */
export function digestProblem(s: unknown): string | undefined {
  if (typeof s !== 'string') return 'not a string';
  if (!GRAMMAR.test(s)) return 'not a digest';
  const at = s.indexOf(':');
  const reg = REGISTERED[s.slice(0, at)];
  if (reg !== undefined && !reg.encoded.test(s.slice(at + 1))) return `bad ${s.slice(0, at)} encoding`;
  return undefined;
}

/** `isDigest` tells whether `s` is a valid digest. */
export function isDigest(s: unknown): s is Digest {
  return digestProblem(s) === undefined;
}

/**
 * `Digester` hashes a stream incrementally and yields the digest string at the end.
 */
export interface Digester {
  update(chunk: Uint8Array): void;
  digest(): Digest;
}

/**
 * `digesterFor` returns an incremental hasher for the algorithm of `digest`. Throws
 * `UNSUPPORTED_DIGEST` for a well-formed digest whose algorithm is not registered (it can't be verified).
 */
export function digesterFor(digest: Digest): Digester {
  const { algorithm } = parseDigest(digest);
  const reg = REGISTERED[algorithm];
  if (reg === undefined) {
    throw new EbpmError('UNSUPPORTED_DIGEST', `digest ${digest}: algorithm ${algorithm} is not supported`, {
      hint: 'ebpm verifies sha256 and sha512 digests',
      data: { digest },
    });
  }
  const h: Hash = createHash(reg.hash);
  return {
    update: (chunk) => void h.update(chunk),
    digest: () => `${algorithm}:${h.digest('hex')}`,
  };
}
