import { isEbpmError, isKernelRefusal } from '../core/errors.js';
import { terminalSafe } from './format.js';

/**
 * Exit codes, documented in the README:
 * 0 success; 1 a failure the user can fix (the message says which); 2 bad usage (flags,
 * arguments, references); 3 refused by trust policy or signature verification;
 * 4 the kernel refused (verifier, missing feature, permissions, load or attach); 70 a bug in ebpm.
 */
export function exitCodeFor(e: unknown): number {
  if (!isEbpmError(e)) return 70;
  if (e.code === 'INTERNAL') return 70;
  if (e.code === 'USAGE' || e.code === 'INVALID_REFERENCE' || e.code === 'INVALID_PARAMETER') return 2;
  if (e.code.startsWith('TRUST_') || e.code.startsWith('SIGNATURE_')) return 3;
  if (isKernelRefusal(e)) return 4;
  return 1;
}

const BUG_HINT = 'this is a bug in ebpm; please report it with the output of EBPM_DEBUG=1';

/** `formatError` renders an error as one line plus a hint; bugs also get their stack. */
export function formatError(e: unknown, debug: boolean): string {
  // Messages carry text from registries and packages: escape sequences in it are shown, not obeyed.
  if (isEbpmError(e) && e.code !== 'INTERNAL') {
    // A compiler's own output (COMPILE_FAILED) keeps its lines.
    const lines = [`error: ${terminalSafe(e.message, e.code === 'COMPILE_FAILED')}`];
    if (e.hint) lines.push(`hint: ${terminalSafe(e.hint)}`);
    if (debug && e.stack) lines.push(terminalSafe(e.stack, true));
    return lines.join('\n');
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return [`error: ${terminalSafe(err.message)}`, `hint: ${BUG_HINT}`, terminalSafe(err.stack ?? '', true)].join('\n').trimEnd();
}

/** `ErrorJson` is a failure as `--json` reports it on stdout; a bug is code `INTERNAL`. */
export interface ErrorJson {
  readonly error: { readonly code: string; readonly message: string; readonly hint?: string };
}

/** `errorJson` is the one JSON object a command run with `--json` prints on stdout when it fails. */
export function errorJson(e: unknown): ErrorJson {
  if (isEbpmError(e) && e.code !== 'INTERNAL') return { error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } };
  return { error: { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), hint: BUG_HINT } };
}

/** What ebpm exits with when a Wasm program's own exit code cannot pass through unchanged. */
export const GUEST_EXIT_OTHER = 125;

/**
 * `guestExitCode` is ebpm's exit code for a Wasm program that exited with `code` (proc_exit takes
 * any u32, node:wasi returns it as an i32). 0 stays 0, and 5-69 and 71-124 pass through. Every
 * other code becomes 125: ebpm's own (1-4, 70), the shell's (126 cannot run, 127 not found,
 * 128 + n killed by signal n, so also 130 and 143), 125 itself, and codes outside 0-255, which
 * the kernel would cut to their low byte (256 to 0, turning a failure into success).
 */
export function guestExitCode(code: number): number {
  if (code === 0) return 0;
  return code >= 5 && code <= 124 && code !== 70 ? code : GUEST_EXIT_OTHER;
}
