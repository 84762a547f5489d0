/**
 * `ObjectBroker` holds a Wasm run's BPF objects, links and event readers on the main thread,
 * so that they outlive the guest that asked for them: a guest's worker is only a tenant, and
 * a live swap (`--follow`) hands them to the next one without detaching anything.
 *
 * - Each object and link is held by a set of tenants and closed when the last one lets go
 *   (it closes it, or its worker ends), so a successor that takes it over keeps it open.
 * - A successor's `load` of bytes its predecessor loaded takes that object over instead of
 *   loading it again, and its attach of a program to the same target takes the link over:
 *   same programs, same link ids, no gap and no double attachment.
 * - A run's first guest, when it has no arguments, starts with its package's declared objects
 *   loaded ahead (`preload`), while its worker starts: its load of the same bytes under the
 *   same name and BTF takes one (the wasm-bpf ABI gives a guest no other say in a load); one
 *   it does not take is closed once the guest first waits or ends (`dropPreloaded`), never
 *   attached.
 * - Event readers stay here, consumed through the event loop; each map's records go to one
 *   tenant at a time. From the moment a successor takes over (`handOver`) they are held back
 *   until the predecessor has returned what it received and did not deliver, so the
 *   successor gets every record once and in order. The records of objects the successor did
 *   not take over are the predecessor's to deliver before it ends.
 */
import { sha256Digest } from '../core/digest.js';
import { EbpmError, isEbpmError } from '../core/errors.js';
import { phase } from '../core/phases.js';
import { objectNeeds } from '../bpf/needs.js';
import { parseObject } from '../bpf/object.js';
import { loadCached, type BtfCache } from '../kernel/btf-cache.js';
import { kernelFacts } from '../kernel/kernel-facts.js';
import type { EventReader } from '../kernel/events.js';
import { BpfObject, setBpfLog, type AttachTarget, type BpfLink } from '../kernel/loader.js';
import { explainLoad, preflight } from '../kernel/preflight.js';
import type { MapKind } from './backend.js';
import type { BrokerObject, BrokerReply, BrokerRequest, RecordBatch } from './protocol.js';
import type { MessagePort } from 'node:worker_threads';

/** Records held back for a map nobody reads yet, beyond which they are counted as lost. */
const MAX_HELD_BYTES = 64 << 20;

interface Sink {
  readonly tenant: Tenant;
  readonly port: MessagePort;
  readonly bell: Int32Array;
}

interface Stream {
  readonly map: string;
  /** The map's buffers, read through the event loop. */
  readonly reader: EventReader;
  /** Who reads the records; none: they are held in `queue` until someone subscribes. */
  sink: Sink | undefined;
  /** The sink is being handed over: its records are held until it unsubscribes. */
  paused: boolean;
  /** A successor that subscribed while `sink` still reads. */
  waiting: Sink | undefined;
  readonly queue: RecordBatch[];
  queued: number;
  /** Records dropped because too many were held. */
  dropped: number;
}

interface Held {
  readonly owners: Set<Tenant>;
}

interface HeldObject extends Held {
  readonly id: number;
  readonly digest: string;
  /** Loaded by `preload` and not taken yet: its name, BTF and libbpf's lines from its load. */
  preloaded?: { readonly name: string; readonly btfPath: string | undefined; readonly log: readonly string[] } | undefined;
  readonly object: BpfObject;
  readonly info: BrokerObject;
  readonly streams: Map<string, Stream>;
}

interface HeldLink extends Held {
  readonly id: number;
  readonly object: HeldObject;
  readonly program: string;
  /** The target as a key: links are taken over by program and target. */
  readonly target: string;
  readonly link: BpfLink;
}

/** One guest's hold on the broker: its end of the request channel and what it asked for. */
export class Tenant {
  readonly bell = new SharedArrayBuffer(4);
  #port: MessagePort | undefined;
  #local: MessagePort | undefined;

  constructor(
    private readonly broker: ObjectBroker,
    /** BTF for CO-RE of the objects this tenant loads (`RunWasmOptions.btfPath`). */
    readonly btfPath: string | undefined,
    /** The tenant whose objects and links this one takes over. */
    readonly predecessor: Tenant | undefined,
  ) {}

