import { header, isRetryable, type Stage } from './http.js';

/**
 * Retries of idempotent requests (GET/HEAD, manifest PUT: the caller marks them) on connection
 * failures, timeouts, 5xx and 429 (and, through `retrying`, of whole-blob uploads, which read
 * their content again), with exponential backoff and full jitter (AWS Architecture
 * Blog, "Exponential Backoff And Jitter"). `Retry-After` (RFC 9110 §10.2.3; distribution-spec
 * HEAD: 429 SHOULD carry it) is honoured, and the whole affair is bounded both in attempts and in
 * time: a `Retry-After` beyond the budget is not waited for, the 429 goes to the caller.
 */
export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  readonly attempts?: number;
  /** First backoff ceiling in ms, doubled each time (default 200). */
  readonly baseDelayMs?: number;
  /** Largest single wait in ms (default 5 s). */
  readonly maxDelayMs?: number;
  /** Total time budget in ms from the first attempt (default 60 s). */
  readonly budgetMs?: number;
  /** Injected for tests: a number in [0, 1). */
  readonly random?: () => number;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** `retryAfterMs` reads `Retry-After` as delay-seconds or an HTTP-date. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `Policy` is `RetryOptions` resolved: how many attempts, and how long to wait before the next. */
interface Policy {
  readonly attempts: number;
  /** The wait after failed attempt `attempt` (1-based), or undefined when it would overrun the budget counted from `start`. */
  wait(attempt: number, start: number, retryAfter?: number): number | undefined;
}

function policy(opts: RetryOptions = {}): Policy {
  const base = opts.baseDelayMs ?? 200;
  const maxDelay = opts.maxDelayMs ?? 5000;
  const budget = opts.budgetMs ?? 60_000;
  const random = opts.random ?? Math.random;
  return {
    attempts: Math.max(1, opts.attempts ?? 4),
    wait(attempt, start, retryAfter) {
      const wait = retryAfter ?? Math.min(maxDelay, base * 2 ** (attempt - 1)) * random();
      return Date.now() - start + wait > budget ? undefined : wait;
    },
  };
}

/** `withRetry` is the retry stage; see `RetryOptions`. */
export function withRetry(opts: RetryOptions = {}): Stage {
  const p = policy(opts);
  return (next) => async (req) => {
    if (!req.idempotent) return next(req);
    const start = Date.now();
    for (let attempt = 1; ; attempt++) {
      let wait: number | undefined;
      try {
        const res = await next(req);
        if (!RETRY_STATUS.has(res.status) || attempt >= p.attempts) return res;
        wait = p.wait(attempt, start, retryAfterMs(header(res, 'retry-after')));
        if (wait === undefined) return res;
        await res.body.dump();
      } catch (e) {
        if (!isRetryable(e) || attempt >= p.attempts) throw e;
        wait = p.wait(attempt, start);
        if (wait === undefined) throw e;
      }
      await sleep(wait, req.signal);
    }
  };
}

/**
 * `retrying` runs `attempt` again, under the same policy as the retry stage, after failures
 * `retryable` accepts (a `Retry-After` the registry sent, kept in `data.retryAfter` by
 * errors.ts `registryError`, is honoured): for exchanges the stage cannot repeat by itself, such
 * as a blob upload whose body must be read again from its source.
 */
export async function retrying<T>(
  opts: RetryOptions | undefined,
  signal: AbortSignal | undefined,
  attempt: (n: number) => Promise<T>,
  retryable: (e: unknown) => boolean,
): Promise<T> {
  const p = policy(opts);
  const start = Date.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      const after = (e as { data?: { retryAfter?: unknown } }).data?.retryAfter;
      const wait = n < p.attempts && retryable(e) ? p.wait(n, start, retryAfterMs(typeof after === 'string' ? after : undefined)) : undefined;
      if (wait === undefined) throw e;
      await sleep(wait, signal);
    }
  }
}
