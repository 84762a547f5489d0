/**
 * `toThrowWithCode(code, expected?)`: the one way a test says "this fails with that error".
 * It takes a function (called, and its throw examined), a promise (awaited), or, after
 * `.rejects`, the rejection itself; it passes when what was thrown is an Error whose `code` is
 * `code` and, when `expected` is given, whose message is `expected` (a string: exactly; a
 * RegExp: matching) or whose fields match `expected` (an object: `message`, `hint`, `data`…).
 *
 *   expect(() => parseObject(bytes)).toThrowWithCode('BPF_MALFORMED', 'elf: truncated header');
 *   await expect(repo.tags()).rejects.toThrowWithCode('NOT_FOUND');
 *
 * Registered for every test file by vitest.config.ts (`setupFiles`).
 */
import { expect } from 'vitest';

type Expected = string | RegExp | Record<string, unknown>;

interface ThrowWithCode<R> {
  toThrowWithCode(code: string, expected?: Expected): R;
}

declare module 'vitest' {
  // biome-ignore lint/suspicious/noExplicitAny: a merged declaration repeats vitest's own type parameters
  interface Matchers<T = any> extends ThrowWithCode<T> {}
}

const NOTHING = Symbol('nothing thrown');

/** Uncoloured, for messages tests can compare. */
const show = (v: unknown) => (v instanceof RegExp ? String(v) : JSON.stringify(v));

function thrownBy(received: unknown): unknown {
  if (typeof received !== 'function') return received;
  try {
    received();
  } catch (e) {
    return e;
  }
  return NOTHING;
}

expect.extend({
  toThrowWithCode(received: unknown, code: string, expected?: Expected) {
    const judge = (thrown: unknown) => {
      const got = thrown as { code?: unknown; message?: unknown } | undefined;
      const describe = () =>
        thrown === NOTHING ? 'nothing was thrown' : thrown instanceof Error ? `got ${String(got?.code)}: ${String(got?.message)}` : `got ${show(thrown)}`;
      let pass = thrown instanceof Error && got?.code === code;
      if (pass && expected !== undefined) {
        if (typeof expected === 'string') pass = got?.message === expected;
        else if (expected instanceof RegExp) pass = typeof got?.message === 'string' && expected.test(got.message);
        else pass = this.equals(thrown, expect.objectContaining(expected));
      }
      const want = expected === undefined ? '' : ` and ${show(expected)}`;
      return {
        pass,
        message: () => `expected ${this.isNot ? 'no ' : ''}error with code ${code}${want}; ${describe()}`,
        actual: thrown instanceof Error ? { code: got?.code, message: got?.message } : thrown,
        expected: {
          code,
          ...(typeof expected === 'string' ? { message: expected } : typeof expected === 'object' && !(expected instanceof RegExp) ? expected : {}),
        },
      };
    };
    if (received instanceof Promise) {
      return received.then(
        () => judge(NOTHING),
        (e: unknown) => judge(e),
      );
    }
    return judge(thrownBy(received));
  },
});
