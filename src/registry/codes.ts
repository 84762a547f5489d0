import { EbpmError, type EbpmErrorOptions } from '../core/errors.js';

/*
 * The registry client's error codes. A code a registry sends is one of ebpm's only when the
 * distribution-spec defines it (errors.ts `registryError`); everything else ebpm raises about a
 * registry uses one of the codes below.
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

/** `isSpecCode` tells a code the spec defines from any other a registry may send. */
export function isSpecCode(code: string): code is SpecErrorCode {
  return SPEC.has(code);
}

/** The error codes of the registry client; callers match on these. */
export type RegistryErrorCode =
  | SpecErrorCode
  /** Any other code in an error body (kept in `data.registryCode`), or a status without a code. */
  | 'REGISTRY_ERROR'
  | 'REGISTRY_PROTOCOL'
  | 'REGISTRY_UNREACHABLE'
  | 'NOT_A_REGISTRY'
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
