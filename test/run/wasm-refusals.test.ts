// What ebpm refuses a Wasm guest is on stderr without --verbose, one line per refusal: an
// attach the user did not grant, an object the package does not declare, and what the kernel
// lacks when it refuses an object.
import { rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileBpf } from '../../src/build/toolchain.js';
import { describeWith } from '../helpers/prereq.js';
import { fixtureObject } from '../native/support.js';
import { A, guestWat } from '../runtime/guests.js';
import { wat } from '../runtime/helpers.js';
import { ebpmSync, tempDir } from './spawn.js';

const NAME = 3000;
const TARGET = 3040;
let dir = '';
const guests: Record<string, string> = {};

describeWith(['root', 'btf', 'clang', 'native', 'wat2wasm'], 'ebpm run: refusals inside a Wasm run', () => {
  beforeAll(async () => {
    dir = tempDir();
    const object = await fixtureObject('attach');
    const extra = `(data (i32.const ${NAME}) "ebpm_xdp_pass\\00") (data (i32.const ${TARGET}) "lo\\00")`;
    const bodies = {
      // Loads the object it embeds (declared), then attaches xdp to lo without --allow-attach.
      attach: `(call $load_obj) (call $num (call $attach (global.get $obj) (i32.const ${NAME}) (i32.const ${TARGET})))`,
      // Changes a byte of the object before loading it: no longer the object the package declares.
      undeclared: `(i32.store8 (i32.const ${A.OBJ + object.length - 1}) (i32.xor (i32.load8_u (i32.const ${A.OBJ + object.length - 1})) (i32.const 1))) (call $load_obj)`,
    };
    for (const [name, body] of Object.entries(bodies)) {
      guests[name] = join(dir, `${name}.wasm`);
      writeFileSync(guests[name], wat(guestWat({ object, body, extra })));
    }
    // An object that reads a kernel field no kernel has, without checking for it.
    const source = join(dir, 'missing.bpf.c');
    writeFileSync(
      source,
      `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
struct task_struct___mine { int no_such_field_xyz; } __attribute__((preserve_access_index));
SEC("tracepoint/syscalls/sys_enter_kill")
int read_missing(void *ctx)
{
	struct task_struct___mine *t = (void *)bpf_get_current_task();
	bpf_printk("%d", BPF_CORE_READ(t, no_such_field_xyz));
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`,
    );
    const missing = await compileBpf(source, join(dir, 'missing.bpf.o'), { env: process.env });
    guests.missing = join(dir, 'missing.wasm');
    writeFileSync(guests.missing, wat(guestWat({ object: missing, body: '(call $load_obj)' })));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints an ungranted attach without --verbose, and the guest gets EPERM', () => {
    const r = ebpmSync(['run', guests.attach!]);
    expect(r).toEqual({
      code: 0,
      // the handle, then the attach's result: -EPERM
      stdout: '1\n-1\n',
      stderr:
        'attach 0.0.0: started its Wasm program\n' +
        'ebpm: wasm_attach_bpf_program: attach ebpm_xdp_pass to "lo" is not granted (pass --allow-attach lo)\nattach: Wasm program ended (exit, exit code 0)\n',
    });
  });

  it('prints a refused undeclared object without --verbose', () => {
    const r = ebpmSync(['run', guests.undeclared!]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('0\n');
    expect(r.stderr).toMatch(
      /^undeclared 0\.0\.0: started its Wasm program\nebpm: wasm_load_bpf_object: refused: BPF object sha256:[0-9a-f]{64} is not declared by the package \(pass --allow-undeclared-bpf to load it anyway\)\nundeclared: Wasm program ended \(exit, exit code 0\)\n$/,
    );
  });

  it('prints what the kernel lacks when it refuses the object, found by the preflight', () => {
    const r = ebpmSync(['run', guests.missing!]);
    expect(r).toEqual({
      code: 0,
      // the guest's handle: 0, the load failed
      stdout: '0\n',
      stderr:
        'missing 0.0.0: started its Wasm program\n' +
        `ebpm: wasm_load_bpf_object: cannot run on Linux ${release()}: field task_struct.no_such_field_xyz: the kernel type has no such field\n` +
        'missing: Wasm program ended (exit, exit code 0)\n',
    });
  });
});