  /**
   * The worker's end: pass it in `GuestInput.broker` (and the transfer list). Made when first
   * asked: a guest on the main thread asks the broker directly, and its run then never loads
   * node:worker_threads (about 1.7 ms).
   */
  get port(): MessagePort {
    if (this.#port === undefined) {
      const { port1, port2: local } = new (process.getBuiltinModule('node:worker_threads').MessageChannel)();
      const bell = new Int32Array(this.bell);
      local.on('message', (req: BrokerRequest) => {
        local.postMessage(this.broker.serve(this, req));
        Atomics.add(bell, 0, 1);
        Atomics.notify(bell, 0);
      });
      // A tenant's channel must not keep the process alive: the worker does while it runs.
      local.unref();
      [this.#port, this.#local] = [port1, local];
    }
    return this.#port;
  }

  /** Lets go of everything; its worker (if it had one) has ended. */
  release(): void {
    this.#local?.close();
    this.broker.release(this);
  }
}

export class ObjectBroker {
  readonly #objects = new Map<number, HeldObject>();
  readonly #links = new Map<number, HeldLink>();
  #nextId = 1;
  /** libbpf's lines, held while a preload runs: they are said only if a guest takes the object. */
  #held: string[] | undefined;

  constructor(
    /** Where a drop of held records and a failed close are said (`RunWasmOptions.onLog`). */
    private readonly log: (line: string) => void,
    /** Minimal kernel BTF per object, for tenants whose CO-RE uses the kernel's own (`RunWasmOptions.btfCache`). */
    private readonly btfCache?: BtfCache,
  ) {}

  /**
   * `warm` loads the addon (and libbpf with it) and installs libbpf's log now, while a guest's
   * worker starts, instead of at the guest's first load. A failure is left to that load, which
   * reports it to the guest that asked.
   */
  warm(): void {
    try {
      this.#logLibbpf();
    } catch {
      // reported by the first load
    }
  }

