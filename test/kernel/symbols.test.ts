// Naming stack frames: the /proc/kallsyms and /proc/<pid>/maps parsers over literal lines, and
// the symbolizer over a real process (a C program built here, which prints where its function is).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { parseImage } from '../../src/bpf/elf.js';
import { symbolizer } from '../../src/kernel/symbolize.js';
import { floorIndex, kernelSymbol, mappingOf, parseKallsyms, parseProcMaps } from '../../src/kernel/symbols.js';
import { describeWith } from '../helpers/prereq.js';

const KALLSYMS = [
  'ffffffff8224fb80 t do_nanosleep',
  'ffffffff81000000 T _stext',
  'ffffffff8142f660 T hrtimer_nanosleep',
  '0000000000000000 A fixed_percpu_data',
  'ffffffffc0027000 t bpf_dispatcher_xdp\t[bpf]',
  'not a symbol line',
  '',
].join('\n');

describe('parseKallsyms and kernelSymbol', () => {
  const table = parseKallsyms(KALLSYMS);

  it('sorts the code symbols by address, leaving absolute symbols and bad lines out', () => {
    expect(table.addresses).toEqual([0xffffffff81000000n, 0xffffffff8142f660n, 0xffffffff8224fb80n, 0xffffffffc0027000n]);
    expect(table.names).toEqual(['_stext', 'hrtimer_nanosleep', 'do_nanosleep', 'bpf_dispatcher_xdp']);
    expect(table.modules).toEqual(['', '', '', 'bpf']);
    expect(table.hidden).toBe(false);
  });

  it('names an address after the nearest symbol at or below it, with the module', () => {
    expect(kernelSymbol(table, 0xffffffff8224fbden)).toBe('do_nanosleep+0x5e');
    expect(kernelSymbol(table, 0xffffffff8142f660n)).toBe('hrtimer_nanosleep+0x0');
    expect(kernelSymbol(table, 0xffffffffc002813dn)).toBe('bpf_dispatcher_xdp+0x113d [bpf]');
    expect(kernelSymbol(table, 0xffffffff80000000n)).toBeUndefined();
  });

  it('says when the kernel shows every address as 0 (not root, or kptr_restrict), and names nothing', () => {
    const hidden = parseKallsyms('0000000000000000 T _stext\n0000000000000000 t do_nanosleep\n');
    expect(hidden.hidden).toBe(true);
    expect(kernelSymbol(hidden, 0xffffffff8224fbden)).toBeUndefined();
    expect(parseKallsyms('').hidden).toBe(false);
  });

  it('floorIndex finds the last element at or below', () => {
    expect([0n, 5n, 9n, 10n, 100n].map((x) => floorIndex([5n, 10n, 20n], x))).toEqual([-1, 0, 0, 1, 2]);
    expect(floorIndex([], 1n)).toBe(-1);
  });
});

describe('parseProcMaps and mappingOf', () => {
  const maps = parseProcMaps(
    [
      '55d0c4a00000-55d0c4a28000 r--p 00000000 fe:01 1311  /usr/bin/perl',
      '7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 2222                       /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7f3a1c200000-7f3a1c201000 rw-p 00000000 00:00 0 ',
      '7ffd1e5f0000-7ffd1e611000 rw-p 00000000 00:00 0                          [stack]',
      'garbage',
    ].join('\n'),
  );

  it('reads range, permissions, file offset and path of each line', () => {
    expect(maps).toEqual([
      { start: 0x55d0c4a00000n, end: 0x55d0c4a28000n, perms: 'r--p', offset: 0n, path: '/usr/bin/perl' },
      { start: 0x7f3a1c028000n, end: 0x7f3a1c1bd000n, perms: 'r-xp', offset: 0x28000n, path: '/usr/lib/x86_64-linux-gnu/libc.so.6' },
      { start: 0x7f3a1c200000n, end: 0x7f3a1c201000n, perms: 'rw-p', offset: 0n, path: '' },
      { start: 0x7ffd1e5f0000n, end: 0x7ffd1e611000n, perms: 'rw-p', offset: 0n, path: '[stack]' },
    ]);
  });

  it('finds the mapping holding an address, none in a gap or at an end', () => {
    expect(mappingOf(maps, 0x7f3a1c0c3503n)?.path).toBe('/usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(mappingOf(maps, 0x55d0c4a00000n)?.path).toBe('/usr/bin/perl');
    expect(mappingOf(maps, 0x55d0c4a28000n)).toBeUndefined();
    expect(mappingOf(maps, 0x1000n)).toBeUndefined();
  });
});

describe('parseImage', () => {
  it('reads executables and shared objects only', () => {
    const rel = new Uint8Array(64);
    rel.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    rel[16] = 1;
    expect(() => parseImage(rel)).toThrowWithCode('BPF_MALFORMED', 'elf header: e_type 1, not an executable or shared object');
  });
});

describeWith(['clang'], 'symbolizer: user frames of a live process', () => {
  it('names an address inside a function of the executable as function+offset, and an unmapped one not at all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpm-sym-'));
    try {
      const src = join(dir, 'where.c');
      writeFileSync(
        src,
        '#include <stdio.h>\n__attribute__((noinline)) int ebpm_marker(int x) { return x * 3 + 1; }\n' +
          'int main(void) { printf("%lx\\n", (unsigned long)&ebpm_marker); fflush(stdout); return getchar() + ebpm_marker(1); }\n',
      );
      const exe = join(dir, 'where');
      execFileSync('clang', ['-O1', '-fPIE', '-pie', '-o', exe, src]);
      const marker = parseImage(readFileSync(exe)).functions.find((f) => f.name === 'ebpm_marker');
      expect(marker?.size).toBeGreaterThan(2);
      const child = spawn(exe, [], { stdio: ['pipe', 'pipe', 'inherit'] });
      try {
        const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
        const at = BigInt(`0x${line}`);
        const s = symbolizer();
        expect(s.user(child.pid!, at + 2n)).toBe('ebpm_marker+0x2');
        expect(s.user(child.pid!, 0x10n)).toBeUndefined();
        expect(s.user(0, at)).toBeUndefined();
      } finally {
        child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
