/** The CLI: every command, loaded lazily (`ebpm run` must not pay for the registry client). */
import { allCommands, dispatcher, type CommandTable } from './dispatch.js';

const COMMANDS: CommandTable = {
  build: () => import('./commands/build.js'),
  check: () => import('./commands/check.js'),
  init: () => import('./commands/init.js'),
  inspect: () => import('./commands/inspect.js'),
  push: () => import('./commands/push.js'),
  pull: () => import('./commands/pull.js'),
  tag: () => import('./commands/tag.js'),
  cp: () => import('./commands/cp.js'),
  ls: () => import('./commands/ls.js'),
  rm: () => import('./commands/rm.js'),
  prune: () => import('./commands/prune.js'),
  login: () => import('./commands/login.js'),
  logout: () => import('./commands/logout.js'),
  search: () => import('./commands/search.js'),
  versions: () => import('./commands/versions.js'),
  export: () => import('./commands/export.js'),
  import: () => import('./commands/import.js'),
  keygen: () => import('./commands/keygen.js'),
  run: () => import('./commands/run.js'),
  sign: () => import('./commands/sign.js'),
  verify: () => import('./commands/verify.js'),
  agent: () => import('./commands/agent.js'),
  ps: () => import('./commands/ps.js'),
  logs: () => import('./commands/logs.js'),
  stop: () => import('./commands/stop.js'),
  start: () => import('./commands/start.js'),
  version: () => import('./commands/version.js'),
  completion: async () => ({ default: (await import('./commands/completion.js')).completionCommand(() => allCommands(COMMANDS)) }),
};

/** `main` runs `ebpm <args>` with `io` and returns its exit code. */
export const main = dispatcher(COMMANDS);
