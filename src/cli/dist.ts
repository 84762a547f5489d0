/**
 * What the distribution commands share: opening the service context from the command's
 * environment, deciding between the live view, plain lines and JSON, running a transfer with
 * progress on a terminal, and printing tables.
 */
import { openContext, type Context } from '../api/context.js';
import type { OnTransferEvent } from '../api/transfer.js';
import type { TrustPolicy } from '../sign/policy.js';
import type { Flags, Io } from './command.js';
import { cut, isLive, layoutTable, paints, terminalSafe, writeText } from './format.js';
import { liveRegion } from './views/live-region.js';
import { liveTransfer } from './views/transfer-live.js';

/** `VERBOSE_FLAG` prints one line per HTTP exchange to stderr. */
export const VERBOSE_FLAG = {
  verbose: { type: 'boolean', default: false, description: 'print one line per HTTP exchange with a registry on stderr' },
} as const satisfies Flags;

/** `context` opens the services' context for a command run; `trustPolicy` is the policy the command already read. */
export function context(io: Io, verbose: boolean, trustPolicy?: () => TrustPolicy): Promise<Context> {
  return openContext(io.env, {
    ...(verbose ? { debug: (line: string) => io.stderr.write(`${line}\n`) } : {}),
    ...(io.plainHttp === undefined ? {} : { plainHttp: io.plainHttp }),
    ...(trustPolicy === undefined ? {} : { trustPolicy }),
  });
}

/** `writeJson` prints the machine output of a command. */
export function writeJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `writeLines` prints plain lines on stdout. */
export function writeLines(io: Io, lines: readonly string[]): void {
  if (lines.length > 0) writeText(io.stdout, `${lines.join('\n')}\n`);
}

/** `withProgress` runs a push or pull with the live view on a terminal, silently otherwise. */
export async function withProgress<T>(io: Io, verb: 'push' | 'pull', json: boolean, run: (onEvent: OnTransferEvent | undefined) => Promise<T>): Promise<T> {
  if (!isLive(io, json)) return run(undefined);
  const live = liveTransfer(io.stdout as NodeJS.WriteStream, verb, paints(io.env));
  try {
    return await run(live.onEvent);
  } finally {
    live.stop();
  }
}

/**
 * `printTable` prints a table as aligned lines; on a terminal, drawn once as a live region (the
 * header bold, each line cut to the terminal's width with `…`), without ink, which cost `ebpm ls`
 * on a terminal 200 ms and 30 MB. `truncate: false` (`--no-trunc`) prints whole cells as plain
 * lines, for the terminal to wrap.
 */
export async function printTable(io: Io, header: readonly string[], cells: readonly (readonly string[])[], opts: { truncate?: boolean } = {}): Promise<void> {
  const rows = cells.map((r) => r.map((c) => terminalSafe(c)));
  if (opts.truncate === false) {
    writeLines(io, layoutTable(header, rows, Number.POSITIVE_INFINITY));
    return;
  }
  if (isLive(io, false)) {
    const out = io.stdout as NodeJS.WriteStream;
    const columns = out.columns || 80;
    const [head = '', ...lines] = layoutTable(header, rows);
    const region = liveRegion(out, paints(io.env));
    region.draw([{ text: cut(head, columns), style: 'bold' }, ...lines.map((l) => ({ text: cut(l, columns) }))]);
    region.done();
    return;
  }
  writeLines(io, layoutTable(header, rows));
}

/** `valuesOrThrow` throws the first rejection among `outcomes`, else returns the values. */
export function valuesOrThrow<R>(outcomes: readonly PromiseSettledResult<R>[]): R[] {
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return outcomes.map((o) => (o as PromiseFulfilledResult<R>).value);
}
