import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EbpmError } from '../core/errors.js';

/*
 * An inter-process lock made of an O_EXCL lock file holding `{pid, start, token}`, where `start`
 * is the process start time from /proc/<pid>/stat (field 22, clock ticks since boot), so a pid
 * reused by another process does not keep a dead holder's lock alive. A lock whose holder is gone
 * is stale and broken; breaking is itself serialised by a short-lived second O_EXCL file, so two
 * breakers never remove a lock a third process has just taken. Its files are a few bytes, each
 * step one system call: synchronous, as the store's own (layout.ts, `SYNC_IO_BYTES`), rather
 * than a thread-pool round trip each.
 */

/** `Owner` identifies a process across pid reuse. */
export interface Owner {
  readonly pid: number;
  readonly start: string;
}

/** `processStart` reads a process's start time, or `undefined` if it is gone or a zombie. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

let self: Owner | undefined;

/**
 * `selfOwner` is this process, read once per process: the start-up snapshot's build stores
 * packages (its warm-up) and keeps this module's state, so what it read there must not pass for
 * a process started from it, which would take every other one's lock for its own.
 */
export function selfOwner(): Owner {
  if (self?.pid !== process.pid) self = { pid: process.pid, start: processStart(process.pid) ?? '0' };
  return self;
}

/** `isAlive` tells whether `owner` still runs (same pid, same start time). */
export function isAlive(owner: Owner): boolean {
  const me = selfOwner();
  if (owner.pid === me.pid && owner.start === me.start) return true;
  return processStart(owner.pid) === owner.start;
}

/** `LockOptions` bound the wait for a lock. */
export interface LockOptions {
  /** How long to wait for another process to release the lock. Default 10 000 ms. */
  timeoutMs?: number;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/** A holder that never wrote its content died between create and write; older than this it is stale. */
const UNWRITTEN_STALE_MS = 1_000;

// Within one process, callers queue here first: the lock file only arbitrates between processes.
const local = new Map<string, Promise<void>>();

/**
 * `withLock` runs `f` holding the lock file `path`, waiting at most `timeoutMs` for other
 * processes (then `STORE_LOCKED`), and always releases it.
 */
export async function withLock<T>(path: string, f: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const prev = local.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  local.set(path, tail);
  await prev;
  try {
    const token = await acquire(path, opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    try {
      return await f();
    } finally {
      releaseFile(path, token);
    }
  } finally {
    release();
    if (local.get(path) === tail) local.delete(path);
  }
}

interface Holder extends Owner {
  readonly token: string;
}

type Seen = { kind: 'held'; holder: Holder } | { kind: 'unwritten'; ino: number; age: number } | { kind: 'gone' };

async function acquire(path: string, timeoutMs: number): Promise<string> {
  const token = randomBytes(12).toString('hex');
  const { pid, start } = selfOwner();
  const content = JSON.stringify({ pid, start, token });
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (createExclusive(path, content)) return token;
    const seen = look(path);
    if (seen.kind === 'gone') continue;
    if (seen.kind === 'unwritten' ? seen.age > UNWRITTEN_STALE_MS : !isAlive(seen.holder) || seen.holder.pid === pid) {
      // Our own pid in the file means an earlier holder in this process leaked it: the in-process queue rules out a live one.
      await breakStale(path, seen);
      continue;
    }
    if (Date.now() > deadline) {
      const pid = seen.kind === 'held' ? seen.holder.pid : undefined;
      throw new EbpmError('STORE_LOCKED', `store is locked${pid === undefined ? '' : ` by process ${pid}`}`, {
        hint: `another ebpm is updating the store; wait for it, or remove ${path} if no ebpm is running`,
        data: { lock: path, pid },
      });
    }
    await sleep(delay * (0.5 + Math.random()));
  }
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeFileSync(fd, content);
  } catch (e) {
    // An empty lock file (a full disk) would hold others off until it is stale.
    unlinkQuiet(path);
    throw e;
  } finally {
    closeSync(fd);
  }
  return true;
}

function look(path: string): Seen {
  try {
    const text = readFileSync(path, 'utf8');
    const h = parseHolder(text);
    if (h !== undefined) return { kind: 'held', holder: h };
    const st = statSync(path);
    return { kind: 'unwritten', ino: st.ino, age: Date.now() - st.mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    throw e;
  }
}

function parseHolder(text: string): Holder | undefined {
  try {
    const v = JSON.parse(text) as Partial<Holder>;
    if (typeof v.pid === 'number' && typeof v.start === 'string' && typeof v.token === 'string') return v as Holder;
  } catch {
    // Partly written: the caller decides by age.
  }
  return undefined;
}

/** `breakStale` removes the lock file only if it is still exactly the stale one `seen`. */
async function breakStale(path: string, seen: Seen): Promise<void> {
  const breaker = `${path}.break`;
  if (!createExclusive(breaker, JSON.stringify(selfOwner()))) {
    // Another process is breaking it; a breaker is held for microseconds, so an old one is itself stale.
    try {
      if (Date.now() - statSync(breaker).mtimeMs > UNWRITTEN_STALE_MS) unlinkSync(breaker);
    } catch {
      // Gone already.
    }
    await sleep(5);
    return;
  }
  try {
    const now = look(path);
    const same =
      (now.kind === 'held' && seen.kind === 'held' && now.holder.token === seen.holder.token) ||
      (now.kind === 'unwritten' && seen.kind === 'unwritten' && now.ino === seen.ino);
    if (same) unlinkSync(path);
  } finally {
    unlinkQuiet(breaker);
  }
}

function releaseFile(path: string, token: string): void {
  const seen = look(path);
  if (seen.kind === 'held' && seen.holder.token === token) unlinkSync(path);
}

/** `unlinkQuiet` removes a file that may be gone already (a lock another process broke, a temp file); the store's writers share it. */
export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}
