/** The library's client for the commands that use it (`pull`, `search`, `inspect`): apart from dist.ts, whose other commands do not load its services. */
import { clientOf, type Ebpm } from '../api/client.js';
import type { Context } from '../api/context.js';
import type { Io } from './command.js';
import { context } from './dist.js';

/** `client` is the library's client over the command's context (`context`), opened on first use. */
export function client(io: Io, verbose: boolean): Ebpm {
  let ctx: Promise<Context> | undefined;
  return clientOf(() => (ctx ??= context(io, verbose)), io.env, io.cwd);
}
