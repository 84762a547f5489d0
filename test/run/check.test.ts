// `ebpm check` and the preflight `run` falls back on: what an object needs, held against this
// kernel, and the refusal listing everything missing instead of the first CO-RE failure.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectNeeds } from '../../src/bpf/needs.js';
import { parseObject } from '../../src/bpf/object.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { blocking, preflight, type KernelFacts } from '../../src/kernel/preflight.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpmSync, tempDir } from './spawn.js';

const HEADER = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n#include <bpf/bpf_core_read.h>\n';

const SOURCES = {
  // A ring buffer, a tracepoint, and a field read two ways: the current name when the kernel
  // has it, else an older flavour, with bpf_core_field_exists choosing (as libbpf-tools do).
  portable: `struct task_struct___old { long state; } __attribute__((preserve_access_index));
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_kill")
int on_kill(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	long state;
	if (bpf_core_field_exists(t->__state))
		state = BPF_CORE_READ(t, __state);
	else
		state = BPF_CORE_READ((struct task_struct___old *)t, state);
	bpf_ringbuf_output(&events, &state, sizeof(state), 0);
	return 0;
}`,
  // A field no kernel has, read without a check, and a tracepoint no kernel has.
  missing: `struct task_struct___mine { int no_such_field_xyz; } __attribute__((preserve_access_index));
SEC("tracepoint/syscalls/sys_enter_kill")
int read_missing(void *ctx)
{
	struct task_struct___mine *t = (void *)bpf_get_current_task();
	bpf_printk("%d", BPF_CORE_READ(t, no_such_field_xyz));
	return 0;
}
SEC("tracepoint/no_such_category/no_such_event")
int on_nothing(void *ctx)
{
	return 0;
}`,
};

let dir = '';
const objects: Record<string, string> = {};

describeWith(['root', 'btf', 'clang', 'native'], 'ebpm check: what an object needs, against this kernel', () => {
  beforeAll(async () => {
    dir = tempDir();
    for (const [name, body] of Object.entries(SOURCES)) {
      const source = join(dir, `${name}.bpf.c`);
      writeFileSync(source, `${HEADER}${body}\nchar LICENSE[] SEC("license") = "GPL";\n`);
      objects[name] = join(dir, `${name}.bpf.o`);
      await compileBpf(source, objects[name], { env: process.env });
    }
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists program and map types, attach points, helpers and kernel fields, guarded where the program checks', () => {
    const needs = objectNeeds(parseObject(readFileSync(objects.portable!)));
    expect(needs.map((n) => [n.what, n.by, n.guarded])).toEqual([
      ['program type tracepoint', ['on_kill'], false],
      ['tracepoint syscalls/sys_enter_kill', ['on_kill'], false],
      ['helper bpf_get_current_task', ['on_kill'], false],
      ['helper bpf_probe_read_kernel', ['on_kill'], false],
      ['helper bpf_ringbuf_output', ['on_kill'], false],
      ['map type ringbuf', ['events'], false],
      ['field task_struct.__state', ['on_kill'], true],
      ['field task_struct.state', ['on_kill'], true],
    ]);
  });

  it('says which release first has what a kernel lacks, and keeps guarded fields from blocking', () => {
    const needs = objectNeeds(parseObject(readFileSync(objects.portable!)));
    // A kernel older than ring buffers (5.4) without the field's new name: a stand-in for the
    // facts, since this machine's kernel has both; the matrix runs the real old kernels.
    const old: KernelFacts = {
      release: '5.4.0-test',
      programType: () => true,
      mapType: (t) => t !== 'ringbuf',
      helper: (id) => id !== 130,
      tracepoint: () => true,
      rawTracepoint: () => true,
      kernelFunction: () => true,
      mechanism: () => ({ ok: true }),
      bpfLsm: () => false,
      btf: () => ({ has: () => true, field: (_k, _t, steps) => !steps.some((s) => 'member' in s && s.member === '__state'), enumValue: () => true }),
    };
    const findings = preflight(needs, old);
    expect(findings.map((f) => [f.verdict, f.need.what, f.why])).toEqual([
      ['missing', 'helper bpf_ringbuf_output', 'not in this kernel for tracepoint programs (Linux 5.8+)'],
      ['missing', 'map type ringbuf', 'not in this kernel (Linux 5.8+)'],
      ['missing', 'field task_struct.__state', 'the kernel type has no such field'],
    ]);
    expect(blocking(findings).map((f) => f.need.what)).toEqual(['helper bpf_ringbuf_output', 'map type ringbuf']);
  });

  it('says a portable object can run here, every need met but the older flavour it does without', () => {
    const r = ebpmSync(['check', objects.portable!]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `portable@0.0.0 on Linux ${release()}: can run\n` +
        '  portable.bpf.o: 8 needs checked, 1 not met\n' +
        '    missing: field task_struct.state: the kernel type has no such field, needed by on_kill; the program checks for it (bpf_core_*_exists) and may do without\n',
    });
  });

  it('lists every missing need, and run refuses with all of them at once, exit 4', () => {
    const check = ebpmSync(['check', objects.missing!, '--json']);
    expect(check.code).toBe(4);
    const report = JSON.parse(check.stdout);
    expect(report.canRun).toBe(false);
    expect(
      report.objects[0].findings.map((f: { verdict: string; need: { what: string; by: string[] }; why: string }) => [f.verdict, f.need.what, f.need.by, f.why]),
    ).toEqual([
      ['missing', 'tracepoint no_such_category/no_such_event', ['on_nothing'], 'no such tracepoint in tracefs'],
      ['missing', 'field task_struct.no_such_field_xyz', ['read_missing'], 'the kernel type has no such field'],
    ]);
    expect(ebpmSync(['run', objects.missing!, '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr:
        `error: run missing: cannot run on Linux ${release()}: tracepoint no_such_category/no_such_event: no such tracepoint in tracefs; field task_struct.no_such_field_xyz: the kernel type has no such field\n` +
        'hint: see `ebpm check` for the programs that need each; run it on a kernel that has them (a version is the first Linux release that does), or leave programs out with --skip-program\n',
    });
  });

  it('leaves out what --skip-program leaves out', () => {
    const r = ebpmSync(['check', objects.missing!, '--skip-program', 'on_nothing']);
    expect([r.code, r.stdout.split('\n').slice(1)]).toEqual([
      4,
      [
        '  missing.bpf.o: 6 needs checked, 1 not met, 1 blocking',
        '    missing: field task_struct.no_such_field_xyz: the kernel type has no such field, needed by read_missing',
        '',
      ],
    ]);
  });
});

describe('ebpm check usage', () => {
  it('takes exactly one package', () => {
    expect(ebpmSync(['check'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error: check: expected one package\n/) });
  });
});
