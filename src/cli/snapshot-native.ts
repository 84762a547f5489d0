/**
 * A stand-in for the libbpf addon, for the start-up snapshot's warm-up only (snapshot-warm.ts):
 * the snapshot is built at `npm install`, as any user, on any architecture, where nothing may
 * be loaded into the kernel; with this, a run of the sample package goes through open, load,
 * attach and one event without the kernel, and the snapshot keeps the code that compiled.
 * It answers with what the package's metadata says of its one object: its programs, its maps,
 * the global data sections its parameters are in, a reader that delivers `record`
 * once, after the current turn of the event loop, and nothing else. Typed as the addon, so a
 * change of the addon's interface is a change here too.
 */
import type { BpfObjectMeta } from '../package/metadata.js';
import type { BpfNative, KernelMapInfo, NativeHandle, ObjectMapInfo, ProgramInfo, RawBatch } from '../kernel/native.js';

/** An opaque handle: the stand-in keeps its state in the closure, not in handles. */
const handle = <K extends string>(): NativeHandle<K> => ({}) as NativeHandle<K>;

/** Only what a run of a package calls; the rest would be a wrong warm-up. */
const unused = (): never => {
  throw new Error('the snapshot warm-up called the stand-in addon for something a run does not do');
};

/** `standInNative` is an addon for `object` whose event reader yields `record` once. */
export function standInNative(object: BpfObjectMeta, record: Uint8Array): BpfNative {
  let loaded = false;
  const fd = (i: number) => (loaded ? 3 + i : -1);
  const globals = new Map<string, Uint8Array>();
  for (const p of object.parameters) globals.set(p.section, new Uint8Array(Math.max(globals.get(p.section)?.length ?? 0, p.offset + p.size)));
  const maps = (): ObjectMapInfo[] =>
    object.maps.map((m, i) => ({
      name: m.name,
      section: '.maps',
      type: m.type,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      fd: fd(i),
    }));
  const programs = (): ProgramInfo[] => object.programs.map((p, i) => ({ name: p.name, section: p.section, type: p.type, autoload: true, fd: fd(100 + i) }));
  // One record as the addon lays a batch out: u32 length, u32 CPU, the data, zeros to 8 bytes.
  const batch = new Uint8Array(8 + Math.ceil(record.length / 8) * 8);
  new DataView(batch.buffer).setUint32(0, record.length, true);
  batch.set(record, 8);
  const empty: RawBatch = { data: new ArrayBuffer(0), count: 0, lost: 0 };
  return {
    setLogger: () => undefined,
    possibleCpus: () => 1,
    libbpfVersion: () => '1.0',
    objectOpen: () => handle(),
    objectPrograms: programs,
    objectMaps: maps,
    objectGlobal: (_obj, section) => globals.get(section)?.slice() ?? unused(),
    objectSetGlobal: (_obj, section, bytes) => {
      globals.set(section, bytes.slice());
    },
    programSetAutoload: unused,
    objectSetMapSize: () => undefined,
    vmlinuxBtfId: unused,
    probeFentry: unused,
    probeKernel: unused,
    objectLoad: () => {
      loaded = true;
    },
    objectClose: () => undefined,
    programAttach: () => handle(),
    linkDestroy: () => undefined,
    mapInfo: (mapFd): KernelMapInfo => {
      const m = maps().find((x) => x.fd === mapFd) ?? unused();
      return { name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: 0, valueBytes: m.valueSize };
    },
    mapLookup: unused,
    mapUpdate: unused,
    mapDelete: unused,
    mapNextKey: unused,
    mapLookupBatch: unused,
    readerOpen: () => handle(),
    // Not a timer: an immediate is not in the timer queue the snapshot keeps (snapshot-warm.ts).
    readerStart: (_reader, callback) => {
      setImmediate(() => callback(null, { data: batch.slice().buffer, count: 1, lost: 0 }));
    },
    readerPoll: unused,
    readerFlush: () => empty,
    readerClose: () => undefined,
    guestSignals: unused,
    guestDeadline: unused,
    guestSignalsEnd: unused,
  };
}