  /**
   * `preload` opens and loads `objects` (a package's declared ones, bytes as declared) for a
   * guest to take at its load of the same bytes, `name` and `btfPath`: the load is done while
   * the guest's worker starts rather than after. One that fails is left to the guest's own
   * load, which reports why to the guest that asked.
   */
  preload(objects: readonly Uint8Array[], name: string, btfPath: string | undefined): void {
    for (const bytes of objects) {
      const log: string[] = [];
      this.#held = log;
      try {
        this.#logLibbpf();
        const object = this.#loaded(bytes, name, btfPath, (o) => o.load());
        const id = this.#nextId++;
        this.#objects.set(id, {
          id,
          digest: sha256Digest(bytes),
          object,
          info: infoOf(id, object),
          streams: new Map(),
          owners: new Set(),
          preloaded: { name, btfPath, log },
        });
      } catch {
        // the guest's load says it
      } finally {
        this.#held = undefined;
      }
    }
    phase('preload');
  }

  /** `dropPreloaded` closes the preloaded objects no guest took. */
  dropPreloaded(): void {
    for (const o of [...this.#objects.values()]) {
      if (o.preloaded === undefined) continue;
      this.#objects.delete(o.id);
      try {
        o.object.close();
      } catch (e) {
        this.log(`close BPF object: ${(e as Error)?.message ?? String(e)}`);
      }
    }
  }

  /** A tenant for a new guest; `predecessor`: the guest it may take objects over from. */
  tenant(btfPath: string | undefined, predecessor?: Tenant): Tenant {
    return new Tenant(this, btfPath, predecessor);
  }

  /**
   * `handOver` starts the successor's take-over. The maps of the objects both hold go to the
   * successor once the predecessor has returned the records it did not deliver (it unsubscribes,
   * or its worker ends); it gets no more of them from now on. The links only the predecessor
   * holds are detached now, the successor's being attached (make before break), and what the
   * buffers of the objects only it holds have now goes to it, to deliver before it ends (stop
   * `drain`): nobody else can. Returns whether the successor took over every object and link,
   * i.e. nothing was detached and nothing is left to drain.
   */
  handOver(from: Tenant, to: Tenant): boolean {
    let kept = true;
    for (const l of [...this.#links.values()]) {
      if (!l.owners.has(from) || l.owners.has(to)) continue;
      kept = false;
      this.#letGo(from, l);
    }
    for (const o of this.#objects.values()) {
      if (!o.owners.has(from)) continue;
      const shared = o.owners.has(to);
      kept &&= shared;
      for (const s of o.streams.values()) {
        if (s.sink?.tenant !== from) continue;
        if (shared) {
          s.paused = true;
          continue;
        }
        const { records, lost } = s.reader.flush();
        if (records.length > 0 || lost > 0) this.#deliver(s, { records, lost });
      }
    }
    return kept;
  }

  /** Wakes `t`'s guest where it waits for records, so that it sees a stop at once (even one about to wait: the bell moves). */
  wake(t: Tenant): void {
    for (const o of this.#objects.values()) for (const s of o.streams.values()) if (s.sink?.tenant === t) ring(s.sink.bell);
  }

  /** Answers one request of `t`'s guest; failures become replies, never throws. */
  serve(t: Tenant, req: BrokerRequest): BrokerReply {
    try {
      switch (req.op) {
        case 'load': {
          const value = this.#load(t, req.bytes, req.name);
          phase('load');
          return { ok: true, value };
        }
        case 'attach': {
          const value = this.#attach(t, this.#object(t, req.object), req.program, req.target);
          phase('attach');
          return { ok: true, value };
        }
        case 'detach':
          this.#letGo(t, this.#links.get(req.link));
          return { ok: true, value: null };
        case 'subscribe':
          this.#subscribe(t, this.#object(t, req.object), req.map, { tenant: t, port: req.port, bell: new Int32Array(req.bell) });
          return { ok: true, value: null };
        case 'unsubscribe':
          this.#unsubscribe(t, this.#object(t, req.object).streams.get(req.map), req.unread);
          return { ok: true, value: null };
        case 'close':
          this.#letGo(t, this.#objects.get(req.object));
          return { ok: true, value: null };
      }
    } catch (e) {
      const err = e as { code?: unknown; errno?: unknown; message?: unknown; hint?: unknown; data?: { errno?: unknown } };
      const errno = typeof err?.errno === 'number' ? err.errno : typeof err?.data?.errno === 'number' ? err.data.errno : undefined;
      return {
        ok: false,
        error: {
          code: isEbpmError(e) ? e.code : typeof err?.code === 'string' ? err.code : 'INTERNAL',
          message: typeof err?.message === 'string' ? err.message : String(e),
          ...(typeof err?.hint === 'string' ? { hint: err.hint } : {}),
          ...(errno === undefined ? {} : { errno }),
        },
      };
    }
  }

  /**
   * `poller` is a reader of map `map` of `t`'s object `id` for a guest on the main thread, which
   * polls the buffers itself (`EventReader.poll`) instead of through the event loop: no other
   * guest ever takes the object over. Closing the object closes it.
   */
  poller(t: Tenant, id: number, map: string): EventReader {
    return this.#object(t, id).object.events(map);
  }

  /** Lets go of everything `t` holds; what no one else holds is closed. */
  release(t: Tenant): void {
    for (const o of this.#objects.values()) for (const s of o.streams.values()) this.#unsubscribe(t, s, []);
    for (const l of [...this.#links.values()]) this.#letGo(t, l);
    for (const o of [...this.#objects.values()]) this.#letGo(t, o);
  }

  #load(t: Tenant, bytes: Uint8Array, name: string): BrokerObject {
    if (this.#objects.size === 0) this.#logLibbpf();
    const digest = sha256Digest(bytes);
    const before = t.predecessor;
    const taken = before && [...this.#objects.values()].find((o) => o.digest === digest && o.owners.has(before) && !o.owners.has(t));
    if (taken) {
      taken.owners.add(t);
      return taken.info;
    }
    const preloaded = [...this.#objects.values()].find(
      (o) => o.digest === digest && o.preloaded !== undefined && o.preloaded.name === name && o.preloaded.btfPath === t.btfPath,
    );
    if (preloaded?.preloaded) {
      for (const line of preloaded.preloaded.log) this.log(line);
      preloaded.preloaded = undefined;
      preloaded.owners.add(t);
      return preloaded.info;
    }
    const object = this.#loaded(bytes, name, t.btfPath, (o) =>
      explainLoad(
        () => o.load(),
        () => {
          // The kernel's real BTF (or the tenant's), never a cached minimal one.
          const kernel = kernelFacts(undefined, t.btfPath);
          return { release: kernel.release, findings: preflight(objectNeeds(parseObject(bytes)), kernel) };
        },
      ),
    );
    const id = this.#nextId++;
    const info = infoOf(id, object);
    this.#objects.set(id, { id, digest, object, info, streams: new Map(), owners: new Set([t]) });
    return info;
  }

  /** Opens and loads `bytes` against `btfPath`, or the cached minimal BTF when that is the kernel's own; a failed load's object is closed. */
  #loaded(bytes: Uint8Array, name: string, btfPath: string | undefined, load: (o: BpfObject) => void): BpfObject {
    const cache = btfPath === undefined ? this.btfCache : undefined;
    return loadCached(cache, bytes, (path) => BpfObject.open(bytes, { name, btfPath: path ?? btfPath }), load);
  }

  #logLibbpf(): void {
    setBpfLog((_level, message) => {
      const line = `libbpf: ${message.trimEnd()}`;
      if (this.#held) this.#held.push(line);
      else this.log(line);
    }, 'warn');
  }

  #object(t: Tenant, id: number): HeldObject {
    const o = this.#objects.get(id);
    // The worker checks its handles: an unknown one here is the host's bug, not the guest's.
    if (!o?.owners.has(t)) throw new EbpmError('INTERNAL', `object ${id} is not held by this guest`, { data: { errno: 9 } });
    return o;
  }

  #attach(t: Tenant, o: HeldObject, program: string, target: AttachTarget | undefined): number {
    const key = JSON.stringify(target ?? null);
    const before = t.predecessor;
    const taken =
      before && [...this.#links.values()].find((l) => l.object === o && l.program === program && l.target === key && l.owners.has(before) && !l.owners.has(t));
    if (taken) {
      taken.owners.add(t);
      return taken.id;
    }
    const link = o.object.attach(program, target);
    const id = this.#nextId++;
    this.#links.set(id, { id, object: o, program, target: key, link, owners: new Set([t]) });
    return id;
  }

  #subscribe(t: Tenant, o: HeldObject, map: string, sink: Sink): void {
    let s = o.streams.get(map);
    if (s === undefined) {
      const stream: Stream = { map, reader: o.object.events(map), sink: undefined, paused: false, waiting: undefined, queue: [], queued: 0, dropped: 0 };
      stream.reader.onBatch(
        (batch) => this.#deliver(stream, { records: batch.records, lost: batch.lost }),
        (e) => this.log(`events ${map}: ${(e as Error)?.message ?? String(e)}`),
      );
      o.streams.set(map, stream);
      s = stream;
    }
    if (s.sink !== undefined && s.sink.tenant !== t) {
      s.waiting = sink;
      return;
    }
    s.sink = sink;
    this.#flush(s);
  }

  /** `t` stops reading `s`; the records it did not deliver go first to whoever reads next. */
  #unsubscribe(t: Tenant, s: Stream | undefined, unread: readonly Uint8Array[]): void {
    if (s?.waiting?.tenant === t) s.waiting = undefined;
    if (s?.sink?.tenant !== t) return;
    if (unread.length > 0) {
      s.queue.unshift({ records: unread, lost: 0 });
      s.queued += unread.reduce((n, r) => n + r.length, 0);
    }
    s.sink = s.waiting;
    s.waiting = undefined;
    s.paused = false;
    this.#flush(s);
  }

  #deliver(s: Stream, batch: RecordBatch): void {
    if (s.sink !== undefined && !s.paused) {
      post(s.sink, batch);
      return;
    }
    const bytes = batch.records.reduce((n, r) => n + r.length, 0);
    if (s.queued + bytes > MAX_HELD_BYTES) {
      if (s.dropped === 0) this.log(`events ${s.map}: dropping records: more than ${MAX_HELD_BYTES >> 20} MiB wait for a reader`);
      s.dropped += batch.records.length;
      return;
    }
    // The views share one buffer of the addon's: keep copies.
    s.queue.push({ records: batch.records.map((r) => r.slice()), lost: batch.lost });
    s.queued += bytes;
  }

  #flush(s: Stream): void {
    if (s.sink === undefined || s.paused) return;
    for (const batch of s.queue.splice(0)) post(s.sink, batch);
    s.queued = 0;
  }

  #letGo(t: Tenant, held: HeldObject | HeldLink | undefined): void {
    if (held === undefined || !held.owners.delete(t) || held.owners.size > 0) return;
    try {
      if ('link' in held) {
        this.#links.delete(held.id);
        held.link.close();
        return;
      }
      this.#objects.delete(held.id);
      for (const l of [...this.#links.values()]) if (l.object === held) this.#links.delete(l.id);
      // Closing the object closes its readers and links too.
      held.object.close();
    } catch (e) {
      this.log(`close BPF ${'link' in held ? `link of ${held.program}` : 'object'}: ${(e as Error)?.message ?? String(e)}`);
    }
  }
}

function post(sink: Sink, batch: RecordBatch): void {
  sink.port.postMessage(batch);
  ring(sink.bell);
}

function ring(bell: Int32Array): void {
  Atomics.add(bell, 0, 1);
  Atomics.notify(bell, 0);
}

function infoOf(id: number, object: BpfObject): BrokerObject {
  return {
    id,
    programs: object.programs().map((p) => ({ name: p.name, section: p.section })),
    maps: object.maps().map((m) => ({ name: m.name, fd: m.fd, kind: kindOf(m.type) })),
  };
}

function kindOf(type: string): MapKind {
  return type === 'ringbuf' ? 'ringbuf' : type === 'perf_event_array' ? 'perf' : 'other';
}
