// WasmBpfHost in this thread over a fake BpfBackend: every hostile input from WAT guests
// (bounds, forged handles, foreign fds, attach grants) and the poll delivery rules. The same
// host runs against the real kernel in kernel.test.ts.
import { expect, it } from 'vitest';
import { parseWasm } from '../../src/wasm/module.js';
import { ObjectAdmission } from '../../src/runtime/admission.js';
import type { AttachTarget } from '../../src/kernel/loader-targets.js';
import type { BackendMap, BackendObject, BackendReader, BpfBackend } from '../../src/runtime/backend.js';
import { WasmBpfHost, type HostOptions } from '../../src/runtime/host.js';
import { limitMemory } from '../../src/runtime/memory-limit.js';
import { LineSplitter } from '../../src/runtime/output.js';
import { describeWith } from '../helpers/prereq.js';
import { A, guestWat, p, type GuestOptions } from './guests.js';
import { wat } from './helpers.js';

const OBJECT = new TextEncoder().encode('not really ELF: the fake backend takes anything');

class FakeMap implements BackendMap {
  readonly entries = new Map<string, Uint8Array>();
  batches: Uint8Array[][] = [];
  constructor(
    readonly kind: BackendMap['kind'],
    readonly keySize = 4,
    readonly valueSize = 8,
  ) {}
  lookup(key: Uint8Array) {
    return this.entries.get(key.join());
  }
  update(key: Uint8Array, value: Uint8Array) {
    if (this.entries.size >= 2) throw Object.assign(new Error('map full'), { code: 'E2BIG' });
    this.entries.set(key.join(), value);
  }
  delete(key: Uint8Array) {
    return this.entries.delete(key.join());
  }
  nextKey(key: Uint8Array | undefined) {
    const keys = [...this.entries.keys()];
    const next = key === undefined ? keys[0] : keys[keys.indexOf(key.join()) + 1];
    return next === undefined ? undefined : Uint8Array.from(next.split(',').map(Number));
  }
  openReader(): BackendReader {
    return { poll: () => ({ records: this.batches.shift() ?? [], lost: 0 }), close: () => {} };
  }
}

class FakeObject implements BackendObject {
  readonly programs = new Map([
    ['wasm_adversary', { section: 'tracepoint/syscalls/sys_enter_getppid' }],
    ['xdp_pass', { section: 'xdp' }],
    ['ops', { section: 'sockops' }],
  ]);
  readonly maps = new Map<string, FakeMap>([
    ['rb', new FakeMap('ringbuf', 0, 0)],
    ['kv', new FakeMap('other')],
  ]);
  readonly attached: [string, AttachTarget | undefined][] = [];
  closed = 0;
  map(name: string) {
    return this.maps.get(name);
  }
  attach(program: string, target?: AttachTarget) {
    this.attached.push([program, target]);
    return { close: () => {} };
  }
  close() {
    this.closed++;
  }
}

class Exit {
  constructor(readonly code: number) {}
}

/** Runs a guest in this thread; returns its output lines, the host log and the fake objects. */
function run(guest: GuestOptions, opts: Partial<HostOptions> = {}, setup: (o: FakeObject) => void = () => {}) {
  const bytes = wat(guestWat({ object: OBJECT, ...guest }));
  const objects: FakeObject[] = [];
  const backend: BpfBackend = {
    load: () => {
      const o = new FakeObject();
      setup(o);
      objects.push(o);
      return o;
    },
  };
  const out: string[] = [];
  const log: string[] = [];
  const host = new WasmBpfHost({
    backend: () => backend,
    admission: new ObjectAdmission([], 'any'),
    allowAttach: [],
    objectName: 'g',
    log: (l) => log.push(l),
    ...opts,
  });
  const lines = new LineSplitter((l) => out.push(l));
  const u32 = (at: number) => new DataView(host.memory.view(at, 4).slice().buffer).getUint32(0, true);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), {
    ...host.imports(),
    wasi_snapshot_preview1: {
      fd_write: (_fd: number, iovs: number, n: number) => {
        for (let i = 0; i < n; i++) lines.push(host.memory.read(u32(iovs + 8 * i), u32(iovs + 8 * i + 4)));
        return 0;
      },
      proc_exit: (code: number) => {
        throw new Exit(code);
      },
    },
  });
  host.bind(instance);
  let error: unknown;
  try {
    (instance.exports._start as () => void)();
  } catch (e) {
    if (!(e instanceof Exit)) error = e;
  }
  lines.flush();
  const open = host.openObjects;
  host.close();
  return { out, log, objects, error, openBeforeClose: open };
}

const LOAD = '(call $load_obj)';
const rbFd = `(call $fd (global.get $obj) (i32.const ${A.NAME_RB}))`;
const poll = (fn: number, max: number, timeout = 0) =>
  `(call $num (call $poll (global.get $obj) ${rbFd} (i32.const ${fn}) (i32.const 0) (i32.const ${A.DATA}) (i32.const ${max}) (i32.const ${timeout})))`;
