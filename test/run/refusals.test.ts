// What the kernel refuses, as `ebpm run` reports it on the real kernel, as root: a program type
// this kernel does not allow (an LSM program) and a kprobe on a function that does not exist.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileBpf } from '../../src/build/toolchain.js';
import { describeWith, missing } from '../helpers/prereq.js';
import { ebpmSync, programIds, tempDir } from './spawn.js';

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
};

/** Whether this kernel loads LSM programs (bpftool's probe); where it does, the program must load and detach instead. */
const lsmLoads =
  missing(['bpftool', 'root']).length === 0 &&
  /program_type lsm is available/.test(execFileSync('bpftool', ['feature', 'probe', 'kernel'], { encoding: 'utf8' }));

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
      expect(programIds('check_open')).toEqual([]);
      return;
    }
    expect(r).toEqual({
      code: 4,
      stdout: '',
      stderr:
        'error: run lsm: load lsm: program check_open: program type lsm is not supported by this kernel\n' +
        'hint: LSM programs need Linux 5.7+ built with CONFIG_BPF_LSM=y, with "bpf" among the active LSMs (/sys/kernel/security/lsm, set by the lsm= boot parameter) and BPF trampolines\n',
    });
    expect(programIds('check_open')).toEqual([]);
  });

  it('names the missing function of a kprobe and where to look for the ones that exist', () => {
    const before = programIds('probe_missing');
    const r = ebpmSync(['run', objects.kprobe!, '--max-events', '0']);
    expect(r).toEqual({
      code: 4,
      stdout: '',
      stderr:
        'error: run kprobe: attach probe_missing: kernel function no_such_function_xyz does not exist\n' +
        'hint: look for no_such_function_xyz in /proc/kallsyms and in /sys/kernel/tracing/available_filter_functions (what kprobes can attach to): on this kernel it may be inlined, renamed or carry a suffix such as .isra.0\n',
    });
    expect(programIds('probe_missing').filter((id) => !before.includes(id))).toEqual([]);
  });
});
