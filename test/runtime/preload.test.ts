// The broker's preload on the real kernel: a guest's load of the declared bytes takes the
// object loaded ahead (the same program id), any other load is a load of its own, and what no
// guest took is closed.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { parseElf } from '../../src/bpf/elf.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { sha256Digest } from '../../src/core/digest.js';
import { ObjectBroker } from '../../src/runtime/broker.js';
import type { BrokerObject } from '../../src/runtime/protocol.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { guestWat } from './guests.js';
import { collect, wat } from './helpers.js';
import { released } from '../run/spawn.js';

let object: Uint8Array;

/** Ids of this file's programs in the kernel (`bpftool prog show -j`), ascending. */
function programIds(): number[] {
  const out = execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return (JSON.parse(out) as { id: number; name?: string }[])
    .filter((p) => p.name === 'wasm_preload')
    .map((p) => p.id)
    .sort((a, b) => a - b);
}

/** `object` with `wanted_tgid` (the first word of .rodata) set, as a guest configures it. */
function configured(tgid: number): Uint8Array {
  const copy = object.slice();
  const rodata = parseElf(copy).sections.find((s) => s.name === '.rodata')!;
  new DataView(copy.buffer).setUint32(rodata.offset, tgid, true);
  return copy;
}

function load(broker: ObjectBroker, t: ReturnType<ObjectBroker['tenant']>, bytes: Uint8Array, name = 'pre'): BrokerObject {
  const reply = broker.serve(t, { op: 'load', bytes, name });
  if (!reply.ok) throw new Error(reply.error.message);
  return reply.value as BrokerObject;
}

describeWith(['root', 'btf', 'clang', 'native', 'bpftool', 'wat2wasm'], 'broker preload on the kernel', () => {
  beforeAll(async () => {
    const out = join(REPO, '.cache', 'test', 'objects');
    mkdirSync(out, { recursive: true });
    object = await compileBpf(join(REPO, 'test', 'runtime', 'fixtures', 'preload.bpf.c'), join(out, 'preload.bpf.o'), {
      env: { ...process.env, EBPM_CACHE_DIR: join(REPO, '.cache', 'test') },
    });
  });

  it('gives a load of the same bytes, name and BTF the preloaded object, once', () => {
    const broker = new ObjectBroker(() => undefined);
    broker.preload([object], 'pre', undefined);
    const [preloaded] = programIds();
    expect(programIds()).toEqual([preloaded]);
    const t = broker.tenant(undefined);
    expect(load(broker, t, object).programs).toEqual([{ name: 'wasm_preload', section: 'tracepoint/syscalls/sys_enter_getppid' }]);
    expect(programIds()).toEqual([preloaded]);
    // Taken, it is the guest's: dropping what nobody took leaves it.
    broker.dropPreloaded();
    expect(programIds()).toEqual([preloaded]);
    // A second load of the same bytes is an object of its own.
    load(broker, t, object);
    const [, second] = programIds();
    expect(second).toBeGreaterThan(preloaded!);
    t.release();
    expect(released(() => programIds())).toEqual([]);
  });

  it('loads anew for other .rodata, another name or another BTF, and closes the unused preload', () => {
    const broker = new ObjectBroker(() => undefined);
    broker.preload([object], 'pre', undefined);
    const [preloaded] = programIds();
    const t = broker.tenant(undefined);
    load(broker, t, configured(process.pid));
    load(broker, t, object, 'other');
    const other = broker.tenant('/sys/kernel/btf/vmlinux');
    load(broker, other, object);
    const ids = programIds();
    expect(ids).toHaveLength(4);
    expect(ids[0]).toBe(preloaded);
    broker.dropPreloaded();
    expect(programIds()).toEqual(ids.slice(1));
    t.release();
    other.release();
    expect(released(() => programIds())).toEqual([]);
  });

  it('closes the preload of a guest that never loads it, when the guest ends', async () => {
    const module = wat(guestWat({ object, body: '(call $proc_exit (i32.const 0))' }));
    const r = await collect({ module, name: 'pre', objects: { declared: [sha256Digest(object)] } });
    expect(r).toEqual({ exitCode: 0, reason: 'exit', stdout: [], stderr: [], log: [] });
    expect(released(() => programIds())).toEqual([]);
  });
});
