// The run service's decisions that need no kernel: machine checks, the run plan, the package
// sources' refusals, and the event path over a fake addon.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { BpfNative, RawBatch } from '../../src/kernel/native.js';
import type { MapMeta, PackageMetadata } from '../../src/package/metadata.js';
import { openContext } from '../../src/services/context.js';
import { loadEnvPolicy } from '../../src/sign/policy-file.js';
import { localSource, resolvePackage } from '../../src/services/run-source.js';
import { checkMachine, kernelBtfFile, missingCapabilities, type MachineFacts } from '../../src/services/machine.js';
import { planRun, runPackage } from '../../src/services/run.js';
import { exitCode } from '../../src/cli/commands/run-stops.js';
import { attachSummary, endSummary } from '../../src/cli/views/run-text.js';
import { sandboxDir } from '../helpers/cli.js';

const u32 = { kind: 'int', size: 4, signed: false } as const;

function meta(over: Partial<PackageMetadata> = {}, maps: MapMeta[] = []): PackageMetadata {
  return {
    schemaVersion: 1,
    name: 'demo',
    version: '1.0.0',
    keywords: [],
    authors: [],
    architecture: 'amd64',
    objects: [
      { name: 'demo.bpf.o', digest: `sha256:${'0'.repeat(64)}`, size: 1, layer: true, embedded: false, programs: [], maps, parameters: [], exports: [] },
    ],
    requirements: { programTypes: [], mapTypes: [], helpers: [], kernelTypes: [], kernelBtf: true },
    ...over,
  };
}

const map = (name: string, type: string, extra: Partial<MapMeta> = {}): MapMeta => ({
  name,
  type,
  keySize: 4,
  valueSize: 4,
  maxEntries: 1,
  flags: 0,
  ...extra,
});

/**
 * A stand-in for the addon (no kernel is needed to test what the service does between calls):
 * one object with one program `p` and `maps`, every call a no-op unless `rest` gives it.
 */
function fakeNative(program: { section: string; type: string }, maps: readonly Record<string, unknown>[], rest: Record<string, unknown>): BpfNative {
  return {
    setLogger: () => undefined,
    objectOpen: () => ({}),
    objectPrograms: () => [{ name: 'p', ...program, autoload: true, fd: 3 }],
    objectMaps: () => maps,
    objectLoad: () => undefined,
    objectClose: () => undefined,
    programAttach: () => ({}),
    linkDestroy: () => undefined,
    ...rest,
  } as unknown as BpfNative;
}

/** CapEff of root (all 41 capabilities) and of a process with only CAP_BPF and CAP_PERFMON. */
const ROOT = 'CapEff:\t000001ffffffffff\n';
const BPF_PERFMON = `CapEff:\t${((1n << 39n) | (1n << 38n)).toString(16).padStart(16, '0')}\n`;
const machine: MachineFacts = { architecture: 'amd64', procStatus: ROOT, kernelBtf: true, release: '6.1.0-57-amd64' };

