// The syscall tables are generated from the installed kernel headers; a hand edit, or headers
// that say something else, fail here. arm64 names the generic header defines only under an
// __ARCH_WANT_* switch are left out rather than guessed.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SYSCALL_NAMES } from '../../src/package/syscalls.js';

const SCRIPT = new URL('../../scripts/gen-syscalls.mjs', import.meta.url).pathname;
const name = (arch: string, n: number) => SYSCALL_NAMES[arch]!.find(([k]) => k === n)?.[1];
const number = (arch: string, s: string) => SYSCALL_NAMES[arch]!.find(([, v]) => v === s)?.[0];

describe('generated syscall tables', () => {
  it('match what the generator makes from /usr/include', () => {
    expect(execFileSync(process.execPath, [SCRIPT, '--check'], { encoding: 'utf8' })).toBe('');
  });

  it('are reported stale against other headers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpm-syscalls-'));
    try {
      mkdirSync(join(dir, 'x86_64-linux-gnu/asm'), { recursive: true });
      mkdirSync(join(dir, 'asm-generic'));
      writeFileSync(join(dir, 'x86_64-linux-gnu/asm/unistd_64.h'), '#define __NR_read 0\n');
      writeFileSync(join(dir, 'asm-generic/unistd.h'), '#define __NR_io_setup 0\n#ifdef __ARCH_WANT_RENAMEAT\n#define __NR_renameat 38\n#endif\n');
      const r = spawnSync(process.execPath, [SCRIPT, '--check', '--include', dir], { encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([1, 'src/package/syscalls.ts differs from what scripts/gen-syscalls.mjs generates; run it without --check\n']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('name x86_64 and arm64 syscalls by their numbers', () => {
    expect([name('amd64', 0), name('amd64', 39), name('amd64', 110), name('amd64', 230), name('amd64', 257)]).toEqual([
      'read',
      'getpid',
      'getppid',
      'clock_nanosleep',
      'openat',
    ]);
    expect([name('arm64', 0), name('arm64', 56), name('arm64', 62), name('arm64', 173), name('arm64', 222)]).toEqual([
      'io_setup',
      'openat',
      'lseek',
      'getppid',
      'mmap',
    ]);
    // Switched by __ARCH_WANT_*: not guessed.
    expect([number('arm64', 'renameat'), number('arm64', 'newfstatat'), number('arm64', 'getrlimit')]).toEqual([undefined, undefined, undefined]);
  });
});
