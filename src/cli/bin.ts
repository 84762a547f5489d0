import { main } from './main.js';
import { formatError } from './errors.js';
import type { Io } from './command.js';

const io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(formatError(e, true) + '\n');
    process.exitCode = 70;
  },
);