describe('checkMachine', () => {
  it('names missing capabilities, the wrong architecture and a missing kernel BTF', () => {
    expect(missingCapabilities(ROOT)).toEqual([]);
    expect(missingCapabilities(BPF_PERFMON)).toEqual([]);
    expect(missingCapabilities('CapEff:\t0000000000000000\n')).toEqual(['CAP_BPF', 'CAP_PERFMON']);
    expect(missingCapabilities(`CapEff:\t${(1n << 39n).toString(16)}\n`)).toEqual(['CAP_PERFMON']);
    expect(missingCapabilities(`CapEff:\t${(1n << 21n).toString(16)}\n`)).toEqual([]);
    expect(() => checkMachine(meta({ architecture: 'arm64' }), machine)).toThrowWithCode('PACKAGE_WRONG_ARCH', 'no linux/amd64 package: built for linux/arm64');
    expect(() => checkMachine(meta({ architecture: 'unknown' }), machine)).not.toThrow();
    expect(() => checkMachine(meta(), { ...machine, procStatus: 'CapEff:\t0\n' })).toThrowWithCode('PERMISSION_DENIED', 'missing CAP_BPF and CAP_PERFMON');
    expect(() => checkMachine(meta(), { ...machine, kernelBtf: false })).toThrowWithCode(
      'KERNEL_NO_BTF',
      'kernel 6.1.0-57-amd64 has no BTF (/sys/kernel/btf/vmlinux), which the package needs for CO-RE, and the package carries none',
    );
    expect(checkMachine(meta({ requirements: { ...meta().requirements, kernelBtf: false } }), { ...machine, kernelBtf: false })).toEqual({ kind: 'kernel' });
  });

  it('chooses the BTF CO-RE relocates against: --btf, the kernel, or the one carried for this release', () => {
    const digest = `sha256:${'1'.repeat(64)}`;
    const carrying = meta({
      btf: [
        { release: '5.10.0-46-amd64', digest, size: 358 },
        { release: '6.12.118+deb13-amd64', digest, size: 358 },
      ],
    });
    const noBtf = { ...machine, kernelBtf: false };
    expect(checkMachine(carrying, machine)).toEqual({ kind: 'kernel' });
    expect(checkMachine(carrying, { ...noBtf, release: '5.10.0-46-amd64' })).toEqual({ kind: 'package', release: '5.10.0-46-amd64' });
    expect(checkMachine(carrying, machine, '/tmp/k.btf')).toEqual({ kind: 'file', path: '/tmp/k.btf' });
    expect(checkMachine(carrying, noBtf, '/tmp/k.btf')).toEqual({ kind: 'file', path: '/tmp/k.btf' });
    let refusal: unknown;
    try {
      checkMachine(carrying, noBtf);
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toMatchObject({
      code: 'KERNEL_NO_BTF',
      message:
        'kernel 6.1.0-57-amd64 has no BTF (/sys/kernel/btf/vmlinux), which the package needs for CO-RE, and the package carries BTF only for 5.10.0-46-amd64, 6.12.118+deb13-amd64',
      hint: "rebuild the package with `ebpm build --btf-for <vmlinux, BTF file or linux-image .deb of 6.1.0-57-amd64>`, or pass this kernel's BTF with `ebpm run --btf <file>`",
      data: { release: '6.1.0-57-amd64', carried: ['5.10.0-46-amd64', '6.12.118+deb13-amd64'] },
    });
  });

  it('writes a carried BTF to a private file for the run, and removes it', async () => {
    const bytes = new Uint8Array([0x9f, 0xeb, 1, 0]);
    const file = await kernelBtfFile({ kind: 'package', release: '5.10.0-46-amd64' }, new Map([['5.10.0-46-amd64', bytes]]));
    expect(file.path).toMatch(/\/ebpm-btf-[^/]+\/5\.10\.0-46-amd64\.btf$/);
    expect(new Uint8Array(readFileSync(file.path!))).toEqual(bytes);
    expect(statSync(file.path!).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(file.path!)).mode & 0o777).toBe(0o700);
    await file.remove();
    expect(existsSync(dirname(file.path!))).toBe(false);
    expect((await kernelBtfFile({ kind: 'file', path: '/tmp/k.btf' }, new Map())).path).toBe('/tmp/k.btf');
    expect((await kernelBtfFile({ kind: 'kernel' }, new Map())).path).toBeUndefined();
  });

  it('refuses in runPackage before the addon is touched', async () => {
    const native = new Proxy(
      {},
      {
        get: () => {
          throw new Error('the addon was used');
        },
      },
    ) as BpfNative;
    const pkg = { source: 'x', format: 'ebpm' as const, metadata: meta({ architecture: 'arm64' }), objects: new Map() };
    await expect(runPackage({ package: pkg, plan: planRun(pkg.metadata), assignments: [], hooks: {}, native, machine })).rejects.toThrowWithCode(
      'PACKAGE_WRONG_ARCH',
      'run demo: no linux/amd64 package: built for linux/arm64',
    );
  });
});

