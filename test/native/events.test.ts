// Real kernel: perf buffer (sigsnoop) and ring buffer (bootstrap) events, batching, workers.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { beforeAll, expect, it } from 'vitest';
import { BpfObject, type EventBatch } from '../../src/kernel/loader.js';
import { addonPath } from '../../src/kernel/native.js';
import { onOneCpu } from '../helpers/cpu.js';
import { describeWith } from '../helpers/prereq.js';
import { exampleObject, REPO } from '../helpers/objects.js';
import { cstr, kernelHolds, patchGlobal, programIds, released, u32 } from './support.js';

interface SigEvent {
  pid: number;
  tpid: number;
  sig: number;
  ret: number;
  comm: string;
}

function sigEvent(r: Uint8Array): SigEvent {
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  return { pid: v.getUint32(0, true), tpid: v.getUint32(4, true), sig: v.getInt32(8, true), ret: v.getInt32(12, true), comm: cstr(r, 16, 16) };
}

/** A shell that ignores USR1/USR2 and, once told to on stdin, runs `script` (then exits: SIGCHLD). */
async function signaller(script: string) {
  const child = spawn(...onOneCpu('sh', ['-c', `trap '' USR1 USR2; echo ready; read go; ${script}`]), { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  await once(child.stdout!, 'data');
  return Object.assign(child, { pid: child.pid!, exited });
}

/** sigsnoop loaded, attached and filtered to `pid`. */
async function sigsnoop(pid: number): Promise<BpfObject> {
  const elf = await exampleObject('sigsnoop');
  const obj = BpfObject.open(elf, { name: 'sigsnoop' });
  obj.setGlobal('.rodata', patchGlobal(obj, elf, '.rodata', 'filtered_pid', u32(pid)));
  obj.load();
  obj.attachAll();
  return obj;
}

describeWith(['root', 'btf', 'clang', 'native'], 'event readers on the real kernel', () => {
  beforeAll(async () => {
    await exampleObject('sigsnoop');
    await exampleObject('bootstrap');
  });

  it('sigsnoop: a pid filter lets only that pid through, with exact fields', async () => {
    const child = await signaller('kill -USR1 $$; kill -USR2 $$');
    const pid = child.pid;
    using obj = await sigsnoop(pid);
    const reader = obj.events('events');
    process.kill(pid, 'SIGUSR1'); // sent by this process: filtered out
    child.stdin!.end('go\n');
    const events: SigEvent[] = [];
    for await (const batch of reader) {
      events.push(...batch.records.map(sigEvent));
      expect(batch.lost).toBe(0);
      if (events.length >= 3) break;
    }
    expect(events).toEqual([
      { pid, tpid: pid, sig: 10, ret: 0, comm: 'sh' },
      { pid, tpid: pid, sig: 12, ret: 0, comm: 'sh' },
      { pid, tpid: process.pid, sig: 17, ret: 0, comm: 'sh' }, // SIGCHLD to us as it exits
    ]);
    expect(reader.closed).toBe(true); // leaving for-await closed it
    await child.exited;
  });

  it('bootstrap: a synchronous poll sees /bin/true exec and exit', async () => {
    using obj = BpfObject.open(await exampleObject('bootstrap'), { name: 'bootstrap' });
    obj.load();
    obj.attachAll();
    using reader = obj.events('rb');
    const pid = spawnSync('/bin/true').pid;
    const mine: Uint8Array[] = [];
    for (let i = 0; i < 50 && mine.length < 2; i++) {
      const batch = reader.poll(100);
      expect(batch.cpus.every((c) => c === -1)).toBe(true);
      mine.push(...batch.records.filter((r) => new DataView(r.buffer, r.byteOffset).getInt32(0, true) === pid));
    }
    const decoded = mine.map((r) => {
      const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
      return {
        len: r.length,
        exitCode: v.getUint32(8, true),
        comm: cstr(r, 24, 16),
        filename: cstr(r, 40, 127),
        exit: r[167] === 1,
        duration: v.getBigUint64(16, true),
      };
    });
    expect(decoded).toHaveLength(2);
    expect(decoded[0]).toMatchObject({ len: 168, comm: 'true', exit: false, exitCode: 0, duration: 0n });
    expect(['/bin/true', '/usr/bin/true']).toContain(decoded[0]!.filename);
    expect(decoded[1]).toMatchObject({ len: 168, comm: 'true', exit: true, exitCode: 0, filename: '' });
    expect(decoded[1]!.duration > 0n).toBe(true);
  });

  it('delivers a burst of 10,000 events in far fewer batches, none lost', async () => {
    const child = await signaller('');
    using obj = await sigsnoop(process.pid);
    using reader = obj.events('events', { perfPages: 256 });
    let events = 0;
    let batches = 0;
    let exact = 0;
    const done = new Promise<void>((resolve) => {
      reader.onBatch((b: EventBatch) => {
        batches++;
        events += b.records.length;
        exact += b.records.filter((r) => {
          const e = sigEvent(r);
          return e.pid === process.pid && e.tpid === child.pid && e.sig === 10;
        }).length;
        if (events >= 10_000) resolve();
      });
    });
    // the loop keeps the event loop busy, so the kernel buffers the burst and it arrives in few batches
    for (let i = 0; i < 10_000; i++) process.kill(child.pid, 'SIGUSR1');
    await done;
    expect({ events, exact, lost: reader.lost }).toEqual({ events: 10_000, exact: 10_000, lost: 0 });
    expect(batches).toBeLessThan(100);
    child.stdin!.end('go\n');
    await child.exited;
  });

  it('batches a steady stream on a timer without loss, then delivers a single event', async () => {
    const child = await signaller('');
    using obj = await sigsnoop(process.pid);
    using reader = obj.events('events');
    let events = 0;
    let batches = 0;
    let exact = 0;
    let reached: { count: number; then: () => void } | undefined;
    reader.onBatch((b: EventBatch) => {
      batches++;
      events += b.records.length;
      exact += b.records.filter((r) => {
        const e = sigEvent(r);
        return e.pid === process.pid && e.tpid === child.pid && e.sig === 10;
      }).length;
      if (reached && events >= reached.count) reached.then();
    });
    const received = (count: number) => new Promise<void>((then) => (reached = { count, then }));
    // One signal per event-loop turn: a reader woken per event would see 5,000 batches of one.
    for (let i = 0; i < 5000; i++) {
      process.kill(child.pid, 'SIGUSR1');
      await new Promise((r) => setImmediate(r));
    }
    if (events < 5000) await received(5000);
    expect({ events, exact, lost: reader.lost }).toEqual({ events: 5000, exact: 5000, lost: 0 });
    expect(batches).toBeLessThan(500);
    // The stream has ended: one more event still comes through, alone in its batch.
    const before = batches;
    const single = received(5001);
    process.kill(child.pid, 'SIGUSR1');
    await single;
    expect([events, batches - before]).toEqual([5001, 1]);
    child.stdin!.end('go\n');
    await child.exited;
  });

  it('works in a worker thread (sync poll), and a worker that forgets to close leaks nothing', async () => {
    const out = join(REPO, '.cache', 'test', 'native-worker');
    mkdirSync(out, { recursive: true });
    const script = join(out, 'worker.mjs');
    await build({
      entryPoints: [join(REPO, 'test', 'native', 'fixtures', 'worker.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: script,
      logLevel: 'silent',
    });
    const elf = await exampleObject('bootstrap');
    const run = async (close: boolean) => {
      const w = new Worker(script, { workerData: { elf, addon: addonPath(), close } });
      const [msg] = (await once(w, 'message')) as [{ ids: number[]; pid: number; seen: { pid: number; comm: string }[] }];
      await once(w, 'exit');
      return msg;
    };
    const closed = await run(true);
    expect(closed.seen).toEqual([
      { pid: closed.pid, comm: 'true' },
      { pid: closed.pid, comm: 'true' },
    ]);
    expect(kernelHolds(closed.ids)).toEqual({ programs: [], links: 0 });
    const forgotten = await run(false);
    expect([forgotten.seen.length, forgotten.ids.length]).toEqual([2, 2]);
    await released(forgotten.ids);
  });

  it('flush drains what the loop has not delivered yet, exactly, from a perf buffer and a ring buffer', async () => {
    const child = await signaller('');
    using obj = await sigsnoop(process.pid);
    const reader = obj.events('events');
    let delivered = 0;
    reader.onBatch((b) => (delivered += b.records.length));
    // No turn of the event loop between the signals and the flush: nothing was delivered yet.
    for (let i = 0; i < 100; i++) process.kill(child.pid, 'SIGUSR1');
    const flushed = reader.flush();
    expect({ delivered, flushed: flushed.records.length, lost: flushed.lost }).toEqual({ delivered: 0, flushed: 100, lost: 0 });
    expect(flushed.records.every((r) => sigEvent(r).tpid === child.pid && sigEvent(r).sig === 10)).toBe(true);
    expect(reader.flush().records).toEqual([]);
    child.stdin!.end('go\n');
    await child.exited;

    using boot = BpfObject.open(await exampleObject('bootstrap'), { name: 'bootstrap' });
    boot.load();
    boot.attachAll();
    const rb = boot.events('rb');
    rb.onBatch(() => undefined);
    const pid = spawnSync('/bin/true').pid;
    const mine = rb.flush().records.filter((r) => new DataView(r.buffer, r.byteOffset).getInt32(0, true) === pid);
    expect(mine.map((r) => r[167])).toEqual([0, 1]); // exec, then exit
  });

  it('hands JavaScript the buffer each drain filled: records stay as they were after later drains and after close', async () => {
    const child = await signaller('');
    const obj = await sigsnoop(process.pid);
    const reader = obj.events('events');
    for (let i = 0; i < 50; i++) process.kill(child.pid, 'SIGUSR1');
    const first = reader.poll(0);
    for (let i = 0; i < 50; i++) process.kill(child.pid, 'SIGUSR2');
    const second = reader.poll(0);
    // A third drain: two buffers swapped in turn would now overwrite the first batch.
    for (let i = 0; i < 20; i++) process.kill(child.pid, 'SIGUSR2');
    expect(reader.poll(0).records).toHaveLength(20);
    obj.close();
    expect(first.records[0]!.buffer).not.toBe(second.records[0]!.buffer);
    expect(first.records.map((r) => sigEvent(r).sig)).toEqual(new Array(50).fill(10));
    expect(second.records.map((r) => sigEvent(r).sig)).toEqual(new Array(50).fill(12));
    expect(first.records.every((r) => sigEvent(r).tpid === child.pid)).toBe(true);
    child.stdin!.end('go\n');
    await child.exited;
  });

  it('gives a throw in the batch callback to onError, not to an uncaught exception', async () => {
    const child = await signaller('');
    using obj = await sigsnoop(process.pid);
    const reader = obj.events('events');
    const boom = new Error('boom');
    const failed = new Promise<unknown>((resolve) =>
      reader.onBatch(() => {
        throw boom;
      }, resolve),
    );
    process.kill(child.pid, 'SIGUSR1');
    expect(await failed).toBe(boom);
    reader.close();
    child.stdin!.end('go\n');
    await child.exited;
  });

  it('readers refuse a second consumer and a sync poll while the loop consumes', async () => {
    using obj = BpfObject.open(await exampleObject('bootstrap'), { name: 'bootstrap' });
    obj.load();
    const ids = programIds(obj);
    const reader = obj.events('rb');
    reader.onBatch(() => undefined);
    expect(() => reader.onBatch(() => undefined)).toThrowWithCode('EVENTS_BUSY');
    expect(() => reader.poll(0)).toThrowWithCode('EVENTS_BUSY');
    expect(() => obj.events('exec_start')).toThrowWithCode('NOT_AN_EVENT_MAP');
    obj.close();
    expect(reader.closed).toBe(true);
    expect(() => reader.poll(0)).toThrowWithCode('CLOSED');
    expect(kernelHolds(ids)).toEqual({ programs: [], links: 0 });
  });
});
