// The wasm-bpf host on the real kernel: hostile WAT guests loading a real BPF object, each
// ending as specified with nothing left loaded, and the i32/i64 and TinyGo ABI variants.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { compileBpf } from '../../src/build/toolchain.js';
import { sha256Digest } from '../../src/core/digest.js';
import { runWasm } from '../../src/runtime/run.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { A, guestWat, p } from './guests.js';
import { collect, loadedPrograms, wat } from './helpers.js';

const quiet = { onStdout: () => {}, onStderr: () => {} };
let object: Uint8Array;

/** Loads, attaches, sets kv[0] = our pid (the BPF filter) and prints "ready". */
function setup(i64?: boolean): string {
  return `(call $load_obj)
    (call $num (call $attach (global.get $obj) (i32.const ${A.NAME_PROG}) (i32.const 0)))
    (i64.store (i32.const ${A.VALUE}) (i64.const ${process.pid}))
    (call $num (call $op (call $fd (global.get $obj) (i32.const ${A.NAME_KV})) (i32.const 2) ${p(A.KEY, i64)} ${p(A.VALUE, i64)} ${p(0, i64)} (i64.const 0)))
    (call $write (i32.const ${A.READY}) (i32.const 6))`;
}

/** Polls rb with max_size 6 until `n` records arrived, then exits 0 without closing anything. */
function pollUntil(n: number, tinygo?: boolean): string {
  const call = tinygo
    ? `(call $gopoll (global.get $obj) (local.get $fd) (i32.const 0) (i32.const ${A.DATA}) (i32.const 6) (i32.const 100))`
    : `(call $poll (global.get $obj) (local.get $fd) (i32.const 1) (i32.const 0) (i32.const ${A.DATA}) (i32.const 6) (i32.const 100))`;
  return `(local.set $fd (call $fd (global.get $obj) (i32.const ${A.NAME_RB})))
    (loop $l (local.set $got (i32.add (local.get $got) ${call})) (br_if $l (i32.lt_s (local.get $got) (i32.const ${n}))))
    (call $proc_exit (i32.const 0))`;
}

/** Triggers the BPF program `n` times: each process.ppid is one getppid(2). */
function burst(n: number): void {
  for (let i = 0; i < n; i++) void process.ppid;
}

const noneLoaded = () => expect(loadedPrograms().filter((n) => n === 'wasm_adversary')).toEqual([]);