describe('planRun', () => {
  it('prints the exported map, reads sample maps, and falls back to hex for untyped event maps', () => {
    const hist = { interval: 1000, type: 'log2_hist', unit: 'usecs', clearMap: false } as const;
    const typed = meta({}, [map('rb', 'ringbuf'), map('other', 'perf_event_array'), map('hists', 'hash', { sample: hist, key: u32, value: u32 })]);
    const withExport: PackageMetadata = { ...typed, objects: [{ ...typed.objects[0]!, exports: [{ map: 'rb', type: u32 }] }] };
    expect(planRun(withExport)).toEqual({
      events: { object: 'demo.bpf.o', map: 'rb', layout: u32, why: 'declared' },
      samples: [{ object: 'demo.bpf.o', map: 'hists', spec: hist, key: u32, value: u32 }],
      ignored: [],
      mapSizes: [],
    });
    const inferred: PackageMetadata = { ...typed, objects: [{ ...typed.objects[0]!, exports: [{ map: 'rb', type: u32, inferredBy: 'name' }] }] };
    expect(planRun(inferred).events).toEqual({ object: 'demo.bpf.o', map: 'rb', layout: u32, why: 'name' });
    expect(planRun(meta({}, [map('a', 'ringbuf'), map('b', 'perf_event_array'), map('h', 'hash')]))).toEqual({
      events: { object: 'demo.bpf.o', map: 'a' },
      samples: [],
      ignored: ['demo.bpf.o:b'],
      mapSizes: [],
    });
    expect(planRun(meta({}, [map('h', 'hash')]))).toEqual({ samples: [], ignored: [], mapSizes: [] });
  });

  it('sizes what the object leaves to user space, and what --map-size names', () => {
    const sized = meta({}, [
      map('start', 'hash', { maxEntries: 0 }),
      map('stacks', 'stack_trace', { valueSize: 0, maxEntries: 0 }),
      map('deep', 'stack_trace', { valueSize: 0, maxEntries: 64 }),
      map('rb', 'ringbuf', { keySize: 0, valueSize: 0, maxEntries: 0 }),
      map('events', 'perf_event_array', { maxEntries: 0 }),
      map('seen', 'lru_hash', { maxEntries: 100 }),
      map('cpus', 'percpu_array', { maxEntries: 0 }),
    ]);
    expect(planRun(sized).mapSizes).toEqual([
      { object: 'demo.bpf.o', map: 'start', maxEntries: 10240, why: 'default' },
      { object: 'demo.bpf.o', map: 'stacks', maxEntries: 1024, valueSize: 1016, why: 'default' },
      { object: 'demo.bpf.o', map: 'deep', valueSize: 1016, why: 'default' },
      { object: 'demo.bpf.o', map: 'rb', maxEntries: 262144, why: 'default' },
      { object: 'demo.bpf.o', map: 'cpus', maxEntries: 10240, why: 'default' },
    ]);
    expect(
      planRun(sized, {
        mapSizes: new Map([
          ['start', 7],
          ['seen', 9],
        ]),
      }).mapSizes.filter((m) => m.why === 'flag'),
    ).toEqual([
      { object: 'demo.bpf.o', map: 'start', maxEntries: 7, why: 'flag' },
      { object: 'demo.bpf.o', map: 'seen', maxEntries: 9, why: 'flag' },
    ]);
    expect(() => planRun(sized, { mapSizes: new Map([['nope', 1]]) })).toThrowWithCode('USAGE', 'run: --map-size nope: demo has no map nope');
  });
});