const rec = (s: string) => new TextEncoder().encode(s);

describeWith(['wat2wasm'], 'wasm-bpf host', () => {
  it('delivers every record of a batch, each truncated to max_size and passed with its truncated size', () => {
    const r = run({ body: `${LOAD} ${poll(1, 6)} ${poll(1, 6)}` }, {}, (o) => {
      o.maps.get('rb')!.batches = [[rec('e0000,......'), rec('abc'), rec('e0002,xyz')], []];
    });
    expect(r.out).toEqual(['1', 'e0000,6', 'abc3', 'e0002,6', '3', '0']);
  });

  it('keeps the records after a failing callback for the next poll', () => {
    const r = run({ body: `${LOAD} ${poll(3, 8)} ${poll(1, 8)}` }, {}, (o) => {
      o.maps.get('rb')!.batches = [[rec('one'), rec('two'), rec('three')]];
    });
    expect(r.out).toEqual(['1', 'one3', '-5', 'two3', 'three5', '2']);
  });

  it('gives the records it took and did not deliver back to the buffer when the guest ends', () => {
    const unread: string[][] = [];
    const r = run({ body: `${LOAD} ${poll(3, 8)}` }, {}, (o) => {
      const map = o.maps.get('rb')!;
      map.batches = [[rec('one'), rec('two'), rec('three')]];
      const reader = map.openReader();
      map.openReader = (): BackendReader => ({ ...reader, close: (records = []) => void unread.push(records.map((b) => new TextDecoder().decode(b))) });
    });
    expect(r.out).toEqual(['1', 'one3', '-5']);
    expect(unread).toEqual([['two', 'three']]);
  });

  it('says the guest waits before a poll that may wait, never before one with timeout 0', () => {
    const calls: string[] = [];
    const waiting = () => void calls.push('waiting');
    const r = run({ body: `${LOAD} ${[100, 0, -1].map((t) => poll(1, 8, t)).join(' ')}` }, { waiting }, (o) => {
      const map = o.maps.get('rb')!;
      map.batches = [[rec('a')], [], [rec('b')]];
      const reader = map.openReader();
      map.openReader = (): BackendReader => ({
        ...reader,
        poll: (t) => {
          calls.push(`poll ${t}`);
          return reader.poll(t);
        },
      });
    });
    expect(r.out).toEqual(['1', 'a1', '1', '0', 'b1', '1']);
    expect(calls.map((c) => c.replace(/^poll (9\d|100)$/, 'poll ~100'))).toEqual(['waiting', 'poll ~100', 'poll 0', 'waiting', 'poll ~100']);
  });

  it('checks object buffers and strings against guest memory', () => {
    const body = `(call $num (i32.wrap_i64 (call $load (i32.const -1) (i32.const 16))))
      (call $num (i32.wrap_i64 (call $load (i32.const 0) (i32.const -1))))
      (call $num (i32.wrap_i64 (call $load (i32.const 65535) (i32.const 100000))))
      ${LOAD}
      (i32.store8 (i32.const 131071) (i32.const 65))
      (call $num (call $fd (global.get $obj) (i32.const 131071)))
      (call $num (call $fd (global.get $obj) (i32.const 131072)))`;
    const r = run({ body, pages: 2 });
    expect(r.out).toEqual(['0', '0', '0', '1', '-14', '-14']);
    expect(r.log).toEqual([
      'wasm_load_bpf_object: range [0xffffffff, +16) is outside guest memory (131072 bytes)',
      'wasm_load_bpf_object: object size -1 is out of range',
      'wasm_load_bpf_object: range [0xffff, +100000) is outside guest memory (131072 bytes)',
      'wasm_bpf_map_fd_by_name: string at 0x1ffff has no NUL within 1 bytes',
      'wasm_bpf_map_fd_by_name: string pointer 0x20000 is outside guest memory (131072 bytes)',
    ]);
  });

  it('takes key and value sizes from the map, and i64 pointers past 4 GiB fault', () => {
    for (const i64 of [false, true]) {
      const op = (cmd: number, key: string, value: string, next = p(0, i64)) =>
        `(call $num (call $op (i32.const 3) (i32.const ${cmd}) ${key} ${value} ${next} (i64.const 0)))`;
      const body = `${LOAD} (drop (call $fd (global.get $obj) (i32.const ${A.NAME_KV})))
        (i64.store (i32.const ${A.VALUE}) (i64.const 77))
        ${op(2, p(A.KEY, i64), p(A.VALUE, i64))}
        ${op(1, p(A.KEY, i64), p(131072 - 7, i64))}
        ${op(1, p(A.KEY, i64), p(A.OUT, i64))} (call $num (i32.load (i32.const ${A.OUT})))
        ${op(4, p(0, i64), p(0, i64), p(A.NEXT, i64))}
        ${op(4, p(A.KEY, i64), p(0, i64), p(A.NEXT, i64))}
        ${op(3, p(A.KEY, i64), p(0, i64))} ${op(3, p(A.KEY, i64), p(0, i64))}
        ${i64 ? `(call $num (call $op (i32.const 3) (i32.const 1) (i64.const 0x100000000) (i64.const 0) (i64.const 0) (i64.const 0)))` : ''}`;
      const r = run({ body, i64MapOperate: i64, pages: 2 });
      // update 0; a value pointer 7 bytes before the end of memory faults for an 8-byte value;
      // lookup 0 → 77; first key 0; no key after the only key -ENOENT; delete 0 then -ENOENT.
      expect(r.out).toEqual(['1', '0', '-14', '0', '77', '0', '-2', '0', '-2', ...(i64 ? ['-14'] : [])]);
    }
  });

  it('maps backend errors to their errno', () => {
    const body = `${LOAD} (drop (call $fd (global.get $obj) (i32.const ${A.NAME_KV})))
      ${[1, 2, 3].map((k) => `(i32.store (i32.const ${A.KEY}) (i32.const ${k})) (call $num (call $op (i32.const 3) (i32.const 2) (i32.const ${A.KEY}) (i32.const ${A.VALUE}) (i32.const 0) (i64.const 0)))`).join(' ')}`;
    const r = run({ body });
    expect(r.out).toEqual(['1', '0', '0', '-7']);
    expect(r.log).toEqual(['wasm_bpf_map_operate: map full']);
  });

  it('keeps each guest to its own objects and maps', () => {
    const second = `(global.set $obj (call $load (i32.const ${A.OBJ}) (i32.const ${OBJECT.length})))`;
    const body = `${LOAD} (call $num ${rbFd}) ${second} (call $num (call $fd (global.get $obj) (i32.const ${A.NAME_KV})))
      ;; object 2 polling object 1's ring buffer (fd 3)
      (call $num (call $poll (global.get $obj) (i32.const 3) (i32.const 1) (i32.const 0) (i32.const ${A.DATA}) (i32.const 8) (i32.const 0)))
      (call $num (call $close (i64.const 1)))
      (call $num (call $close (i64.const 1)))
      ;; fd 3 died with object 1
      (call $num (call $op (i32.const 3) (i32.const 1) (i32.const ${A.KEY}) (i32.const ${A.OUT}) (i32.const 0) (i64.const 0)))
      (call $num (call $fd (global.get $obj) (i32.const ${A.NAME_PROG})))`;
    const r = run({ body });
    expect(r.out).toEqual(['1', '3', '4', '-9', '0', '-9', '-9', '-2']);
    expect(r.objects.map((o) => o.closed)).toEqual([1, 1]);
    expect(r.openBeforeClose).toBe(1);
  });

  it('attaches host targets only when granted; other sections ignore the target', () => {
    const body = `${LOAD}
      (call $num (call $attach (global.get $obj) (i32.const 600) (i32.const 620)))
      (call $num (call $attach (global.get $obj) (i32.const 610) (i32.const 630)))
      (call $num (call $attach (global.get $obj) (i32.const 660) (i32.const 630)))
      (call $num (call $attach (global.get $obj) (i32.const ${A.NAME_PROG}) (i32.const 630)))
      (call $num (call $attach (global.get $obj) (i32.const ${A.NAME_PROG}) (i32.const 680)))
      (call $num (call $attach (global.get $obj) (i32.const ${A.NAME_RB}) (i32.const 0)))`;
    const extra =
      '(data (i32.const 600) "xdp_pass\\00") (data (i32.const 610) "ops\\00") (data (i32.const 620) "lo\\00") (data (i32.const 630) "/sys/fs/cgroup\\00") (data (i32.const 660) "xdp_pass\\00") (data (i32.const 680) "\\00")';
    const denied = run({ body, extra });
    expect(denied.out).toEqual(['1', '-1', '-1', '-1', '0', '0', '-2']);
    expect(denied.log.slice(0, 3)).toEqual([
      'wasm_attach_bpf_program: attach xdp_pass to "lo" is not granted (pass --allow-attach lo)',
      'wasm_attach_bpf_program: attach ops to "/sys/fs/cgroup" is not granted (pass --allow-attach /sys/fs/cgroup)',
      'wasm_attach_bpf_program: attach xdp_pass to "/sys/fs/cgroup" is not granted (pass --allow-attach /sys/fs/cgroup)',
    ]);
    const granted = run({ body, extra }, { allowAttach: ['lo', '/sys/fs/cgroup'] });
    expect(granted.out).toEqual(['1', '0', '0', '0', '0', '0', '-2']);
    expect(granted.objects[0]!.attached).toEqual([
      ['xdp_pass', { kind: 'xdp', interface: 'lo' }],
      ['ops', { kind: 'cgroup', path: '/sys/fs/cgroup' }],
      ['xdp_pass', { kind: 'xdp', interface: '/sys/fs/cgroup' }],
      ['wasm_adversary', undefined],
      ['wasm_adversary', undefined],
    ]);
  });

  it('refuses to poll a map that is not an event buffer, or with a bad buffer', () => {
    const kv = `(call $fd (global.get $obj) (i32.const ${A.NAME_KV}))`;
    const body = `${LOAD}
      (call $num (call $poll (global.get $obj) ${kv} (i32.const 1) (i32.const 0) (i32.const ${A.DATA}) (i32.const 8) (i32.const 0)))
      (call $num (call $poll (global.get $obj) ${rbFd} (i32.const 1) (i32.const 0) (i32.const ${A.DATA}) (i32.const 0) (i32.const 0)))
      (call $num (call $poll (global.get $obj) ${rbFd} (i32.const 1) (i32.const 0) (i32.const 131000) (i32.const 100) (i32.const 0)))`;
    const r = run({ body, pages: 2 });
    expect(r.out).toEqual(['1', '-22', '-22', '-14']);
  });

  it('answers a forged handle or fd with -EBADF before looking at the callback', () => {
    const forged = (obj: string, fd: string, fn: number) =>
      `(call $num (call $poll ${obj} ${fd} (i32.const ${fn}) (i32.const 0) (i32.const ${A.DATA}) (i32.const 8) (i32.const 0)))`;
    const body = `${LOAD} (drop ${rbFd})
      ${forged('(i64.const 99)', '(i32.const 3)', 2)} ${forged('(i64.const 99)', '(i32.const 3)', 1000)}
      ${forged('(global.get $obj)', '(i32.const 77)', 4)} ${forged('(global.get $obj)', '(i32.const 3)', 1)}`;
    const r = run({ body }, {}, (o) => {
      o.maps.get('rb')!.batches = [[rec('one')]];
    });
    expect(r.error).toBeUndefined();
    expect(r.out).toEqual(['1', '-9', '-9', '-9', 'one3', '1']);
    expect(r.log).toEqual([
      'wasm_bpf_buffer_poll: unknown object handle 99',
      'wasm_bpf_buffer_poll: unknown object handle 99',
      'wasm_bpf_buffer_poll: fd 77 is not a map of this guest',
    ]);
  });

  it('ends the guest with WASM_BAD_CALLBACK when go-callback is missing or of the wrong type', () => {
    for (const goCallback of [false, 'i64'] as const) {
      const r = run({
        tinygo: true,
        goCallback,
        body: `${LOAD} (drop (call $gopoll (global.get $obj) ${rbFd} (i32.const 0) (i32.const ${A.DATA}) (i32.const 8) (i32.const 0)))`,
      });
      expect(r.error).toMatchObject({
        code: 'WASM_BAD_CALLBACK',
        message: 'callback-wrapper.wasm_bpf_buffer_poll: the guest does not export "go-callback" as a function (i32, i32, i32) -> i32',
      });
      expect(r.out).toEqual(['1']);
      expect(r.objects[0]!.closed).toBe(1);
    }
  });

  it('ends the guest with WASM_BAD_CALLBACK for a table entry of the wrong type, before any record is taken', () => {
    for (const fn of [2, 4, 5, 1000]) {
      const r = run({ body: `${LOAD} ${poll(fn, 8)}` }, {}, (o) => {
        o.maps.get('rb')!.batches = [[rec('one')]];
      });
      expect(r.error).toMatchObject({
        code: 'WASM_BAD_CALLBACK',
        message: `wasm_bpf_buffer_poll: callback ${fn} is not a function (i32, i32, i32) -> i32 in __indirect_function_table`,
      });
      expect(r.out).toEqual(['1']);
      expect(r.objects[0]!.closed).toBe(1);
      expect(r.objects[0]!.maps.get('rb')!.batches).toEqual([[rec('one')]]);
    }
  });
});

it('limitMemory lowers the maximum and keeps a smaller one', () => {
  const none = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0, 1]);
  const small = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 4, 1, 1, 1, 2]);
  expect(parseWasm(limitMemory(none, parseWasm(none), 4 << 20, 'm')).memories).toEqual([{ limits: { min: 1, max: 64 }, shared: false, memory64: false }]);
  expect(parseWasm(limitMemory(small, parseWasm(small), 4 << 20, 'm')).memories).toEqual([{ limits: { min: 1, max: 2 }, shared: false, memory64: false }]);
  expect(parseWasm(limitMemory(none, parseWasm(none), (4 << 20) + 100, 'm')).memories[0]!.limits.max).toBe(64);
});
