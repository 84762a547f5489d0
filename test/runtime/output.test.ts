// The guest's output path: the shared ring on its own (frames, wrap-around, interleaved fds,
// UTF-8 across writes), then through runWasm with WAT guests: a burst larger than the ring
// arrives complete and in order, a single line shows at once, lines written just before an
// exit, a stop or a terminated thread are not lost, and a full consumer makes the guest wait.
import { describe, expect, it } from 'vitest';
import { LineSplitter, OutputReader, OutputWriter, createOutputRing } from '../../src/runtime/output.js';
import { describeWith } from '../helpers/prereq.js';
import { collect, wat } from './helpers.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

function pair(capacity: number) {
  const ring = createOutputRing(capacity);
  const got: string[] = [];
  const reader = new OutputReader(ring, { onStdout: (l) => got.push(`1 ${l}`), onStderr: (l) => got.push(`2 ${l}`) });
  return { writer: new OutputWriter(ring), reader, got };
}

describe('output ring', () => {
  it('keeps the order of stdout and stderr frames and joins lines split across writes', () => {
    const { writer, reader, got } = pair(256);
    expect(reader.drain()).toBe(false);
    writer.write(1, [bytes('a'), bytes('b\nc')]);
    writer.write(2, [bytes('err\n')]);
    writer.write(1, [bytes('d\n')]);
    expect(reader.drain()).toBe(true);
    expect(got).toEqual(['1 ab', '2 err', '1 cd']);
    expect(reader.drain()).toBe(false);
  });

  it('wraps around the end of the ring and splits writes longer than half of it', () => {
    const { writer, reader, got } = pair(64);
    const expected: string[] = [];
    for (let i = 0; i < 50; i++) {
      writer.write(i % 3 === 0 ? 2 : 1, [bytes(`line ${i}\n`)]);
      expected.push(`${i % 3 === 0 ? 2 : 1} line ${i}`);
      if (i % 4 === 3) reader.drain();
    }
    // 100 bytes in one write: frames of at most 28 bytes each, drained as they fill the ring.
    const long = 'x'.repeat(100);
    writer.write(1, [bytes(long.slice(0, 20))]);
    reader.drain();
    writer.write(1, [bytes(long.slice(20, 40)), bytes(long.slice(40, 60))]);
    reader.drain();
    writer.write(1, [bytes(long.slice(60, 100) + '\n')]);
    reader.close();
    expect(got).toEqual([...expected, `1 ${long}`]);
  });

  it('decodes UTF-8 cut between writes and passes on an unterminated last line at close', () => {
    const { writer, reader, got } = pair(128);
    const text = Buffer.from('héllo\nwörld');
    for (let i = 0; i < text.length; i++) writer.write(1, [new Uint8Array(text.subarray(i, i + 1))]);
    reader.close();
    expect(got).toEqual(['1 héllo', '1 wörld']);
  });

  it('shows a line that follows a single one at once, and batches the lines that keep coming after them', async () => {
    const ring = createOutputRing(256);
    const got: string[] = [];
    let seen: () => void = () => undefined;
    const shown = () => new Promise<void>((r) => (seen = r));
    const push = (l: string) => {
      got.push(l);
      seen();
    };
    // An hour between drains once output keeps coming: a line that waited for one would never show.
    const reader = new OutputReader(ring, { onStdout: push, onStderr: push, drainEveryMs: 3_600_000 });
    const writer = new OutputWriter(ring);
    reader.follow();
    for (const line of ['banner', 'first event']) {
      const next = shown();
      writer.write(1, [bytes(`${line}\n`)]);
      await next;
    }
    writer.write(1, [bytes('batched\n')]);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual(['banner', 'first event']);
    reader.close();
    expect(got).toEqual(['banner', 'first event', 'batched']);
  });

  it('refuses a ring size that is not a power of two', () => {
    expect(() => createOutputRing(100)).toThrowWithCode('INTERNAL', 'output ring capacity 100 is not a power of two ≥ 64');
  });

  it('passes on an unterminated line once it outgrows 64 KiB', () => {
    const out: string[] = [];
    const s = new LineSplitter((l) => out.push(l));
    s.push(bytes('y'.repeat(65 * 1024)));
    expect(out.map((l) => l.length)).toEqual([64 * 1024]);
    s.push(bytes('\nz'));
    s.flush();
    expect(out.map((l) => l.length)).toEqual([64 * 1024, 1024, 1]);
  });
});

