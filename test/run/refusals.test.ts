// What the kernel refuses, as `ebpm run` reports it on the real kernel, as root: a program type
// this kernel does not allow (an LSM program), fentry where the kernel has none or lacks the
// function in its BTF, and a kprobe on a function that does not exist or on a kernel without kprobes.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileBpf } from '../../src/build/toolchain.js';
import { hasKprobes } from '../../src/kernel/features.js';
import { describeWith, missing } from '../helpers/prereq.js';
import { ebpmSync, programIds, released, tempDir } from './spawn.js';

const SOURCES = {
  lsm: `SEC("lsm/file_open")
int BPF_PROG(check_open, struct file *file)
{
	return 0;
}`,
  kprobe: `SEC("kprobe/no_such_function_xyz")
int BPF_KPROBE(probe_missing)
{
	return 0;
}`,
  fentry: `SEC("fentry/do_unlinkat")
int BPF_PROG(enter_unlinkat, int dfd, struct filename *name)
{
	return 0;
}`,
  fentry_missing: `SEC("fentry/no_such_function_xyz")
int BPF_PROG(enter_missing)
{
	return 0;
}`,
};

const probe = missing(['bpftool', 'root']).length === 0 ? execFileSync('bpftool', ['feature', 'probe', 'kernel'], { encoding: 'utf8' }) : '';
/** Whether this kernel loads LSM programs (bpftool's probe); where it does, the program must load and detach instead. */
const lsmLoads = /program_type lsm is available/.test(probe);
/** Whether this kernel loads fentry programs (bpftool probes the tracing type with one). */
const fentryLoads = /program_type tracing is available/.test(probe);

let dir = '';
const objects: Record<string, string> = {};

describeWith(['root', 'btf', 'clang', 'native', 'bpftool'], 'ebpm run: what the kernel refuses', () => {
  beforeAll(async () => {
    dir = tempDir();
    for (const [name, body] of Object.entries(SOURCES)) {
      const source = join(dir, `${name}.bpf.c`);
      writeFileSync(
        source,
        `#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n${body}\nchar LICENSE[] SEC("license") = "GPL";\n`,
      );
      objects[name] = join(dir, `${name}.bpf.o`);
      await compileBpf(source, objects[name], { env: process.env });
    }
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("names an LSM program's type as unsupported by a kernel without BPF LSM, not as a permission problem, even as root", () => {
    const r = ebpmSync(['run', objects.lsm!, '--max-events', '0']);
    if (lsmLoads) {
      // This kernel has BPF LSM: no refusal to see, and the program attaches and goes again.
      expect([r.code, r.stdout]).toEqual([0, '']);
      expect(released(() => programIds('check_open'))).toEqual([]);
      return;
    }
    expect(r).toEqual({
      code: 4,
      stdout: '',
      stderr:
        'error: run lsm: load lsm: program check_open: program type lsm is not supported by this kernel\n' +
        'hint: LSM programs need Linux 5.7+ built with CONFIG_BPF_LSM=y, with "bpf" among the active LSMs (/sys/kernel/security/lsm, set by the lsm= boot parameter) and BPF trampolines\n',
    });
    expect(released(() => programIds('check_open'))).toEqual([]);
  });

  it('names the missing function of a kprobe, or a kernel without kprobes as such', () => {
    const before = programIds('probe_missing');
    const r = ebpmSync(['run', objects.kprobe!, '--max-events', '0']);
    expect(r).toEqual({
      code: 4,
      stdout: '',
      stderr: hasKprobes()
        ? `error: run kprobe: cannot run on Linux ${release()}: kernel function no_such_function_xyz (kprobe): not in /proc/kallsyms (absent or inlined in this kernel)\n` +
          'hint: look for no_such_function_xyz in /proc/kallsyms and in /sys/kernel/tracing/available_filter_functions (what kprobes can attach to): on this kernel it may be inlined, renamed or carry a suffix such as .isra.0\n'
        : `error: run kprobe: cannot run on Linux ${release()}: kernel function no_such_function_xyz (kprobe): this kernel has no kprobe support (neither the kprobe PMU nor legacy kprobe_events)\n` +
          'hint: kprobes need a kernel built with CONFIG_KPROBES and CONFIG_KPROBE_EVENTS (/sys/bus/event_source/devices/kprobe, or kprobe_events in tracefs); use a tracepoint, or run on such a kernel\n',
    });
    expect(released(() => programIds('probe_missing').filter((id) => !before.includes(id)))).toEqual([]);
  });

  it('says fentry is not supported by a kernel without it, for a function that is in its BTF', () => {
    const r = ebpmSync(['run', objects.fentry!, '--max-events', '0']);
    if (fentryLoads) {
      expect([r.code, r.stdout]).toEqual([0, '']);
      return;
    }
    expect(r).toEqual({
      code: 4,
      stdout: '',
      stderr:
        `error: run fentry: cannot run on Linux ${release()}: kernel function do_unlinkat (fentry): fentry is not supported by this kernel\n` +
        'hint: fentry, fexit and fmod_ret programs need Linux 5.5+ with BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS); a kprobe or kretprobe does the same on more kernels\n',
    });
    expect(released(() => programIds('enter_unlinkat'))).toEqual([]);
  });

  it("says a fentry target is not in the kernel's BTF, before fentry support matters", () => {
    expect(ebpmSync(['run', objects.fentry_missing!, '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr:
        `error: run fentry_missing: cannot run on Linux ${release()}: kernel function no_such_function_xyz (fentry): function no_such_function_xyz is not in the kernel's BTF, so fentry cannot attach\n` +
        'hint: this kernel does not have no_such_function_xyz (a module not loaded, or inlined or renamed here); `bpftool btf dump file /sys/kernel/btf/vmlinux | grep "\'no_such_function_xyz\'"` looks for it\n',
    });
  });
});
