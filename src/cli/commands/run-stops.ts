/**
 * How `ebpm run` stops: SIGINT and SIGTERM, and a stdout whose reader went away, abort the run
 * instead of killing the process, so that it detaches everything first; `exitCode` turns why it
 * stopped into the process's exit code.
 */
import { closeSync, openSync } from 'node:fs';
import { isatty } from 'node:tty';
import { EbpmError } from '../../core/errors.js';
import type { StopReason } from '../../api/run.js';
import type { Io } from '../command.js';

/** `exitCode` of a run: 0 for a planned stop, 128 + the signal number for a signal (as shells report them). */
export function exitCode(stop: StopReason): number {
  switch (stop.kind) {
    case 'duration':
    case 'max-events':
    case 'output-closed':
    case 'stopped':
      return 0;
    case 'signal':
      return stop.signal === 'SIGINT' ? 130 : 143;
  }
}

/** Write errors that mean the reader of stdout went away: a closed pipe, a hung-up terminal. */
const CLOSED_OUTPUT = ['EPIPE', 'EIO'];

/**
 * `withStops` runs `fn` with an abort signal that SIGINT/SIGTERM raise (reason: the signal's
 * name) instead of killing the process, and that a closed stdout raises (reason
 * `output-closed`), so the run can detach everything first. Any other write error on stdout
 * stops the run too and is thrown once it has ended (`OUTPUT_FAILED`). `fn` reports a failed
 * write it made itself, not through the stream, to `outputFailed`.
 */
export async function withStops<T>(io: Io, fn: (signal: AbortSignal, outputFailed: (e: NodeJS.ErrnoException) => void) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const terminals = [0, 1, 2].filter((fd) => isatty(fd));
  let failed: NodeJS.ErrnoException | undefined;
  const onSignal = (sig: NodeJS.Signals) => controller.abort(sig);
  const onOutputError = (e: NodeJS.ErrnoException) => {
    if (!CLOSED_OUTPUT.includes(e.code ?? '')) failed ??= e;
    controller.abort('output-closed');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Left on: a write that fails as the run winds down (the last flush, the end summary) must
  // not crash the process, and a closed stderr leaves nowhere to report it.
  io.stdout.on('error', onOutputError);
  io.stderr.on('error', () => undefined);
  try {
    const result = await fn(controller.signal, onOutputError);
    if (failed)
      throw new EbpmError('OUTPUT_FAILED', `run: write stdout: ${failed.code ?? failed.message}`, {
        cause: failed,
        hint: 'free space or fix where stdout goes, then run again',
      });
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Node 20 aborts at exit when it cannot restore a hung-up terminal's modes (nodejs/node#51519,
    // fixed by #58200 after 20.x); it skips a descriptor that now names another file.
    if (controller.signal.reason === 'output-closed') for (const fd of terminals) if (!isatty(fd)) reopenAsNull(fd);
  }
}

/** `reopenAsNull` makes `fd` refer to /dev/null: closed, it is the lowest free descriptor that open takes. */
function reopenAsNull(fd: number): void {
  closeSync(fd);
  openSync('/dev/null', fd === 0 ? 'r' : 'w');
}
