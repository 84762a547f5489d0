// Maps keyed by syscall number, proven from the instructions: small objects built here with
// clang (the key from the context's id, or chosen by a flag the walk cannot know, or on another
// tracepoint), and libbpf-tools' syscount, whose key `count_by_process` switches to the pid.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { embeddedBpfObjects } from '../../src/bpf/embedded.js';
import { parseElf, type ElfFile } from '../../src/bpf/elf.js';
import { syscallKeyedMaps } from '../../src/bpf/syscall-keys.js';
import { describeWith } from '../helpers/prereq.js';

const rodataOf = (elf: ElfFile, patch: (b: Uint8Array) => void = () => undefined) => {
  const bytes = new Uint8Array(elf.sections.find((s) => s.name === '.rodata')?.data ?? []);
  patch(bytes);
  return (name: string) => (name === '.rodata' ? bytes : undefined);
};

const PRELUDE = `typedef unsigned int u32; typedef unsigned long long u64;
struct ctx { u64 pad; long id; };
struct { int (*type)[1]; int (*max_entries)[64]; u32 *key; u64 *value; } counts __attribute__((section(".maps"), used));
static void *(*lookup)(void *map, const void *key) = (void *)1;
static long (*update)(void *map, const void *key, const void *value, u64 flags) = (void *)2;
static u64 (*pid_tgid)(void) = (void *)14;
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
`;
const COUNT = 'u64 one = 1; u64 *n = lookup(&counts, &key); if (n) *n += 1; else update(&counts, &key, &one, 0); return 0;';

describeWith(['clang'], 'syscallKeyedMaps on objects built here', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ebpm-sysk-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const build = (name: string, body: string) => {
    writeFileSync(join(dir, `${name}.bpf.c`), PRELUDE + body);
    execFileSync('clang', ['-target', 'bpf', '-g', '-O2', '-c', `${name}.bpf.c`, '-o', `${name}.bpf.o`], { cwd: dir });
    const elf = parseElf(readFileSync(join(dir, `${name}.bpf.o`)));
    return syscallKeyedMaps(elf, rodataOf(elf));
  };

  it('finds a map keyed by the id of raw_syscalls/sys_enter, and a read-only switch decides its branch', () => {
    expect(build('byid', `__attribute__((section("tracepoint/raw_syscalls/sys_enter"), used)) int f(struct ctx *c) { u32 key = c->id; ${COUNT} }`)).toEqual([
      'counts',
    ]);
    expect(
      build(
        'ro',
        `const volatile int by_pid = 0;
        __attribute__((section("tracepoint/raw_syscalls/sys_exit"), used)) int f(struct ctx *c) { u32 key = by_pid ? pid_tgid() >> 32 : c->id; ${COUNT} }`,
      ),
    ).toEqual(['counts']);
  });

  it('proves nothing when a writable flag may choose another key, or on another tracepoint', () => {
    expect(
      build(
        'flag',
        `int by_pid = 0;
        __attribute__((section("tracepoint/raw_syscalls/sys_enter"), used)) int f(struct ctx *c) { u32 key = by_pid ? pid_tgid() >> 32 : c->id; ${COUNT} }`,
      ),
    ).toEqual([]);
    expect(build('other', `__attribute__((section("tracepoint/syscalls/sys_enter_getpid"), used)) int f(struct ctx *c) { u32 key = c->id; ${COUNT} }`)).toEqual(
      [],
    );
  });
});

describeWith(['libbpf-tools'], "syscallKeyedMaps on libbpf-tools' objects", () => {
  const elfOf = (tool: string) => parseElf(embeddedBpfObjects(readFileSync(`/usr/sbin/${tool}`))[0]!);

  it("finds syscount's data keyed by syscall, unless count_by_process (the .rodata byte at 1) is set", () => {
    const syscount = elfOf('syscount');
    expect(syscallKeyedMaps(syscount, rodataOf(syscount))).toEqual(['data']);
    expect(
      syscallKeyedMaps(
        syscount,
        rodataOf(syscount, (b) => {
          b[1] = 1;
        }),
      ),
    ).toEqual([]);
    const runqlat = elfOf('runqlat');
    expect(syscallKeyedMaps(runqlat, rodataOf(runqlat))).toEqual([]);
  });
});