/**
 * A guest that writes `count` lines "line NNNNNN" (fd 2 for every 1000th, else fd 1), then
 * `tail` without a newline, then sleeps `sleepMs` (poll_oneoff), then either exits 0 or, with
 * `spin`, loops without host calls. `count` -1 writes forever.
 */
function lines(o: { count: number; tail?: string; sleepMs?: number; spin?: boolean; after?: string }): Uint8Array {
  const tail = Buffer.from(o.tail ?? '');
  const after = Buffer.from(o.after ?? '');
  const hex = (b: Buffer) => b.toString('hex').replace(/../g, '\\$&');
  return wat(`(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "line 000000\\0a")
  (data (i32.const 96) "${hex(tail)}")
  (data (i32.const 160) "${hex(after)}")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr)) (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $emit (param $i i32) (local $p i32) (local $v i32)
    (local.set $p (i32.const 75)) (local.set $v (local.get $i))
    (loop $d
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $d (i32.gt_u (local.get $p) (i32.const 69))))
    (call $write (select (i32.const 2) (i32.const 1) (i32.eq (i32.rem_u (local.get $i) (i32.const 1000)) (i32.const 999))) (i32.const 64) (i32.const 12)))
  (func (export "_start") (local $i i32)
    (if (i32.ne (i32.const ${o.count}) (i32.const 0)) (then
      (loop $l
        (call $emit (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${o.count}))))))
    (if (i32.const ${tail.length}) (then (call $write (i32.const 1) (i32.const 96) (i32.const ${tail.length}))))
    (if (i32.const ${o.sleepMs ?? 0}) (then
      (i64.store (i32.const 200) (i64.const 1)) (i32.store8 (i32.const 208) (i32.const 0))
      (i32.store (i32.const 216) (i32.const 1)) (i64.store (i32.const 224) (i64.const ${(o.sleepMs ?? 0) * 1_000_000}))
      (drop (call $poll (i32.const 200) (i32.const 264) (i32.const 1) (i32.const 320)))))
    (if (i32.const ${after.length}) (then (call $write (i32.const 1) (i32.const 160) (i32.const ${after.length}))))
    ${o.spin ? '(loop $s (br $s))' : ''}
    (call $proc_exit (i32.const 0))))`);
}

const numbered = (i: number) => `line ${String(i).padStart(6, '0')}`;

