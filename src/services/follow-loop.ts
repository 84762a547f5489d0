/**
 * `--follow`'s loop, shared by BPF runs (run.ts: new objects make before break) and Wasm runs
 * (run-wasm.ts: a new guest over the same objects): when to check, and how to say what became
 * of an update. Kept apart from follow.ts, which talks to the registry, so that a run that does
 * not follow never loads that.
 */
import { isCode } from '../core/errors.js';
import type { ResolvedPackage } from './run-source.js';

/** What became of an update: swapped in, or `refused`/`failed` with the reason, the old version still running. */
export type UpdateEvent =
  /** `replaced`: new BPF objects attached, then the old ones detached; `swapped`: a new Wasm guest over the same, still attached objects. */
  | { readonly from: string; readonly to: string; readonly how: 'replaced' | 'swapped' }
  | { readonly from: string; readonly to?: string; readonly how: 'refused' | 'failed'; readonly reason: string };

/** `--follow`: how a run looks for a newer version of its package, `N` being what it makes of one. */
export interface Follow<N> {
  readonly intervalMs: number;
  /** Registers `check` to run now when asked (SIGHUP); returns its removal. */
  onDemand(check: () => void): () => void;
  /** The newer version to run instead of `current`, undefined when there is none; a refusal throws. */
  next(current: ResolvedPackage): Promise<N | undefined>;
}

/**
 * `followChecks` runs `update` every interval and whenever `follow` is asked to, one at a time
 * (a request during a check runs after it, so a SIGHUP is never lost). `update` settling with
 * an error goes to `onError`. Returns the function that stops the checks.
 */
export function followChecks(follow: Follow<unknown>, update: () => Promise<void>, onError: (e: unknown) => void): () => void {
  let checking = false;
  let again = false;
  let ended = false;
  const check = () => {
    if (ended) return;
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    update()
      .catch(onError)
      .finally(() => {
        checking = false;
        if (again) {
          again = false;
          check();
        }
      });
  };
  const timer = setInterval(check, follow.intervalMs);
  const offDemand = follow.onDemand(check);
  return () => {
    ended = true;
    clearInterval(timer);
    offDemand();
  };
}

/** `failedUpdate` says why the update from `from` (to `to`, once known) did not happen: refused by the trust policy, or failed. */
export function failedUpdate(from: string, to: string | undefined, e: unknown): UpdateEvent {
  const reason = e instanceof Error ? e.message : String(e);
  return { from, ...(to === undefined ? {} : { to }), how: isCode(e, 'TRUST_REFUSED') ? 'refused' : 'failed', reason };
}
