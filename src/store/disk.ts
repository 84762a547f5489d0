import { EbpmError } from '../core/errors.js';

/*
 * What a filesystem that takes no more writes means to a user. A full disk or a read-only
 * store is not a bug in ebpm: it gets one line saying where, and what frees space.
 */

const FULL: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/** `isFull` tells errors meaning the filesystem (or the user's quota) has no room left. */
export function isFull(e: unknown): boolean {
  return FULL.has((e as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** `isUnwritable` tells errors meaning nothing can be written there now: full, read-only, or not ours to write. */
export function isUnwritable(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
  return isFull(e) || code === 'EROFS' || code === 'EACCES' || code === 'EPERM';
}

/**
 * `diskError` makes a full filesystem (`NO_SPACE`) or a read-only one (`READ_ONLY`) under
 * `where` (a store, the directory of a file being written) an error naming it, with a hint;
 * any other error passes unchanged.
 */
export function diskError(e: unknown, where: string): unknown {
  if (isFull(e)) {
    return new EbpmError('NO_SPACE', `no space left on ${where}`, {
      hint: 'free space there: `ebpm prune` removes what no stored package uses, `ebpm rm <ref>` a stored package',
      data: { path: where },
      cause: e,
    });
  }
  if ((e as NodeJS.ErrnoException | undefined)?.code === 'EROFS') {
    return new EbpmError('READ_ONLY', `${where} is on a read-only file system`, {
      hint: 'remount it read-write, or point EBPM_STORE at a writable directory; run still works from a read-only store',
      data: { path: where },
      cause: e,
    });
  }
  return e;
}
