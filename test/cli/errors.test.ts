// The top-level error path: exit codes by error code (README "Exit codes"), and the one JSON
// object `--json` prints on stdout for a failure.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorJson, exitCodeFor } from '../../src/cli/errors.js';
import { EbpmError } from '../../src/core/errors.js';

/** Every code src/kernel/loader-errors.ts gives a failed load or attach, read from its source so that a new one is checked too. */
const LOADER_CODES = [...readFileSync(new URL('../../src/kernel/loader-errors.ts', import.meta.url), 'utf8').matchAll(/new EbpmError\('([A-Z0-9_]+)'/g)]
  .map((m) => m[1]!)
  .filter((c, i, all) => c !== 'INTERNAL' && all.indexOf(c) === i)
  .sort();

describe('exit codes', () => {
  it('exits 4 for every refusal of the kernel the loader reports', () => {
    expect(LOADER_CODES).toEqual([
      'ATTACH_NEEDS_TARGET',
      'ATTACH_TARGET_NOT_FOUND',
      'KERNEL_ERROR',
      'KERNEL_NO_BTF',
      'KERNEL_NO_TRACEPOINT',
      'KERNEL_UNSUPPORTED',
      'LOAD_FAILED',
      'PERMISSION_DENIED',
      'VERIFIER_REJECTED',
    ]);
    expect(LOADER_CODES.map((c) => [c, exitCodeFor(new EbpmError(c, 'x'))])).toEqual(LOADER_CODES.map((c) => [c, 4]));
  });

  it('maps usage to 2, trust to 3, bugs to 70 and the rest to 1', () => {
    const cases: [unknown, number][] = [
      [new EbpmError('USAGE', 'x'), 2],
      [new EbpmError('INVALID_REFERENCE', 'x'), 2],
      [new EbpmError('INVALID_PARAMETER', 'x'), 2],
      [new EbpmError('TRUST_REFUSED', 'x'), 3],
      [new EbpmError('SIGNATURE_NOT_VERIFIED', 'x'), 3],
      [new EbpmError('SIGNATURE_PAYLOAD_INVALID', 'x'), 3],
      [new EbpmError('INTERNAL', 'x'), 70],
      [new Error('x'), 70],
      ['x', 70],
      [new EbpmError('NOT_FOUND', 'x'), 1],
      [new EbpmError('REGISTRY_UNREACHABLE', 'x'), 1],
      [new EbpmError('GRAPH_INCOMPLETE', 'x'), 1],
      [new EbpmError('WASM_INVALID', 'x'), 1],
      [new EbpmError('ENODEV', 'x'), 1],
      [new EbpmError('ATTACH', 'x'), 1],
    ];
    expect(cases.map(([e]) => exitCodeFor(e))).toEqual(cases.map(([, code]) => code));
  });
});

describe('errorJson', () => {
  it('carries code, message and hint, and reports bugs as INTERNAL', () => {
    expect(errorJson(new EbpmError('NOT_FOUND', 'x: not found', { hint: 'pull it first', data: { ref: 'x' } }))).toEqual({
      error: { code: 'NOT_FOUND', message: 'x: not found', hint: 'pull it first' },
    });
    expect(JSON.stringify(errorJson(new EbpmError('USAGE', 'ls: takes no arguments')))).toBe('{"error":{"code":"USAGE","message":"ls: takes no arguments"}}');
    const bug = { error: { code: 'INTERNAL', message: 'boom', hint: 'this is a bug in ebpm; please report it with the output of EBPM_DEBUG=1' } };
    expect([errorJson(new TypeError('boom')), errorJson(new EbpmError('INTERNAL', 'boom')), errorJson('boom')]).toEqual([bug, bug, bug]);
  });
});
