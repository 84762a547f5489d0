/**
 * `ebpm inspect <reference>`: what a package in a registry holds, read from the registry (the
 * manifest and config; layers only for foreign formats) without touching the local store.
 */
import { withContext } from '../core/errors.js';
import type { Platform } from '../core/oci.js';
import type { Context } from './context.js';
import { inspectTarget, type InspectResult } from './inspect.js';
import { openRepository, parseUserReference, resolveRemote } from './resolve.js';
import { withStoredGuess } from './guess.js';

/** `inspectRemote` resolves `input` (tags, ranges, digests as pull does) and inspects it there, for `platform` when it is an index. */
export async function inspectRemote(ctx: Context, input: string, platform?: Platform): Promise<InspectResult & { reference: string }> {
  try {
    const ref = parseUserReference(ctx, input);
    const r = await resolveRemote(ctx, ref);
    const name = ref.repository.split('/').pop()!;
    const info = await inspectTarget(await openRepository(ctx, ref), r.descriptor, { source: input, name, ...(platform ? { platform } : {}) });
    return { ...info, reference: r.storeRef };
  } catch (e) {
    throw withContext(`inspect ${input}`, await withStoredGuess(ctx, input, e));
  }
}