describe('summaries and exit codes', () => {
  it('says what was attached, what was seen, and exits 0, 130 or 143', () => {
    const pkg = { source: 'x', format: 'ebpm' as const, metadata: meta(), objects: new Map() };
    const p = (program: string, section: string) => ({ object: 'demo.bpf.o', program, section, type: 'tracepoint' });
    expect(attachSummary(pkg, [p('a', 'tp/x/y')])).toBe('demo 1.0.0: attached a (tp/x/y)');
    expect(attachSummary(pkg, [p('a', 'tp/x/y'), p('b', 'tp/x/z')])).toBe('demo 1.0.0: attached 2 programs: a (tp/x/y), b (tp/x/z)');
    expect(endSummary('demo', { events: 5, lost: 1, stop: { kind: 'signal', signal: 'SIGTERM' } })).toBe('demo: 5 events, 1 lost (stopped: SIGTERM)');
    expect(endSummary('demo', { events: 5, lost: 0, stop: { kind: 'signal', signal: 'SIGINT' } }, 3)).toBe(
      'demo: 5 events, 0 lost, 3 dropped (stopped: SIGINT)',
    );
    expect([
      exitCode({ kind: 'duration' }),
      exitCode({ kind: 'max-events' }),
      exitCode({ kind: 'output-closed' }),
      exitCode({ kind: 'signal', signal: 'SIGINT' }),
      exitCode({ kind: 'signal', signal: 'SIGTERM' }),
    ]).toEqual([0, 0, 0, 130, 143]);
  });
});

describe('localSource', () => {
  const dir = sandboxDir('run-src-');
  const opts = {
    pull: 'missing' as const,
    env: process.env,
    cwd: dir,
    context: () => openContext({ HOME: dir }),
    trustPolicy: () => loadEnvPolicy({ HOME: dir }),
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves what is not a path to the next source, and says so when none claims it', async () => {
    expect(await localSource().resolve('ghcr.io/x/y:1', opts)).toBeUndefined();
    await expect(resolvePackage('ghcr.io/x/y:1', [localSource()], opts)).rejects.toThrowWithCode('NOT_FOUND', 'ghcr.io/x/y:1: no such file or directory');
  });

  it('refuses a directory that is no package, a file of no known format, a layout without tags', async () => {
    mkdirSync(join(dir, 'empty'));
    await expect(localSource().resolve('empty', opts)).rejects.toThrowWithCode(
      'NOT_FOUND',
      'empty: neither a package directory (ebpm.json or *.bpf.c) nor an OCI layout (oci-layout)',
    );
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    await expect(localSource().resolve('notes.txt', opts)).rejects.toThrowWithCode(
      'FORMAT_UNKNOWN',
      'notes.txt: not a BPF object, a Wasm module or a package.json',
    );
    mkdirSync(join(dir, 'layout'));
    writeFileSync(join(dir, 'layout', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'layout', 'index.json'), '{"schemaVersion":2,"manifests":[]}');
    await expect(localSource().resolve('layout', opts)).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'layout: the layout has no package tag' });
    writeFileSync(join(dir, 'bad.json'), '{"bpf_object": 1}');
    await expect(localSource().resolve('bad.json', opts)).rejects.toThrowWithCode('FOREIGN_INVALID');
  });
});

