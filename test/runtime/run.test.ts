// runWasm with hand-written WASI guests (no BPF): output lines, exit codes, isolation of env
// and files, --max-memory, --duration and signals, and modules that cannot run.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { isCode } from '../../src/core/errors.js';
import { GuestWorker } from '../../src/runtime/guest-worker.js';
import { runWasm, startWasm } from '../../src/runtime/run.js';
import { describeWith } from '../helpers/prereq.js';
import { collect, wat, WASI_PRELUDE } from './helpers.js';

const quiet = { onStdout: () => {}, onStderr: () => {} };

/** A guest that writes `text` to `fd` in `pieces` writes, then exits with `code`. */
function writer(text: string, code: number, fd = 1, pieces = 1): Uint8Array {
  const bytes = Buffer.from(text);
  const step = Math.ceil(bytes.length / pieces);
  const calls = Array.from({ length: pieces }, (_, i) => {
    const off = 64 + i * step;
    const len = Math.max(0, Math.min(step, bytes.length - i * step));
    return `(i32.store (i32.const 0) (i32.const ${off})) (i32.store (i32.const 4) (i32.const ${len}))
      (drop (call $fd_write (i32.const ${fd}) (i32.const 0) (i32.const 1) (i32.const 8)))`;
  }).join('\n');
  return wat(`(module ${WASI_PRELUDE}
    (memory (export "memory") 1)
    (data (i32.const 64) "${[...bytes].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')}")
    (func (export "_start") ${calls} (call $proc_exit (i32.const ${code}))))`);
}

/** A guest that prints argv and environ, NUL-separated, to stdout as one line each. */
const PRINT_ARGS_ENV = wat(`(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $aget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $line (param $buf i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $buf)) (i32.store (i32.const 4) (local.get $len))
    (i32.store (i32.const 8) (i32.const 24)) (i32.store (i32.const 12) (i32.const 1))
    (i32.store8 (i32.const 24) (i32.const 10))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 40))))
  (func (export "_start")
    (drop (call $asz (i32.const 32) (i32.const 36)))
    (drop (call $aget (i32.const 1024) (i32.const 4096)))
    (call $line (i32.const 4096) (i32.load (i32.const 36)))
    (drop (call $esz (i32.const 32) (i32.const 36)))
    (drop (call $eget (i32.const 1024) (i32.const 8192)))
    (call $line (i32.const 8192) (i32.load (i32.const 36)))))`);

/** Opens `path` under preopen fd 3 and prints what it reads (or "errno N"). */
function catGuest(path: string): Uint8Array {
  const p = Buffer.from(path);
  return wat(`(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "${p.toString('hex').replace(/../g, '\\$&')}")
  (data (i32.const 600) "errno ")
  (func (export "_start") (local $rc i32)
    (local.set $rc (call $open (i32.const 3) (i32.const 0) (i32.const 512) (i32.const ${p.length}) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 40)))
    (if (i32.ne (local.get $rc) (i32.const 0)) (then
      (i32.store8 (i32.const 607) (i32.add (i32.const 48) (i32.rem_u (local.get $rc) (i32.const 10))))
      (i32.store8 (i32.const 606) (i32.add (i32.const 48) (i32.div_u (local.get $rc) (i32.const 10))))
      (i32.store (i32.const 0) (i32.const 600)) (i32.store (i32.const 4) (i32.const 8))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (return)))
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 256))
    (drop (call $read (i32.load (i32.const 40)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`);
}

/** Writes `ready` to stdout, then spins for ever. */
const SPIN = () =>
  wat(`(module ${WASI_PRELUDE}
  (memory (export "memory") 1)
  (data (i32.const 16) "ready\\0a")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop $l (br $l))))`);
/** Writes `word` (5 letters) to stdout, sleeps 10 s through poll_oneoff (a relative clock subscription), then exits 7. */
const SLEEPER = (word = 'ready') =>
  wat(`(module ${WASI_PRELUDE}
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "${word}\\0a")
  (func (export "_start")
    (i32.store (i32.const 200) (i32.const 256)) (i32.store (i32.const 204) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))
    (i64.store (i32.const 0) (i64.const 42)) (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1)) (i64.store (i32.const 24) (i64.const 10000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (call $proc_exit (i32.const 7))))`);

