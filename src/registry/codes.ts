import { EbpmError, type EbpmErrorOptions } from '../core/errors.js';

/*
 * The registry client's error codes. A code a registry sends is one of ebpm's only when the
 * distribution-spec defines it (errors.ts `registryError`), and the spec's "no such repository,
 * manifest or blob" codes become ebpm's `NOT_FOUND`, the contract of every store
 * (content/storage.ts); everything else ebpm raises about a registry uses one of the codes below.
 */

/** The distribution-spec v1.1.1 error codes, plus distribution's `UNAVAILABLE` (errcode/register.go). */
const SPEC_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'UNAVAILABLE',
] as const;
export type SpecErrorCode = (typeof SPEC_CODES)[number];
const SPEC: ReadonlySet<string> = new Set(SPEC_CODES);

/** The spec codes for content or a repository the registry does not hold: `NOT_FOUND` to callers. */
const MISSING_CODES = ['BLOB_UNKNOWN', 'MANIFEST_UNKNOWN', 'NAME_UNKNOWN'] as const;
export type MissingCode = (typeof MISSING_CODES)[number];
const MISSING: ReadonlySet<string> = new Set(MISSING_CODES);

/** `isMissingCode` tells the spec's "not found" codes, kept only in `data.registryCode`. */
export function isMissingCode(code: string): code is MissingCode {
  return MISSING.has(code);
}

/** `isKeptSpecCode` tells a spec code that stays the error's code (all but the "not found" ones) from any other a registry may send. */
export function isKeptSpecCode(code: string): code is Exclude<SpecErrorCode, MissingCode> {
  return SPEC.has(code) && !MISSING.has(code);
}

/** The error codes of the registry client; callers match on these. */
export type RegistryErrorCode =
  | Exclude<SpecErrorCode, MissingCode>
  /** Any other code in an error body (kept in `data.registryCode`), or a status without a code. */
  | 'REGISTRY_ERROR'
  | 'REGISTRY_PROTOCOL'
  | 'REGISTRY_UNREACHABLE'
  | 'NOT_A_REGISTRY'
  /** No such repository, manifest or blob (the registry's code, if it sent one, in `data.registryCode`), or no such endpoint. */
  | 'NOT_FOUND'
  | 'TIMEOUT'
  | 'DEADLINE_EXCEEDED'
  | 'RESPONSE_TOO_LARGE'
  | 'MANIFEST_TOO_LARGE'
  | 'BLOB_TOO_LARGE'
  | 'TOO_MANY_REDIRECTS'
  | 'TOO_MANY_PAGES'
  | 'TOO_MANY_ENTRIES'
  | 'REDIRECT_INVALID'
  | 'SIZE_MISMATCH'
  | 'DIGEST_MISMATCH'
  | 'INVALID_REFERENCE'
  | 'CREDENTIAL_HELPER_FAILED'
  | 'DOCKER_CONFIG_INVALID';

/** `registryFailure` builds every error the registry client raises. */
export function registryFailure(code: RegistryErrorCode, message: string, opts: EbpmErrorOptions = {}): EbpmError {
  return new EbpmError(code, message, opts);
}
