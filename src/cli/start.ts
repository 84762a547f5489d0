import { formatError } from './errors.js';
import type { Io } from './command.js';

/**
 * `start` runs the CLI `main` (main.ts's, or a dispatcher of fewer commands) in this process on
 * `args`, for every way it starts: the ESM bundle (bin.ts) and the start-up snapshots
 * (snapshot.ts, snapshot-ls.ts), whose modules are already evaluated.
 */
export async function start(args: string[], main: (args: string[], io: Io) => Promise<number>): Promise<void> {
  // Start-up phases for the benchmarks (bench/README.md): the bundle (or the snapshot) is loaded here.
  // Loaded only then: `ebpm --version` loads nothing it does not call.
  if (process.env.EBPM_TRACE_STARTUP === '1') {
    const { phase, tracePhases } = await import('../core/phases.js');
    tracePhases();
    phase('bundle');
  }
  const io: Io = { stdin: () => process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
  await main(args, io).then(
    (code) => {
      process.exitCode = code;
      // 128 + SIGINT or SIGTERM: a run stopped by a signal has detached everything and ends now;
      // output a reader has not taken (a pipe nobody reads) must not keep the process alive.
      if (code === 130 || code === 143) process.exit();
    },
    (e: unknown) => {
      process.stderr.write(formatError(e, true) + '\n');
      process.exitCode = 70;
    },
  );
}