describe("runPackage's event path (the addon faked)", () => {
  /** A batch of `n` 4-byte records numbered from `from`, laid out as the addon lays them out. */
  function batch(from: number, n: number): RawBatch {
    const data = new ArrayBuffer(n * 16);
    const v = new DataView(data);
    for (let i = 0; i < n; i++) {
      v.setUint32(i * 16, 4, true);
      v.setUint32(i * 16 + 4, 0xffffffff, true);
      v.setUint32(i * 16 + 8, from + i, true);
    }
    return { data, count: n, lost: 0 };
  }

  /** One object with one tracepoint program and one ring buffer; `flushed` is what remains at the stop. */
  function fake(flushed: RawBatch) {
    const calls: string[] = [];
    let deliver: ((error: null, raw: RawBatch) => void) | undefined;
    const native = fakeNative(
      { section: 'tracepoint/a/b', type: 'tracepoint' },
      [{ name: 'rb', section: '.maps', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096, fd: 4 }],
      {
        objectClose: () => calls.push('close object'),
        linkDestroy: () => calls.push('detach'),
        mapInfo: () => ({ name: 'rb', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096, flags: 0, valueBytes: 0 }),
        readerOpen: () => ({}),
        readerStart: (_r: unknown, cb: (error: null, raw: RawBatch) => void) => {
          deliver = cb;
        },
        readerFlush: () => {
          calls.push('flush');
          return flushed;
        },
        readerClose: () => calls.push('close reader'),
      },
    );
    const pkg = { source: 'x', format: 'ebpm' as const, metadata: meta({}, [map('rb', 'ringbuf')]), objects: new Map([['demo.bpf.o', new Uint8Array(1)]]) };
    const seen: number[][] = [];
    const ac = new AbortController();
    /** Runs until a stop; once attached, `attached` delivers batches by wakeup and may stop it with `stop`. */
    const run = (opts: { maxEvents?: number; throwing?: Error; attached: (deliver: (raw: RawBatch) => void, stop: () => void) => void }) =>
      runPackage({
        package: pkg,
        plan: planRun(pkg.metadata),
        assignments: [],
        native,
        machine,
        signal: ac.signal,
        ...(opts.maxEvents === undefined ? {} : { maxEvents: opts.maxEvents }),
        hooks: {
          onAttached: () =>
            setImmediate(() =>
              opts.attached(
                (raw) => deliver!(null, raw),
                () => ac.abort('SIGINT'),
              ),
            ),
          onEvents: (records) => {
            if (opts.throwing) throw opts.throwing;
            seen.push(records.map((r) => new DataView(r.buffer, r.byteOffset).getUint32(0, true)));
          },
        },
      });
    return { calls, seen, run };
  }

  it('prints and counts what is still in the buffer at the stop, then closes', async () => {
    const f = fake(batch(2, 3));
    const r = await f.run({
      attached: (deliver, stop) => {
        deliver(batch(0, 2));
        stop();
      },
    });
    expect([r.stop, r.events]).toEqual([{ kind: 'signal', signal: 'SIGINT' }, 5]);
    expect(f.seen).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    expect(f.calls).toEqual(['flush', 'detach', 'close reader', 'close object']);
  });

  it('cuts what the stop drains at --max-events', async () => {
    const f = fake(batch(3, 3));
    const r = await f.run({
      maxEvents: 4,
      attached: (deliver, stop) => {
        deliver(batch(0, 3));
        stop();
      },
    });
    expect([r.stop, r.events]).toEqual([{ kind: 'signal', signal: 'SIGINT' }, 4]);
    expect(f.seen).toEqual([[0, 1, 2], [3]]);
  });

  it('fails the run with what a hook throws, everything detached and closed', async () => {
    const f = fake(batch(0, 0));
    const boom = new Error('the view broke');
    const e = await f.run({ throwing: boom, attached: (deliver) => deliver(batch(0, 2)) }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'INTERNAL', message: 'run demo: the view broke', cause: boom });
    expect(f.calls).toEqual(['detach', 'close reader', 'close object']);
  });
});