describeWith(['wat2wasm'], 'runWasm output', () => {
  it('passes a burst larger than the ring complete and in order, stdout and stderr interleaved as written', async () => {
    const all: string[] = [];
    const r = await collect({
      module: lines({ count: 100_000, tail: 'no newline' }),
      name: 'burst',
      objects: 'any',
      onStdout: (l) => all.push(`1 ${l}`),
      onStderr: (l) => all.push(`2 ${l}`),
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBe(99_901);
    expect(r.stderr.length).toBe(100);
    const expected = Array.from({ length: 100_000 }, (_, i) => `${i % 1000 === 999 ? 2 : 1} ${numbered(i)}`);
    expect(all).toEqual([...expected, '1 no newline']);
  });

  // Each guest stops only when its first line has been shown: a line held back until more
  // output or the guest's end would never be, and the run would not end.
  it('shows a single line at once, while the guest sleeps or spins', async () => {
    const sleeping = new AbortController();
    const slow = await collect({
      module: lines({ count: 0, tail: 'first\n', sleepMs: 3_600_000, after: 'second\n' }),
      name: 'slow',
      objects: 'any',
      signal: sleeping.signal,
      onStdout: () => sleeping.abort('SIGINT'),
    });
    // The stop cuts its sleep short (EINTR), and it writes what it writes after the sleep.
    expect(slow).toMatchObject({ exitCode: 130, reason: 'signal', stdout: ['first', 'second'] });

    const spinning = new AbortController();
    const spin = await collect({
      module: lines({ count: 0, tail: 'ready\n', spin: true }),
      name: 'spin',
      objects: 'any',
      signal: spinning.signal,
      stopGraceMs: 100,
      onStdout: () => spinning.abort('SIGINT'),
    });
    expect(spin).toMatchObject({ exitCode: 130, reason: 'signal', stdout: ['ready'] });
  });

  it('keeps what a guest wrote just before a stop, before a terminated thread and before exit', async () => {
    // The guest sees the stop in its sleep, however late a loaded machine starts it: no termination.
    const stopped = await collect({
      module: lines({ count: 3, tail: 'partial', sleepMs: 10_000 }),
      name: 's',
      objects: 'any',
      durationMs: 150,
      stopGraceMs: 600_000,
    });
    expect(stopped).toMatchObject({ exitCode: 0, reason: 'duration', stdout: [numbered(0), numbered(1), numbered(2), 'partial'] });

    // Stopped once its first line shows (a fixed duration could end before a loaded machine has
    // even started the worker): the lines after it were written before the spin, so they are kept.
    const stopSpin = new AbortController();
    const spun = await collect({
      module: lines({ count: 2, tail: 'last words', spin: true }),
      name: 's',
      objects: 'any',
      signal: stopSpin.signal,
      stopGraceMs: 100,
      onStdout: () => stopSpin.abort('SIGINT'),
    });
    expect(spun).toMatchObject({ exitCode: 130, reason: 'signal', stdout: [numbered(0), numbered(1), 'last words'] });

    // Writing without pause until the thread is terminated: whole lines only, none skipped.
    // Stopped once its 200th line shows, so that it surely runs when the stop comes.
    const ac = new AbortController();
    let seen = 0;
    const endless = await collect({
      module: lines({ count: -1 }),
      name: 's',
      objects: 'any',
      signal: ac.signal,
      stopGraceMs: 100,
      onStdout: () => ++seen === 200 && ac.abort('SIGTERM'),
    });
    expect(endless).toMatchObject({ exitCode: 143, reason: 'signal' });
    const all = [...endless.stdout, ...endless.stderr].sort();
    expect(all.length).toBeGreaterThanOrEqual(200);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => numbered(i)));

    const exit = await collect({ module: lines({ count: 0, tail: 'bye' }), name: 'e', objects: 'any' });
    expect(exit).toMatchObject({ exitCode: 0, reason: 'exit', stdout: ['bye'], stderr: [] });
  });

  it('makes a guest wait in fd_write while the consumer is full, and a stop ends that wait', async () => {
    const ac = new AbortController();
    let full: Promise<void> | undefined;
    const r = await collect({
      module: lines({ count: -1 }),
      name: 'w',
      objects: 'any',
      signal: ac.signal,
      // Far beyond the test's timeout: the guest must leave its wait for room, not be terminated.
      stopGraceMs: 600_000,
      // Full from the first line on (stdout nobody reads): nothing more is drained until the stop.
      outputReady: () => full,
      onStdout: () => {
        full ??= new Promise<void>(() => {});
        ac.abort('SIGTERM');
      },
    });
    expect(r).toMatchObject({ exitCode: 143, reason: 'signal' });
    const all = [...r.stdout, ...r.stderr].sort();
    // One drain before the consumer was full, and the ring's 1 MiB at the end: 12-byte lines.
    expect(all.length).toBeLessThanOrEqual((2 << 20) / 12);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => numbered(i)));
  });
});