describeWith(['wat2wasm'], 'runWasm', () => {
  it('passes stdout and stderr line by line, split across writes, and returns the exit code', async () => {
    const r = await collect({ module: writer('one\ntw', 0, 1, 1), name: 'w', objects: 'any' });
    expect(r).toMatchObject({ exitCode: 0, reason: 'exit', stdout: ['one', 'tw'], stderr: [] });
    const e = await collect({ module: writer('héllo\nwörld\n', 3, 2, 5), name: 'w', objects: 'any' });
    expect(e).toMatchObject({ exitCode: 3, reason: 'exit', stdout: [], stderr: ['héllo', 'wörld'] });
  });

  it('gives argv[0] = package name, the package args, and only --env variables', async () => {
    vi.stubEnv('EBPM_SECRET_FOR_TEST', 'leak');
    const r = await collect({ module: PRINT_ARGS_ENV, name: 'sigsnoop', args: ['-p', '42'], env: { A: '1' }, objects: 'any' });
    expect(r.stdout).toEqual(['sigsnoop\0-p\u000042\0', 'A=1\0']);
    const none = await collect({ module: PRINT_ARGS_ENV, name: 'x', objects: 'any' });
    expect(none.stdout).toEqual(['x\0', '']);
  });

  it('shows no host file without --dir, and the granted directory with it', async () => {
    const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'pre-'));
    writeFileSync(join(dir, 'f.txt'), 'granted\n');
    const granted = await collect({ module: catGuest('f.txt'), name: 'cat', objects: 'any', preopens: [{ host: dir, guest: '/data' }] });
    expect(granted.stdout).toEqual(['granted']);
    // Without a preopen fd 3 does not exist: WASI errno 8 (badf).
    const denied = await collect({ module: catGuest('f.txt'), name: 'cat', objects: 'any' });
    expect(denied.stdout).toEqual(['errno 08']);
    // Escaping the preopen with .. is refused: errno 76 (notcapable).
    const escaped = await collect({ module: catGuest('../../../etc/hostname'), name: 'cat', objects: 'any', preopens: [{ host: dir, guest: '/data' }] });
    expect(escaped.stdout).toEqual(['errno 76']);
    await expect(runWasm({ ...quiet, module: catGuest('x'), name: 'cat', objects: 'any', preopens: [{ host: join(dir, 'f.txt') }] })).rejects.toMatchObject({
      code: 'WASM_BAD_PREOPEN',
    });
  });

  it('ends a guest that grows past --max-memory with WASM_MEMORY_LIMIT', async () => {
    const grow = wat(`(module ${WASI_PRELUDE} (memory (export "memory") 1)
      (func (export "_start") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable))`);
    const err = await runWasm({ ...quiet, module: grow, name: 'hog', objects: 'any', maxMemoryBytes: 4 << 20 }).catch((e: unknown) => e);
    expect(isCode(err, 'WASM_MEMORY_LIMIT')).toBe(true);
    expect((err as Error).message).toBe('wasm guest hog: exceeded the memory limit of 4194304 bytes (unreachable)');
    const big = wat(`(module ${WASI_PRELUDE} (memory (export "memory") 100) (func (export "_start")))`);
    await expect(runWasm({ ...quiet, module: big, name: 'big', objects: 'any', maxMemoryBytes: 1 << 20 })).rejects.toThrowWithCode(
      'WASM_MEMORY_LIMIT',
      'wasm guest big: the module needs 100 pages (6553600 bytes) at start, over the 1048576 byte limit',
    );
  });

  it('puts a failure down to the limit whenever the limit refused a grow, a single large one included, and never otherwise', async () => {
    /** A guest with `memory` (WAT limits) whose _start is `body`. */
    const guest = (memory: string, body: string) => wat(`(module ${WASI_PRELUDE} (memory (export "memory") ${memory}) (func (export "_start") ${body}))`);
    const run = (module: Uint8Array, maxMemoryBytes?: number) =>
      runWasm({ ...quiet, module, name: 'g', objects: 'any', ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes }) }).catch((e: unknown) => e);
    // One grow of 3000 pages against the 128M default (2048 pages): malloc's NULL, then abort().
    expect(await run(guest('1', '(drop (memory.grow (i32.const 3000))) unreachable'))).toMatchObject({
      code: 'WASM_MEMORY_LIMIT',
      message: 'wasm guest g: exceeded the memory limit of 134217728 bytes (unreachable)',
      hint: 'raise the limit with --max-memory: the guest asked for 188M',
    });
    // Refused, then a failed exit: the exit code is kept in the message. The grow still answers -1.
    expect(await run(guest('1', '(call $proc_exit (i32.add (memory.grow (i32.const 3000)) (i32.const 10)))'))).toMatchObject({
      code: 'WASM_MEMORY_LIMIT',
      message: 'wasm guest g: exceeded the memory limit of 134217728 bytes (exit code 9)',
    });
    // A guest that copes with the refusal and exits 0 just exits.
    expect(await run(guest('1', '(drop (memory.grow (i32.const 3000)))'))).toEqual({ exitCode: 0, reason: 'exit' });
    // Grows the limit allows return the old size in pages, as before: exit code 1, not a limit error.
    expect(await run(guest('1', '(call $proc_exit (memory.grow (i32.const 2)))'))).toEqual({ exitCode: 1, reason: 'exit' });
    // A trap at the limit, with no grow refused, is a trap.
    expect(await run(guest('1', '(drop (memory.grow (i32.const 2047))) unreachable'))).toMatchObject({
      code: 'WASM_TRAP',
      message: 'wasm guest g: trap: unreachable',
    });
    // Refused by the module's own maximum, below the limit or above it: not the limit's doing.
    expect(await run(guest('1 10', '(drop (memory.grow (i32.const 20))) unreachable'))).toMatchObject({ code: 'WASM_TRAP' });
    expect(await run(guest('1 3000', '(drop (memory.grow (i32.const 5000))) unreachable'))).toMatchObject({ code: 'WASM_TRAP' });
    // A grow the module's maximum allows and the limit refuses is the limit's; under a 4G limit it succeeds, and the trap is the guest's.
    expect(await run(guest('1 3000', '(drop (memory.grow (i32.const 2500))) unreachable'))).toMatchObject({ code: 'WASM_MEMORY_LIMIT' });
    expect(await run(guest('1 3000', '(drop (memory.grow (i32.const 2500))) unreachable'), 4 * 1024 ** 3)).toMatchObject({ code: 'WASM_TRAP' });
  });

  it('stops an infinite loop at --duration and a sleeping guest at once', async () => {
    const spin = await runWasm({ ...quiet, module: SPIN(), name: 'spin', objects: 'any', durationMs: 200, stopGraceMs: 200 });
    expect(spin).toEqual({ exitCode: 0, reason: 'duration' });
    // A grace longer than the guest's 10 s sleep: a stop that waited for the sleep or the grace
    // would end with the guest's own exit code 7.
    const sleep = await runWasm({ ...quiet, module: SLEEPER(), name: 'sleep', objects: 'any', durationMs: 100, stopGraceMs: 60_000 });
    expect(sleep).toEqual({ exitCode: 0, reason: 'duration' });
  });

  it('stops on SIGINT/SIGTERM through the abort signal', async () => {
    // Each guest is stopped once its `ready` shows: it is running, and then sleeps or spins.
    const ac = new AbortController();
    expect(await runWasm({ ...quiet, module: SLEEPER(), name: 's', objects: 'any', signal: ac.signal, onStdout: () => ac.abort('SIGTERM') })).toEqual({
      exitCode: 143,
      reason: 'signal',
    });
    const ac2 = new AbortController();
    expect(await runWasm({ ...quiet, module: SPIN(), name: 's', objects: 'any', signal: ac2.signal, stopGraceMs: 100, onStdout: () => ac2.abort() })).toEqual({
      exitCode: 130,
      reason: 'signal',
    });
  });

  it('runs a guest on this thread (inline): its lines, flushed after each write and at its end, and a stop its own output asks for', async () => {
    const seen: string[] = [];
    const inline = {
      flush: () => {
        seen.push('flush');
        return true;
      },
    };
    const take = { onStdout: (l: string) => seen.push(l), onStderr: (l: string) => seen.push(`stderr ${l}`) };
    expect(await runWasm({ ...take, module: writer('one\ntw', 3), name: 'w', objects: 'any', inline })).toEqual({ exitCode: 3, reason: 'exit' });
    expect(seen.splice(0)).toEqual(['one', 'flush', 'tw', 'flush']);
    // Stopped from its output, as a closed stdout stops it: its 10 s sleep ends at once (else it would exit 7, late).
    const ac = new AbortController();
    const stopping = {
      ...take,
      onStdout: (l: string) => {
        seen.push(l);
        ac.abort('SIGTERM');
      },
    };
    expect(await runWasm({ ...stopping, module: SLEEPER(), name: 's', objects: 'any', inline, signal: ac.signal })).toEqual({
      exitCode: 143,
      reason: 'signal',
    });
    expect(seen.splice(0)).toEqual(['ready', 'flush', 'flush']);
  });

  it('stops a guest on this thread at --duration, refuses it a swap, and runs none of one stopped before its module compiled', async () => {
    const inline = { flush: () => true };
    // The addon's timer ends the 10 s sleep (else the guest would exit 7, late); a second run
    // shows that the first gave the timer and the signals back.
    for (const durationMs of [150, 50]) {
      const printed: string[] = [];
      const run = runWasm({
        ...quiet,
        module: SLEEPER(),
        name: 's',
        objects: 'any',
        inline,
        durationMs,
        stopGraceMs: 60_000,
        onStdout: (l) => printed.push(l),
      });
      expect([await run, printed]).toEqual([{ exitCode: 0, reason: 'duration' }, ['ready']]);
    }
    const ac = new AbortController();
    const printed: string[] = [];
    const run = startWasm({ ...quiet, module: SLEEPER(), name: 's', objects: 'any', inline, signal: ac.signal, onStdout: (l) => printed.push(l) });
    const swapped = run.swap({ module: SLEEPER('other'), name: 's', objects: 'any' });
    // Before the module compiled: the guest's 10 s sleep would hold this thread.
    ac.abort();
    await expect(swapped).rejects.toMatchObject({ code: 'USAGE', message: 'wasm guest s: cannot swap now: its guest runs on the main thread' });
    expect([await run.result, printed]).toEqual([{ exitCode: 130, reason: 'signal' }, []]);
  });

  it('swaps in a guest once it first waits, and keeps the running one when the next ends or traps first', async () => {
    const lines: string[] = [];
    const ac = new AbortController();
    let started: () => void = () => undefined;
    const first = new Promise<void>((r) => (started = r));
    const onStdout = (line: string) => {
      lines.push(line);
      if (line === 'first') started();
    };
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const run = startWasm({ ...quiet, module: SLEEPER('first'), name: 's', objects: 'any', signal: ac.signal, onStdout });
    await first;
    await expect(run.swap({ module: writer('quits\n', 3), name: 's', objects: 'any' })).rejects.toThrowWithCode(
      'WASM_SWAP_FAILED',
      'wasm guest s: exited with code 3 before it was set up',
    );
    const trap = wat(`(module ${WASI_PRELUDE} (memory (export "memory") 1) (func (export "_start") unreachable))`);
    await expect(run.swap({ module: trap, name: 's', objects: 'any' })).rejects.toThrowWithCode('WASM_TRAP', 'wasm guest s: trap: unreachable');
    // No BPF objects: none to keep attached, none detached.
    expect(await run.swap({ module: SLEEPER('third'), name: 's', objects: 'any' })).toEqual({ kept: true });
    ac.abort('SIGTERM');
    expect(await run.result).toEqual({ exitCode: 143, reason: 'signal' });
    expect(lines).toEqual(['first', 'quits', 'third']);
    // Nothing of the run keeps the process alive: no grace watched for the guests that ended first.
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('ends the thread of a stopped guest whose own code runs on past the grace, and not of one that has returned, however late the main thread looks', async () => {
    // The main thread is held up past the grace right after the stop, as on a loaded machine, and
    // in an immediate, so that the grace is looked at before the guest's end is (libuv runs
    // timers before I/O): the sleeping guest has returned by then, and is left to end on its
    // own (ending its thread would lose the records a BPF guest hands back then).
    const ac = new AbortController();
    const slept = await collect({
      module: SLEEPER(),
      name: 'sleep',
      objects: 'any',
      signal: ac.signal,
      stopGraceMs: 0,
      onStdout: () =>
        setImmediate(() => {
          ac.abort('SIGTERM');
          const until = performance.now() + 200;
          while (performance.now() < until);
        }),
    });
    expect(slept).toMatchObject({ exitCode: 143, reason: 'signal', stdout: ['ready'], log: [] });

    // Spinning: ended after the grace, and said so.
    const spinning = new AbortController();
    const spin = await collect({ module: SPIN(), name: 'spin', objects: 'any', signal: spinning.signal, stopGraceMs: 0, onStdout: () => spinning.abort() });
    expect(spin).toMatchObject({ exitCode: 130, reason: 'signal' });
    expect(spin.log).toEqual([expect.stringMatching(/^wasm guest spin: still running \d+ ms after it was asked to stop: its thread is ended$/)]);
  });

  it('reports a trap with its message', async () => {
    const trap = wat(`(module ${WASI_PRELUDE} (memory (export "memory") 1) (func (export "_start") (drop (i32.div_u (i32.const 1) (i32.const 0)))))`);
    await expect(runWasm({ ...quiet, module: trap, name: 't', objects: 'any' })).rejects.toThrowWithCode('WASM_TRAP', 'wasm guest t: trap: divide by zero');
  });

  it('refuses modules it cannot run, before starting them', async () => {
    const cases: [string, string, string][] = [
      ['(module (memory (export "memory") 1))', 'WASM_MISSING_EXPORT', 'wasm guest m: the module does not export function "_start"'],
      [
        '(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))',
        'WASM_UNSUPPORTED_IMPORT',
        'wasm guest m: imports env.f, which ebpm does not provide',
      ],
      [
        '(module (import "wasm_bpf" "wasm_bpf_map_operate" (func (param i32 i32 i32 i32 i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))',
        'WASM_BAD_SIGNATURE',
        'wasm guest m: wasm_bpf.wasm_bpf_map_operate is declared as (i32, i32, i32, i32, i32, i32) -> i32',
      ],
      [
        '(module (import "wasm_bpf" "wasm_bpf_exec" (func)) (memory (export "memory") 1) (func (export "_start")))',
        'WASM_UNSUPPORTED_IMPORT',
        'wasm guest m: wasm_bpf.wasm_bpf_exec is not a wasm-bpf host function',
      ],
    ];
    for (const [src, code, message] of cases) {
      await expect(runWasm({ ...quiet, module: wat(src), name: 'm', objects: 'any' })).rejects.toThrowWithCode(code, message);
    }
    await expect(runWasm({ ...quiet, module: new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), name: 'm', objects: 'any' })).rejects.toThrowWithCode(
      'WASM_INVALID',
    );
    // Well formed, but V8 refuses it when the main thread compiles it.
    const unbalanced = wat('(module (memory (export "memory") 1) (func (export "_start") (i32.const 1)))', ['--no-check']);
    await expect(runWasm({ ...quiet, module: unbalanced, name: 'm', objects: 'any' })).rejects.toThrowWithCode(
      'WASM_INVALID',
      /^wasm guest m: WebAssembly\.compile\(\): Compiling function #0 failed: expected 0 elements on the stack for fallthru, found 1 @\+\d+$/,
    );
  });

  it('runs a guest in a worker started ahead of it, and none of a guest stopped before it was handed over', async () => {
    const lines: string[] = [];
    const onStdout = (line: string) => lines.push(line);
    expect(await runWasm({ ...quiet, module: writer('ahead\n', 5), name: 'w', objects: 'any', worker: new GuestWorker(), onStdout })).toEqual({
      exitCode: 5,
      reason: 'exit',
    });
    // Stopped in the same turn as it started: its module is still compiling, so its worker never gets it.
    const ac = new AbortController();
    const run = startWasm({ ...quiet, module: writer('ran\n', 0), name: 'w', objects: 'any', worker: new GuestWorker(), signal: ac.signal, onStdout });
    ac.abort('SIGTERM');
    expect(await run.result).toEqual({ exitCode: 143, reason: 'signal' });
    expect(lines).toEqual(['ahead']);
  });
});

describe('runWasm options', () => {
  it('rejects a --max-memory below one page', async () => {
    await expect(runWasm({ ...quiet, module: new Uint8Array(), name: 'm', objects: 'any', maxMemoryBytes: 100 })).rejects.toThrowWithCode('USAGE');
  });
});