describe('planRun with result maps', () => {
  const hist = {
    kind: 'struct',
    size: 8,
    name: 'hist',
    fields: [{ name: 'slots', offset: 0, layout: { kind: 'array', size: 8, count: 2, element: u32 } }],
  } as const;
  const maps = [map('start', 'hash', { key: u32, value: u32 }), map('hists', 'hash', { key: u32, value: hist })];
  const result = { kind: 'histogram', reason: 'value struct hist has an integer array `slots`' } as const;

  it('prints the result maps at the stop, or every --interval with a clear, or those --print-map names', () => {
    expect(planRun(meta({}, maps)).samples).toEqual([
      {
        object: 'demo.bpf.o',
        map: 'hists',
        spec: { interval: 0, type: 'log2_hist', clearMap: false },
        key: u32,
        value: hist,
        result: { map: 'hists', ...result },
      },
    ]);
    expect(planRun(meta({}, maps), { intervalMs: 500 }).samples[0]!.spec).toEqual({ interval: 500, type: 'log2_hist', clearMap: true });
    expect(planRun(meta({}, maps), { printMaps: false }).samples).toEqual([]);
    expect(planRun(meta({}, maps), { printMaps: ['start'] }).samples).toEqual([
      {
        object: 'demo.bpf.o',
        map: 'start',
        spec: { interval: 0, type: 'default_kv', clearMap: false },
        key: u32,
        value: u32,
        result: { map: 'start', kind: 'counters', reason: 'chosen with --print-map' },
      },
    ]);
  });

  it('refuses a --print-map name the package has no map of, or whose value it cannot print', () => {
    expect(() => planRun(meta({}, maps), { printMaps: ['nope'] })).toThrowWithCode('USAGE', 'run: --print-map nope: demo has no map nope');
    expect(() => planRun(meta({}, [...maps, map('rb', 'ringbuf')]), { printMaps: ['rb'] })).toThrowWithCode(
      'USAGE',
      'run: --print-map rb: a ringbuf map whose value is neither a histogram (`slots`) nor integer counters',
    );
    expect(() => planRun(meta({}, [...maps, map('cg', 'cgroup_array', { key: u32, value: u32 })]), { printMaps: ['cg'] })).toThrow(
      expect.objectContaining({
        code: 'USAGE',
        message: 'run: --print-map cg: a cgroup_array map whose value is neither a histogram (`slots`) nor integer counters',
        hint: 'ebpm prints hash, lru_hash, array, percpu_hash, lru_percpu_hash, percpu_array maps; the maps it would print: hists',
      }),
    );
  });
});

