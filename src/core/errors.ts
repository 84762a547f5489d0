/**
 * `EbpmError` is the one error base of ebpm. Callers match on `code` (never on the
 * message, never with `instanceof`, since two copies of a module may be loaded).
 *
 * Messages are short lower-case context chains (`pull sigsnoop@1.2: resolve tags: name unknown`);
 * advice for the user goes in `hint`, never in the message.
 */
export class EbpmError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, opts: EbpmErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'EbpmError';
    this.code = code;
    this.hint = opts.hint;
    this.data = opts.data;
  }
}

/** `hint` and `data` may be `undefined` (none), so another error's fields forward as they are (`withContext`). */
export interface EbpmErrorOptions {
  readonly cause?: unknown;
  readonly hint?: string | undefined;
  readonly data?: Readonly<Record<string, unknown>> | undefined;
}

/** `isCode` tells whether `e` is an error carrying `code`. */
export function isCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** The kernel's refusals besides the `KERNEL_*` codes: what src/kernel/loader-errors.ts makes of a failed load or attach. */
const KERNEL_REFUSALS: ReadonlySet<string> = new Set([
  'PERMISSION_DENIED',
  'VERIFIER_REJECTED',
  'LOAD_FAILED',
  'ATTACH_NEEDS_TARGET',
  'ATTACH_UNSUPPORTED',
  'ATTACH_TARGET_NOT_FOUND',
]);

/** `isKernelRefusal` tells an error the kernel caused (exit code 4) from the others. */
export function isKernelRefusal(e: unknown): boolean {
  if (!isEbpmError(e)) return false;
  return e.code.startsWith('KERNEL_') || KERNEL_REFUSALS.has(e.code);
}

/** `isEbpmError` tells errors ebpm raised on purpose (user-fixable) from bugs. */
export function isEbpmError(e: unknown): e is EbpmError {
  return e instanceof Error && (e as { name?: unknown }).name === 'EbpmError' && typeof (e as EbpmError).code === 'string';
}

/**
 * `withContext` prefixes the message of an `EbpmError` with one more link of the chain
 * (`build sigsnoop: ` + the inner message) and keeps code, hint and data. Other errors are
 * wrapped as `INTERNAL` so the top-level handler reports them as bugs.
 */
export function withContext(context: string, e: unknown): EbpmError {
  if (isEbpmError(e)) {
    return new EbpmError(e.code, `${context}: ${e.message}`, { cause: e.cause ?? e, hint: e.hint, data: e.data });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new EbpmError('INTERNAL', `${context}: ${message}`, { cause: e });
}

/** `assertNever` ends every `switch` over a union, so a new variant fails to compile. */
export function assertNever(x: never, what = 'value'): never {
  throw new EbpmError('INTERNAL', `unexpected ${what}: ${JSON.stringify(x)}`);
}