describeWith(['root', 'btf', 'clang', 'native', 'wat2wasm'], 'wasm-bpf host on the kernel', () => {
  beforeAll(async () => {
    const out = join(REPO, '.cache', 'test', 'objects');
    mkdirSync(out, { recursive: true });
    object = await compileBpf(join(REPO, 'test', 'runtime', 'fixtures', 'adversary.bpf.c'), join(out, 'adversary.bpf.o'), {
      env: { ...process.env, EBPM_CACHE_DIR: join(REPO, '.cache', 'test') },
    });
  });

  it('answers forged handles, bad pointers and bad commands with errnos, and delivers every event of a burst truncated', async () => {
    const body = `(local $fd i32) (local $got i32)
      ${setup()}
      (call $num (call $attach (i64.const 99) (i32.const ${A.NAME_PROG}) (i32.const 0)))
      (call $num (call $attach (global.get $obj) (i32.const 0xfffffff0) (i32.const 0)))
      (call $num (call $fd (global.get $obj) (i32.const ${A.NAME_RB})))
      (call $num (call $op (i32.const 1000) (i32.const 1) (i32.const ${A.KEY}) (i32.const ${A.OUT}) (i32.const 0) (i64.const 0)))
      (call $num (call $op (i32.const 3) (i32.const 2) (i32.const ${A.KEY}) (i32.const 0xffff0000) (i32.const 0) (i64.const 0)))
      (call $num (call $op (i32.const 3) (i32.const 1) (i32.const ${A.KEY}) (i32.const ${A.OUT}) (i32.const 0) (i64.const 0)))
      (call $num (i32.wrap_i64 (i64.load (i32.const ${A.OUT}))))
      (call $num (call $op (i32.const 3) (i32.const 7) (i32.const ${A.KEY}) (i32.const ${A.OUT}) (i32.const 0) (i64.const 0)))
      (call $num (call $op (i32.const 3) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const ${A.NEXT}) (i64.const 0)))
      (call $num (i32.load (i32.const ${A.NEXT})))
      (call $num (call $poll (global.get $obj) (i32.const 4) (i32.const 1) (i32.const 0) (i32.const 0xfffffff0) (i32.const 64) (i32.const 0)))
      (call $num (call $poll (global.get $obj) (i32.const 3) (i32.const 1) (i32.const 0) (i32.const ${A.DATA}) (i32.const 64) (i32.const 0)))
      (call $num (call $close (i64.const 5)))
      (call $write (i32.const ${A.READY}) (i32.const 6))
      ${pollUntil(100)}`;
    let readies = 0;
    const r = await collect({
      module: wat(guestWat({ object, body })),
      name: 'adversary',
      objects: { declared: [sha256Digest(object)] },
      onStdout: (line) => line === 'ready' && readies++ === 1 && burst(100),
    });
    // handle 1, attach 0, update 0, ready, forged handle -EBADF, bad name pointer -EFAULT, rb fd 4,
    // forged fd -EBADF, bad value pointer -EFAULT, lookup 0 and our pid, cmd 7 -EINVAL,
    // NULL key gives the first key 0, bad poll buffer -EFAULT, poll of a hash map -EINVAL, close of
    // a forged handle -EBADF.
    expect(r.stdout.slice(0, 18)).toEqual([
      '1',
      '0',
      '0',
      'ready',
      '-9',
      '-14',
      '4',
      '-9',
      '-14',
      '0',
      String(process.pid),
      '-22',
      '0',
      '0',
      '-14',
      '-22',
      '-9',
      'ready',
    ]);
    expect(r.stdout.slice(18)).toEqual(Array.from({ length: 100 }, (_, i) => `e${String(i).padStart(4, '0')},6`));
    expect(r).toMatchObject({ exitCode: 0, reason: 'exit' });
    expect(r.log).toContain('wasm_attach_bpf_program: unknown object handle 99');
    noneLoaded();
  });

  it('accepts map_operate declared with i64 pointers, and the TinyGo callback variant', async () => {
    let readies = 0;
    const r = await collect({
      module: wat(guestWat({ object, i64MapOperate: true, tinygo: true, body: `(local $fd i32) (local $got i32) ${setup(true)} ${pollUntil(3, true)}` })),
      name: 'tinygo',
      objects: 'any',
      onStdout: (line) => line === 'ready' && readies++ === 0 && burst(3),
    });
    expect(r.stdout).toEqual(['1', '0', '0', 'ready', 'e0000,6', 'e0001,6', 'e0002,6']);
    noneLoaded();
  });

  it('ends a guest whose callback index is not a function or one of the wrong type, with its objects released', async () => {
    // 2 takes one i32; 4 takes three i64s, which the host once called with numbers (a TypeError, reported as a bug).
    for (const fn of [2, 4]) {
      const body = `${setup()} (drop (call $poll (global.get $obj) (call $fd (global.get $obj) (i32.const ${A.NAME_RB})) (i32.const ${fn}) (i32.const 0) (i32.const ${A.DATA}) (i32.const 64) (i32.const 0)))`;
      await expect(runWasm({ ...quiet, module: wat(guestWat({ object, body })), name: 'cb', objects: 'any' })).rejects.toThrowWithCode(
        'WASM_BAD_CALLBACK',
        `wasm guest cb: wasm_bpf_buffer_poll: callback ${fn} is not a function (i32, i32, i32) -> i32 in __indirect_function_table`,
      );
      noneLoaded();
    }
    const outOfTable = `${setup()} (drop (call $poll (global.get $obj) (call $fd (global.get $obj) (i32.const ${A.NAME_RB})) (i32.const 1000) (i32.const 0) (i32.const ${A.DATA}) (i32.const 64) (i32.const 0)))`;
    await expect(runWasm({ ...quiet, module: wat(guestWat({ object, body: outOfTable })), name: 'cb', objects: 'any' })).rejects.toThrowWithCode(
      'WASM_BAD_CALLBACK',
    );
    noneLoaded();
  });

  it('stops an infinite loop at --duration, ends a memory hog, and passes a non-zero exit, releasing the BPF objects each time', async () => {
    const spin = await runWasm({
      ...quiet,
      module: wat(guestWat({ object, body: `${setup()} (loop $l (br $l))` })),
      name: 'spin',
      objects: 'any',
      durationMs: 300,
      stopGraceMs: 200,
    });
    expect(spin).toEqual({ exitCode: 0, reason: 'duration' });
    noneLoaded();
    const hog = `${setup()} (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable`;
    await expect(
      runWasm({ ...quiet, module: wat(guestWat({ object, body: hog })), name: 'hog', objects: 'any', maxMemoryBytes: 2 << 20 }),
    ).rejects.toThrowWithCode('WASM_MEMORY_LIMIT');
    noneLoaded();
    const exit = await runWasm({
      ...quiet,
      module: wat(guestWat({ object, body: `${setup()} (call $proc_exit (i32.const 3))` })),
      name: 'exit',
      objects: 'any',
    });
    expect(exit).toEqual({ exitCode: 3, reason: 'exit' });
    noneLoaded();
  });

  it('refuses an object the package does not declare, and one changed outside .rodata', async () => {
    const r = await collect({ module: wat(guestWat({ object, body: '(call $load_obj)' })), name: 'undeclared', objects: { declared: [] } });
    expect(r.stdout).toEqual(['0']);
    expect(r.log).toEqual([
      `wasm_load_bpf_object: refused: BPF object ${sha256Digest(object)} is not declared by the package (pass --allow-undeclared-bpf to load it anyway)`,
    ]);
    // The guest flips a byte of the ELF header of its embedded (declared) object before loading.
    const body = `(i32.store8 (i32.const ${A.OBJ + 7}) (i32.const 1)) (call $load_obj)`;
    const tampered = await collect({ module: wat(guestWat({ object, body })), name: 'tampered', objects: { declared: [sha256Digest(object)] } });
    expect(tampered.stdout).toEqual(['0']);
  });
});
