// `ebpm build` as a user runs it on sources with mistakes: a .bpf.c calling what nothing resolves
// fails the build (libbpf would refuse the object at run time), with clang's own words; a Wasm
// program calling an undeclared function fails at its link; what clang warns about is shown.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ebpmSync } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';

const root = mkdtempSync(join(tmpdir(), 'ebpm-diagnostics-'));
let n = 0;

/** A package directory of its own holding `files` and an ebpm.json naming it `t`. */
function pkg(files: Record<string, string>, wasm = false): string {
  const dir = join(root, `p${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'ebpm.json'), JSON.stringify({ name: 't', version: '1.0.0', license: 'GPL', ...(wasm ? { wasm: 'main.c' } : {}) }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const program = (body: string, before = '') => `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
${before}
SEC("tracepoint/syscalls/sys_enter_openat")
int handle(void *ctx)
{
	${body}
}
char LICENSE[] SEC("license") = "GPL";
`;

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'ebpm build: what clang says', () => {
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('fails a .bpf.c that calls an undefined function, with clang warning about it, and writes no out/', () => {
    const dir = pkg({ 't.bpf.c': program('return undefined_fn(1);') });
    const r = ebpmSync(['build', dir]);
    expect([r.code, r.stdout]).toEqual([1, '']);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(`error: build ${dir}: clang: t.bpf.c: undefined reference to undefined_fn`);
    expect(lines[1]).toBe("t.bpf.c:7:9: warning: implicit declaration of function 'undefined_fn' is invalid in C99 [-Wimplicit-function-declaration]");
    expect(lines.slice(-3)).toEqual([
      '1 warning generated.',
      'hint: define it, or declare a kernel function or variable with __ksym (a kernel config value with __kconfig)',
      '',
    ]);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('fails on declared externs that are neither __ksym nor __kconfig, and builds those that are', () => {
    const declared = pkg({
      't.bpf.c': program('return helper_elsewhere(1) + other_elsewhere;', 'extern int helper_elsewhere(int);\nextern int other_elsewhere;'),
    });
    const r = ebpmSync(['build', declared]);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: build ${declared}: clang: t.bpf.c: undefined reference to helper_elsewhere, other_elsewhere\nhint: define it, or declare a kernel function or variable with __ksym (a kernel config value with __kconfig)\n`,
    });

    const kernel = pkg({
      't.bpf.c': program(
        'struct task_struct *t = bpf_task_acquire(bpf_get_current_task_btf());\n\tif (t)\n\t\tbpf_task_release(t);\n\treturn LINUX_KERNEL_VERSION > 0;',
        'extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;\nextern void bpf_task_release(struct task_struct *p) __ksym;\nextern int LINUX_KERNEL_VERSION __kconfig;',
      ),
    });
    const ok = ebpmSync(['build', kernel]);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
  });

  it("shows clang's warnings for a .bpf.c and a Wasm program that build", () => {
    const dir = pkg(
      {
        't.bpf.c': program('return 0;', '#warning "bpf side"'),
        'main.c': '#warning "wasm side"\nint main(void) { return 0; }\n',
      },
      true,
    );
    const r = ebpmSync(['build', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      [
        'warning: t.bpf.c:3:2: warning: "bpf side" [-W#warnings]',
        '#warning "bpf side"',
        ' ^',
        '1 warning generated.',
        'warning: main.c:1:2: warning: "wasm side" [-W#warnings]',
        '#warning "wasm side"',
        ' ^',
        '1 warning generated.',
        '',
      ].join('\n'),
    );
  });

  it('fails a Wasm program calling an undeclared function at its link, with the linker naming it', () => {
    const dir = pkg({ 't.bpf.c': program('return 0;'), 'main.c': 'int main(void) { return not_declared(); }\n' }, true);
    const r = ebpmSync(['build', dir]);
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toContain("main.c:1:25: warning: implicit declaration of function 'not_declared' is invalid in C99 [-Wimplicit-function-declaration]\n");
    expect(r.stderr).toMatch(/\nwasm-ld[-\d]*: error: \S+\.o: undefined symbol: not_declared\n/);
    expect(r.stderr.endsWith('\nhint: fix the error above, which the compiler printed as is\n')).toBe(true);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});
