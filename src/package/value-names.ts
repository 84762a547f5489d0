/**
 * Names of the numbers an event field holds where its name says what they are, as the native
 * tools print them: signals (`SIGTERM`, as `kill -l`), negative error returns (`-ENOENT`, as the
 * kernel writes them) and open(2) flags (`O_RDONLY|O_CLOEXEC`, as strace). Linux's numbers;
 * open flags differ on arm64 (asm-generic/fcntl.h, arch/arm64/include/uapi/asm/fcntl.h).
 * The tables are built at first use: nothing here runs when the module is loaded.
 */
import { constants } from 'node:os';

/** Signals 1–31 (asm-generic/signal.h), by number less one; real-time ones print as numbers. */
const SIGNALS = [
  'HUP',
  'INT',
  'QUIT',
  'ILL',
  'TRAP',
  'ABRT',
  'BUS',
  'FPE',
  'KILL',
  'USR1',
  'SEGV',
  'USR2',
  'PIPE',
  'ALRM',
  'TERM',
  'STKFLT',
  'CHLD',
  'CONT',
  'STOP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'XCPU',
  'XFSZ',
  'VTALRM',
  'PROF',
  'WINCH',
  'IO',
  'PWR',
  'SYS',
].map((s) => `SIG${s}`);

/** `signalName` is `SIG…` for signals 1–31, else undefined. */
export function signalName(n: number): string | undefined {
  return SIGNALS[n - 1];
}

let errnos: Map<number, string> | undefined;

/** `errnoName` is `-E…` for a negative error number this system names, else undefined. */
export function errnoName(n: number): string | undefined {
  if (n >= 0) return undefined;
  if (errnos === undefined) {
    errnos = new Map();
    // Node's table is the system's: on Linux, the kernel's numbers. Aliases (EWOULDBLOCK) come after their first name.
    for (const [name, value] of Object.entries(constants.errno)) if (!errnos.has(-value)) errnos.set(-value, `-${name}`);
  }
  return errnos.get(n);
}

/** open(2) flags beyond the access mode, lowest bit first; the arm64 values where they differ. */
function openFlagBits(arm64: boolean): readonly (readonly [number, string])[] {
  return [
    [0o100, 'O_CREAT'],
    [0o200, 'O_EXCL'],
    [0o400, 'O_NOCTTY'],
    [0o1000, 'O_TRUNC'],
    [0o2000, 'O_APPEND'],
    [0o4000, 'O_NONBLOCK'],
    [0o10000, 'O_DSYNC'],
    [0o20000, 'O_ASYNC'],
    [arm64 ? 0o200000 : 0o40000, 'O_DIRECT'],
    [arm64 ? 0o400000 : 0o100000, 'O_LARGEFILE'],
    [arm64 ? 0o40000 : 0o200000, 'O_DIRECTORY'],
    [arm64 ? 0o100000 : 0o400000, 'O_NOFOLLOW'],
    [0o1000000, 'O_NOATIME'],
    [0o2000000, 'O_CLOEXEC'],
    [0o4000000, 'O_SYNC'],
    [0o10000000, 'O_PATH'],
    [0o20000000, 'O_TMPFILE'],
  ];
}

let openBits: readonly (readonly [number, string])[] | undefined;

/**
 * `openFlagsText` is open(2) flags as strace prints them: the access mode, then each flag, then
 * unknown bits in hex. O_SYNC and O_TMPFILE include O_DSYNC and O_DIRECTORY, which they hide.
 */
export function openFlagsText(flags: number): string {
  openBits ??= openFlagBits(process.arch === 'arm64');
  const names = [['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'][flags & 3]!];
  let rest = flags & ~3;
  const hidden = new Set<string>();
  if (rest & 0o4000000) hidden.add('O_DSYNC');
  if (rest & 0o20000000) hidden.add('O_DIRECTORY');
  for (const [bit, name] of openBits) {
    if ((rest & bit) === 0) continue;
    rest &= ~bit;
    if (!hidden.has(name)) names.push(name);
  }
  if (rest !== 0) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.join('|');
}
