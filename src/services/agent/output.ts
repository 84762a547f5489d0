// What the agent makes of a child's output: the lines it counts, the recent lines it keeps for
// `ebpm logs`, and the size-rotated file an instance may write to.
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * What one line of `ebpm run --json`'s stdout is: an event, a snapshot of a map
 * (`{"key":…,"value":…}` or `{"map":…,"entries":[…]}`), an update or a refused update of `--follow`, or an error.
 */
export type LineKind = 'event' | 'sample' | 'update' | 'refusal' | 'error';

/** `classifyLine` tells what a stdout line of the child is, from the keys of its object. */
export function classifyLine(line: string): LineKind {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return 'event';
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return 'event';
  const keys = Object.keys(o);
  // A snapshot of a map: one entry of an `@sample` map, or a whole result map (runqlat's histogram).
  if (keys.length === 2 && ((keys.includes('key') && keys.includes('value')) || (keys.includes('map') && keys.includes('entries')))) return 'sample';
  if (keys.length === 1 && keys[0] === 'error') return 'error';
  // run --follow's `{"update":{"how":…,"from":…,"to":…}}`: a version swapped in, or one refused or failed (the old one runs on).
  if (keys.length === 1 && keys[0] === 'update') {
    const how = (o as { update: { how?: unknown } | null }).update?.how;
    return how === 'refused' || how === 'failed' ? 'refusal' : 'update';
  }
  return 'event';
}

/** `parseSummary` reads run's last stderr line (`sigsnoop: 3 events, 0 lost (stopped: …)`). */
export function parseSummary(line: string): { events: number; lost: number } | undefined {
  const m = /^\S+: (\d+) events, (\d+) lost\b/.exec(line);
  return m ? { events: Number(m[1]), lost: Number(m[2]) } : undefined;
}

/** `parseAttached` reads the version from run's attach line (`sigsnoop 1.2.0: attached …`, or `…: started its Wasm program`). */
export function parseAttached(line: string): string | undefined {
  return /^\S+ (\S+): (?:attached\b|started its Wasm program$)/.exec(line)?.[1];
}

/** `RecentLines` keeps the last `limit` lines and tells followers about new ones. */
export class RecentLines {
  readonly #lines: string[] = [];
  readonly #followers = new Set<(line: string) => void>();

  constructor(private readonly limit: number) {}

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.limit) this.#lines.shift();
    for (const f of this.#followers) f(line);
  }

  tail(n: number): string[] {
    return n === 0 ? [] : this.#lines.slice(-n);
  }

  /** `follow` calls `f` for every line pushed from now on, until the returned function is called. */
  follow(f: (line: string) => void): () => void {
    this.#followers.add(f);
    return () => this.#followers.delete(f);
  }
}

/**
 * `RotatingFile` appends lines to `path`; past `maxBytes` it renames `path` to `path.1` (and
 * `.1` to `.2`, …, dropping what would be `.keep+1`) and starts a new file, as logrotate's
 * `size` does, so a busy tool cannot fill the disk.
 */
export class RotatingFile {
  #fd: number;
  #size: number;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.#fd = openSync(path, 'a', 0o640);
    this.#size = fstatSync(this.#fd).size;
  }

  write(line: string): void {
    const bytes = Buffer.from(line + '\n');
    if (this.#size > 0 && this.#size + bytes.length > this.maxBytes) this.#rotate();
    writeSync(this.#fd, bytes);
    this.#size += bytes.length;
  }

  close(): void {
    closeSync(this.#fd);
  }

  #rotate(): void {
    closeSync(this.#fd);
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      try {
        renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    if (this.keep > 0) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
    this.#fd = openSync(this.path, 'a', 0o640);
    this.#size = 0;
  }
}
