/**
 * A guest's `BpfBackend` over the run's object broker (broker.ts): objects are loaded, attached
 * and closed by the broker; map elements are read and written by the guest's thread, by the
 * map's fd, which the whole process shares, through the addon, which that thread loads only for
 * the first such operation.
 *
 * A guest in a worker asks the broker on the main thread synchronously (the worker waits on a
 * shared word while the main thread answers), and gets records from the broker's readers
 * through a port of their own (`portBackend`). A guest on the main thread asks the broker
 * directly and polls the buffers itself (inline.ts).
 */
import type { MessagePort } from 'node:worker_threads';
import { EbpmError } from '../core/errors.js';
import { BpfMap } from '../kernel/loader-map.js';
import type { AttachTarget } from '../kernel/loader-targets.js';
import { loadNative } from '../kernel/native.js';
import type { BackendMap, BackendObject, BackendReader, BpfBackend } from './backend.js';
import type { Blocking, BrokerObject, BrokerReply, BrokerRequest, RecordBatch } from './protocol.js';

/** node:worker_threads, for a guest in a worker only: one on the main thread never loads it (about 1.7 ms). */
const threads = () => process.getBuiltinModule('node:worker_threads');

/** Asks the broker; a failure is thrown as the error the broker met. */
export type BrokerRequester = (req: BrokerRequest, transfer?: readonly MessagePort[]) => BrokerReply & { ok: true };

/** The reply, or its failure thrown. */
export function replied(reply: BrokerReply): BrokerReply & { ok: true } {
  if (reply.ok) return reply;
  const { code, message, hint, errno } = reply.error;
  throw new EbpmError(code, message, { hint, ...(errno === undefined ? {} : { data: { errno } }) });
}

/** Sends one request to the broker on the main thread and waits for its reply. */
function requester(port: MessagePort, bellBuffer: SharedArrayBuffer): BrokerRequester {
  const bell = new Int32Array(bellBuffer);
  const { receiveMessageOnPort } = threads();
  return (req, transfer = []) => {
    port.postMessage(req, [...transfer]);
    for (;;) {
      const seen = Atomics.load(bell, 0);
      const got = receiveMessageOnPort(port);
      if (got !== undefined) return replied(got.message as BrokerReply);
      Atomics.wait(bell, 0, seen);
    }
  };
}

/** A reader of records the broker posts; `close` gives back those received and not delivered. */
function portReader(request: BrokerRequester, block: Blocking, object: number, map: string): BackendReader {
  const { MessageChannel, receiveMessageOnPort } = threads();
  const { port1, port2 } = new MessageChannel();
  const bellBuffer = new SharedArrayBuffer(4);
  const bell = new Int32Array(bellBuffer);
  request({ op: 'subscribe', object, map, port: port2, bell: bellBuffer }, [port2]);
  let closed = false;
  const take = (): { records: Uint8Array[]; lost: number } => {
    const records: Uint8Array[] = [];
    let lost = 0;
    for (let m = receiveMessageOnPort(port1); m !== undefined; m = receiveMessageOnPort(port1)) {
      const batch = m.message as RecordBatch;
      records.push(...batch.records);
      lost += batch.lost;
    }
    return { records, lost };
  };
  return {
    poll(timeoutMs) {
      const seen = Atomics.load(bell, 0);
      const now = take();
      if (now.records.length > 0 || now.lost > 0 || timeoutMs === 0) return now;
      block(() => Atomics.wait(bell, 0, seen, timeoutMs < 0 ? Infinity : timeoutMs));
      return take();
    },
    close(unread = []) {
      if (closed) return;
      closed = true;
      request({ op: 'unsubscribe', object, map, unread: [...unread, ...take().records] });
      port1.close();
    },
  };
}

/** A reader of map `map` of broker object `object`. */
export type ReaderOpener = (object: number, map: string) => BackendReader;

function adaptObject(request: BrokerRequester, reader: ReaderOpener, info: BrokerObject): BackendObject {
  let open = true;
  const maps = new Map(info.maps.map((m) => [m.name, m]));
  return {
    programs: new Map(info.programs.map((p) => [p.name, { section: p.section }])),
    map(name) {
      const m = maps.get(name);
      if (m === undefined) return undefined;
      // Opened at the first element access: a guest that only reads a buffer never loads the addon here.
      let map: BpfMap | undefined;
      const opened = () => (map ??= new BpfMap(loadNative(), m.fd, () => open));
      const adapted: BackendMap = {
        kind: m.kind,
        get keySize() {
          return opened().keySize;
        },
        get valueSize() {
          return opened().valueSize;
        },
        lookup: (key, flags) => opened().lookup(key, flags),
        update: (key, value, flags) => opened().update(key, value, flags),
        delete: (key, flags) => opened().delete(key, flags),
        nextKey: (key) => opened().nextKey(key),
        openReader: () => reader(info.id, name),
      };
      return adapted;
    },
    attach(program: string, target?: AttachTarget) {
      const link = request({ op: 'attach', object: info.id, program, ...(target === undefined ? {} : { target }) }).value as number;
      let attached = true;
      return {
        close: () => {
          if (!attached) return;
          attached = false;
          request({ op: 'detach', link });
        },
      };
    },
    close() {
      if (!open) return;
      open = false;
      request({ op: 'close', object: info.id });
    },
  };
}

/** `brokerBackend` is the backend of a guest whose objects a broker holds, asked through `request`. */
export function brokerBackend(request: BrokerRequester, reader: ReaderOpener): BpfBackend {
  return {
    load: (bytes, name) => adaptObject(request, reader, request({ op: 'load', bytes, name }).value as BrokerObject),
  };
}

/**
 * `portBackend` is the backend of a worker's guest whose objects the broker at the other end of
 * `port` holds; its readers wait for records through `block`.
 */
export function portBackend(port: MessagePort, bell: SharedArrayBuffer, block: Blocking): BpfBackend {
  const request = requester(port, bell);
  return brokerBackend(request, (object, map) => portReader(request, block, object, map));
}
