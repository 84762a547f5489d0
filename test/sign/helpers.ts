// Shared by the src/sign tests: fixtures, and catching typed errors while proving that no
// secret (password, private key material) leaks into any part of them.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { isEbpmError, type EbpmError } from '../../src/core/errors.js';

export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}

export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
}

/** Every string an error carries, through its whole cause chain. */
function texts(e: unknown, depth = 0): string[] {
  if (depth > 8 || e === undefined || e === null) return [];
  if (typeof e !== 'object') return [String(e)];
  const err = e as { message?: unknown; hint?: unknown; data?: unknown; stack?: unknown; cause?: unknown };
  return [String(err.message), String(err.hint), JSON.stringify(err.data ?? null), String(err.stack), ...texts(err.cause, depth + 1)];
}

/** `expectNoSecret` fails if any secret appears anywhere in the error. */
export function expectNoSecret(e: unknown, secrets: readonly string[]): void {
  const all = texts(e).join('\n');
  for (const s of secrets) expect(all.includes(s), `secret ${JSON.stringify(s)} leaked into an error`).toBe(false);
}

/** The password of every key the tests generate. */
export const TEST_PASSWORD = 'correct-Horse-battery-5taple';

/**
 * Every password the tests use, and the start of every private key body in the fixtures: no
 * error may ever carry one.
 */
const SECRETS: readonly string[] = [
  'hello',
  TEST_PASSWORD,
  ...[
    'cosign-pemsigstorekey.key',
    'cosign-pemcosignkey.key',
    'cosign-pemcosigneckey.key',
    'cosign-validecp256.key',
    'cosign-validecpkcs8.key',
    'cosign-validecp384.key',
  ].map((f) => fixture(f).split('\n')[1]!.slice(0, 40)),
];

/**
 * `caught` runs `fn` and returns the `EbpmError` it threw (async or not); fails if it did not
 * throw one, if the error has no hint or spans lines, or if it carries a secret (`SECRETS` plus `secrets`).
 */
export async function caught(fn: () => unknown, secrets: readonly string[] = []): Promise<EbpmError> {
  try {
    await fn();
  } catch (e) {
    expectNoSecret(e, [...SECRETS, ...secrets]);
    if (!isEbpmError(e)) throw e;
    expect(e.message).not.toContain('\n');
    expect(e.hint, `${e.code} has no hint`).toBeTruthy();
    return e;
  }
  throw new Error('expected an EbpmError, nothing was thrown');
}
