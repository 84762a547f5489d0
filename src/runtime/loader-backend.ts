/**
 * The real `BpfBackend`: a thin adapter over `src/kernel/loader.ts` (libbpf through the native
 * addon). It runs in the guest's worker thread; the addon is context-aware, and its
 * environment cleanup releases whatever a terminated worker leaves open.
 */
import { objectNeeds } from '../bpf/needs.js';
import { parseObject } from '../bpf/object.js';
import { kernelFacts } from '../kernel/kernel-facts.js';
import { BpfObject, setBpfLog, type BpfMap } from '../kernel/loader.js';
import { explainLoad, preflight } from '../kernel/preflight.js';
import type { BackendMap, BackendObject, BpfBackend } from './backend.js';

function kindOf(type: string): BackendMap['kind'] {
  return type === 'ringbuf' ? 'ringbuf' : type === 'perf_event_array' ? 'perf' : 'other';
}

function adaptMap(obj: BpfObject, name: string, map: BpfMap): BackendMap {
  return {
    kind: kindOf(map.type),
    keySize: map.keySize,
    valueSize: map.valueSize,
    lookup: (key, flags) => map.lookup(key, flags),
    update: (key, value, flags) => map.update(key, value, flags),
    delete: (key, flags) => map.delete(key, flags),
    nextKey: (key) => map.nextKey(key),
    openReader: () => {
      const reader = obj.events(name);
      return {
        poll: (timeoutMs) => {
          const batch = reader.poll(timeoutMs);
          return { records: batch.records, lost: batch.lost };
        },
        close: () => reader.close(),
      };
    },
  };
}

function adaptObject(obj: BpfObject): BackendObject {
  const programs = new Map(obj.programs().map((p) => [p.name, { section: p.section }]));
  const names = new Set(obj.maps().map((m) => m.name));
  return {
    programs,
    map: (name) => (names.has(name) ? adaptMap(obj, name, obj.map(name)) : undefined),
    attach: (program, target) => obj.attach(program, target),
    close: () => obj.close(),
  };
}

/** `loaderBackend` opens objects with libbpf, CO-RE against `btfPath` when given; libbpf's warnings go to `log`. */
export function loaderBackend(log: (line: string) => void, btfPath?: string): BpfBackend {
  setBpfLog((_level, message) => log(`libbpf: ${message.trimEnd()}`), 'warn');
  return {
    load(bytes, name) {
      const obj = BpfObject.open(bytes, { name, btfPath });
      try {
        explainLoad(
          () => obj.load(),
          () => {
            const kernel = kernelFacts(undefined, btfPath);
            return { release: kernel.release, findings: preflight(objectNeeds(parseObject(bytes)), kernel) };
          },
        );
        return adaptObject(obj);
      } catch (e) {
        obj.close();
        throw e;
      }
    },
  };
}
