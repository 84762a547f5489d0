// Which struct an undeclared event map is read as: objects the real clang builds from small
// sources, each declaring its candidate structs as map values so that they are in BTF.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseObject } from '../../src/bpf/object.js';
import { conventionalEventType, eventTypeNamed, ownStructs } from '../../src/package/event-type.js';
import { describeFiles } from '../../src/package/loose.js';
import { describeWith } from '../helpers/prereq.js';

let dir = '';
/** Where Debian keeps <asm/types.h>, which <linux/bpf.h> includes. */
let multiarch = '';

/** Builds an object whose hash maps hold `structs` (each `{ int x; }`) beside one ring buffer, plus `extra` C. */
function build(name: string, structs: readonly string[], extra = ''): Uint8Array {
  const maps = structs
    .map(
      (s, i) =>
        `struct ${s} { int x; };\nstruct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1); __type(key, int); __type(value, struct ${s}); } m${i} SEC(".maps");`,
    )
    .join('\n');
  const source = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
${maps}
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb SEC(".maps");
${extra}
SEC("tracepoint/syscalls/sys_enter_kill") int on_kill(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;
  writeFileSync(join(dir, `${name}.bpf.c`), source);
  execFileSync('clang', ['-target', 'bpf', '-g', '-O2', '-I', multiarch, '-c', `${name}.bpf.c`, '-o', `${name}.bpf.o`], { cwd: dir });
  return new Uint8Array(readFileSync(join(dir, `${name}.bpf.o`)));
}

/** The struct `describeFiles` binds to the ring buffer, and how it was found. */
function exported(name: string, bytes: Uint8Array): string | undefined {
  const e = describeFiles({ name }, [{ name: `${name}.bpf.o`, bytes }]).objects[0]!.exports;
  return e.map((x) => `${x.map}: ${x.type.name} (${x.inferredBy})`).join('; ') || undefined;
}

describeWith(['clang'], 'event types found by name', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ebpm-event-type-'));
    multiarch = join('/usr/include', execFileSync('clang', ['-print-multiarch'], { encoding: 'utf8' }).trim());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers event, then data_t, then <tool>_event, then the one *_event', () => {
    expect(exported('mytool', build('mytool', ['mytool_event', 'data_t', 'event']))).toBe('rb: event (name)');
    expect(exported('mytool', build('mytool', ['mytool_event', 'data_t']))).toBe('rb: data_t (name)');
    expect(exported('mytool', build('mytool', ['other_event', 'mytool_event']))).toBe('rb: mytool_event (name)');
    expect(exported('mytool', build('mytool', ['other_event', 'config']))).toBe('rb: other_event (name)');
  });

  it('finds none when two *_event structs compete, or none is there', () => {
    expect(exported('mytool', build('mytool', ['a_event', 'b_event']))).toBeUndefined();
    expect(exported('mytool', build('mytool', ['config']))).toBeUndefined();
  });

  it("leaves out the kernel's structs: those a CO-RE relocation reaches", () => {
    const core = `struct perf_event { int y; };
struct task_struct { struct perf_event ev; } __attribute__((preserve_access_index));
SEC("tracepoint/syscalls/sys_enter_tkill") int on_tkill(void *ctx) {
  struct task_struct *t = (void *)bpf_get_current_task();
  int y;
  bpf_probe_read_kernel(&y, sizeof(y), &t->ev.y);
  return y;
}`;
    const spec = parseObject(build('capable', ['cap_event'], core));
    expect(spec.coreRelocations.map((r) => r.path)).toEqual(['task_struct.ev']);
    expect(spec.btf!.types.filter((t) => t.kind === 'struct').map((t) => t.name)).toEqual(expect.arrayContaining(['perf_event', 'task_struct', 'cap_event']));
    expect(ownStructs(spec).map((s) => s.name)).toEqual(['cap_event']);
    expect(conventionalEventType(spec, 'capable.bpf.o')?.struct).toBe('cap_event');
  });

  it('--event-type takes an own struct, with or without `struct `, and names the others when it is not one', () => {
    const spec = parseObject(build('mytool', ['config', 'data_t']));
    expect(eventTypeNamed(spec, 'mytool.bpf.o', 'struct config')).toMatchObject({ struct: 'config', layout: { kind: 'struct', name: 'config', size: 4 } });
    expect(() => eventTypeNamed(spec, 'mytool.bpf.o', 'nope')).toThrowWithCode('USAGE', 'run: --event-type nope: mytool.bpf.o has no struct nope');
  });
});
