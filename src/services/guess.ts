/**
 * "Did you mean" for package names: when a reference names nothing, the stored package whose name
 * is closest to it, as `run`, `pull`, `inspect`, `verify` and the store's commands say it; when a
 * path names nothing, the closest entry of its directory.
 */
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isEbpmError, EbpmError } from '../core/errors.js';
import { suggest } from '../core/suggest.js';
import { list } from '../store/maintenance.js';
import type { Context } from './context.js';

/** `nearStoredName` is the stored package name closest to `name` when `name` is none of them (a mistyped one), else undefined. */
export async function nearStoredName(ctx: Context, name: string): Promise<string | undefined> {
  const names = new Set((await list(await ctx.store())).map((e) => e.name));
  return names.has(name) ? undefined : suggest(name, names);
}

/**
 * `nearPath` is the path `arg` was likely meant to be, when it names nothing: `arg` with its last
 * component replaced by the closest entry of the directory it names (`examples/opensnop` →
 * `examples/opensnoop`), or undefined.
 */
export async function nearPath(cwd: string, arg: string): Promise<string | undefined> {
  const cut = arg.lastIndexOf('/') + 1;
  const base = arg.slice(cut);
  if (base === '') return undefined;
  const entries = await readdir(resolve(cwd, arg.slice(0, cut) || '.')).catch(() => []);
  const near = suggest(base, entries);
  return near === undefined ? undefined : `${arg.slice(0, cut)}${near}`;
}

/**
 * `withStoredGuess` is `e` with the hint "did you mean <name>?" when `e` says the package `input`
 * names is missing (from a registry or the store) and a stored package's name is near its name;
 * else `e` unchanged. A guess that cannot be made (an unreadable store) leaves `e` as it is.
 */
export async function withStoredGuess(ctx: Context, input: string, e: unknown): Promise<unknown> {
  if (!isEbpmError(e) || (e.code !== 'NOT_FOUND' && e.code !== 'NOT_STORED')) return e;
  try {
    const { parseUserReference } = await import('./resolve.js');
    const near = await nearStoredName(ctx, parseUserReference(ctx, input).repository.split('/').pop()!);
    return near === undefined ? e : new EbpmError(e.code, e.message, { hint: `did you mean ${near}?`, data: e.data, cause: e.cause });
  } catch {
    return e;
  }
}