describe("runPackage's result maps (the addon and the clock faked)", () => {
  afterEach(() => vi.useRealTimers());

  it('reads a result map every --interval, clears it after each read, and once more at the stop', async () => {
    vi.useFakeTimers();
    /** The kernel's side of map `counts`: one u32 key → u64 count. */
    const kernel = new Map<number, bigint>([[1, 10n]]);
    const deleted: number[] = [];
    const native = fakeNative(
      { section: 'tracepoint/a/b', type: 'tracepoint' },
      [{ name: 'counts', section: '.maps', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, fd: 4 }],
      {
        mapInfo: () => ({ name: 'counts', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, valueBytes: 8 }),
        mapLookupBatch: () => {
          const keys = new Uint8Array(4 * kernel.size);
          const values = new Uint8Array(8 * kernel.size);
          [...kernel].forEach(([k, v], i) => {
            new DataView(keys.buffer).setUint32(i * 4, k, true);
            new DataView(values.buffer).setBigUint64(i * 8, v, true);
          });
          return { count: kernel.size, keys, values, cursor: null };
        },
        mapDelete: (_fd: number, key: Uint8Array) => {
          const k = new DataView(key.buffer, key.byteOffset).getUint32(0, true);
          deleted.push(k);
          return kernel.delete(k);
        },
      },
    );
    const counts = map('counts', 'hash', { keySize: 4, valueSize: 8, key: u32, value: { kind: 'int', size: 8, signed: false } });
    const pkg = { source: 'x', format: 'ebpm' as const, metadata: meta({}, [counts]), objects: new Map([['demo.bpf.o', new Uint8Array(1)]]) };
    const snapshots: string[][] = [];
    let next = 20n;
    const run = runPackage({
      package: pkg,
      plan: planRun(pkg.metadata, { intervalMs: 1000 }),
      assignments: [],
      native,
      machine,
      durationMs: 2500,
      hooks: {
        onSample: (_plan, entries) => {
          snapshots.push(entries.map((e) => `${new DataView(e.key.buffer).getUint32(0, true)}=${new DataView(e.value.buffer).getBigUint64(0, true)}`));
          // What the programs count before the next read.
          kernel.set(2, next);
          next += 10n;
        },
      },
    });
    await vi.advanceTimersByTimeAsync(2500);
    const r = await run;
    expect(r.stop).toEqual({ kind: 'duration' });
    expect(snapshots).toEqual([['1=10'], ['2=20'], ['2=30']]);
    expect(deleted).toEqual([1, 2, 2]);
  });

  it('reads the stacks a stack map names, hands them over, and deletes them when it clears the counts', async () => {
    vi.useFakeTimers();
    const i32 = { kind: 'int', size: 4, signed: true } as const;
    const key = {
      kind: 'struct',
      size: 8,
      fields: [
        { name: 'pid', offset: 0, layout: u32 },
        { name: 'kern_stack_id', offset: 4, layout: i32 },
      ],
    } as const;
    /** `counts`: {pid, kern_stack_id} → u64, and `stackmap`: id → 127 frames. */
    const counts = new Map<string, [number, number, bigint]>([
      ['7,3', [7, 3, 5n]],
      ['8,-14', [8, -14, 1n]],
    ]);
    const stacks = new Map<number, bigint[]>([[3, [0xffffffff81000010n, 0xffffffff81000020n]]]);
    const deleted: string[] = [];
    const infos = {
      4: { name: 'counts', type: 'hash', keySize: 8, valueSize: 8, maxEntries: 16, flags: 0, valueBytes: 8 },
      5: { name: 'stackmap', type: 'stack_trace', keySize: 4, valueSize: 127 * 8, maxEntries: 16, flags: 0, valueBytes: 127 * 8 },
    } as Record<number, unknown>;
    const u32At = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint32(0, true);
    const native = fakeNative(
      { section: 'tp_btf/sched_switch', type: 'tracing' },
      [
        { name: 'counts', section: '.maps', type: 'hash', keySize: 8, valueSize: 8, maxEntries: 16, fd: 4 },
        { name: 'stackmap', section: '.maps', type: 'stack_trace', keySize: 4, valueSize: 127 * 8, maxEntries: 16, fd: 5 },
      ],
      {
        mapInfo: (fd: number) => infos[fd],
        mapLookupBatch: () => {
          const keys = new Uint8Array(8 * counts.size);
          const values = new Uint8Array(8 * counts.size);
          [...counts.values()].forEach(([pid, id, n], i) => {
            new DataView(keys.buffer).setUint32(i * 8, pid, true);
            new DataView(keys.buffer).setInt32(i * 8 + 4, id, true);
            new DataView(values.buffer).setBigUint64(i * 8, n, true);
          });
          return { count: counts.size, keys, values, cursor: null };
        },
        mapLookup: (fd: number, k: Uint8Array) => {
          const frames = fd === 5 ? stacks.get(u32At(k)) : undefined;
          if (frames === undefined) return null;
          const v = new Uint8Array(127 * 8);
          for (const [i, f] of frames.entries()) new DataView(v.buffer).setBigUint64(i * 8, f, true);
          return v;
        },
        mapDelete: (fd: number, k: Uint8Array) => {
          const d = new DataView(k.buffer, k.byteOffset);
          if (fd === 5) {
            deleted.push(`stack ${u32At(k)}`);
            return stacks.delete(u32At(k));
          }
          deleted.push(`count ${d.getUint32(0, true)},${d.getInt32(4, true)}`);
          return counts.delete(`${d.getUint32(0, true)},${d.getInt32(4, true)}`);
        },
      },
    );
    const maps = [
      map('stackmap', 'stack_trace', { keySize: 4, valueSize: 127 * 8, maxEntries: 16 }),
      map('counts', 'hash', { keySize: 8, valueSize: 8, key, value: { kind: 'int', size: 8, signed: false } }),
    ];
    const pkg = { source: 'x', format: 'ebpm' as const, metadata: meta({}, maps), objects: new Map([['demo.bpf.o', new Uint8Array(1)]]) };
    const seen: string[] = [];
    const run = runPackage({
      package: pkg,
      plan: planRun(pkg.metadata, { intervalMs: 1000 }),
      assignments: [],
      native,
      machine,
      durationMs: 1500,
      hooks: {
        onSample: (_plan, entries, frames) =>
          seen.push(`${entries.length} entries, stacks ${JSON.stringify([...(frames ?? [])].map(([id, f]) => [id, f.map((x) => x.toString(16))]))}`),
      },
    });
    await vi.advanceTimersByTimeAsync(1500);
    await run;
    expect(seen).toEqual(['2 entries, stacks [[3,["ffffffff81000010","ffffffff81000020"]]]', '0 entries, stacks []']);
    expect(deleted).toEqual(['count 7,3', 'count 8,-14', 'stack 3']);
  });

  it('reads a result global from its section map every --interval, and zeroes only its bytes after each read', async () => {
    vi.useFakeTimers();
    const u64 = { kind: 'int', size: 8, signed: false } as const;
    /** `.bss`: a u64 `total` the tool keeps, then `counts[2]`. */
    let bss = new Uint8Array(24);
    new DataView(bss.buffer).setBigUint64(0, 99n, true);
    new DataView(bss.buffer).setBigUint64(16, 4n, true);
    const info = { name: 'demo.bss', type: 'array', keySize: 4, valueSize: 24, maxEntries: 1, flags: 0, valueBytes: 24 };
    const native = fakeNative(
      { section: 'tp_btf/softirq_entry', type: 'tracing' },
      [{ name: 'demo.bss', section: '.bss', type: 'array', keySize: 4, valueSize: 24, maxEntries: 1, fd: 4 }],
      {
        mapInfo: () => info,
        mapLookup: () => bss.slice(),
        mapUpdate: (_fd: number, _k: Uint8Array, v: Uint8Array) => {
          bss = v.slice();
        },
      },
    );
    const pkg = { source: 'x', format: 'ebpm' as const, metadata: meta({}, []), objects: new Map([['demo.bpf.o', new Uint8Array(1)]]) };
    const global = { name: 'counts', section: '.bss', offset: 8, count: 2, element: u64, kind: 'counters' as const, reason: '.bss array of 2 integers' };
    const key = { kind: 'struct', size: 4, fields: [{ name: 'index', offset: 0, layout: u32 }] } as const;
    const plan = {
      samples: [
        {
          object: 'demo.bpf.o',
          map: 'counts',
          spec: { interval: 1000, type: 'default_kv' as const, clearMap: true },
          key,
          value: u64,
          result: { map: 'counts', kind: 'counters' as const, reason: global.reason },
          global,
        },
      ],
      ignored: [],
      mapSizes: [],
    };
    const seen: string[] = [];
    const run = runPackage({
      package: pkg,
      plan,
      assignments: [],
      native,
      machine,
      durationMs: 1500,
      hooks: {
        onSample: (_plan, entries) => {
          seen.push(entries.map((e) => `${new DataView(e.key.buffer).getUint32(0, true)}=${new DataView(e.value.buffer).getBigUint64(0, true)}`).join(' '));
          new DataView(bss.buffer).setBigUint64(8, 7n, true);
        },
      },
    });
    await vi.advanceTimersByTimeAsync(1500);
    await run;
    expect(seen).toEqual(['0=0 1=4', '0=7 1=0']);
    // The tool's own `total` before the array is left as it was.
    expect(new DataView(bss.buffer).getBigUint64(0, true)).toBe(99n);
  });
});
