// `ebpm agent`'s supervisor: every instance file in a directory is one `ebpm run` child, started
// when its file appears, restarted with back-off when it fails, restarted when its file changes
// and stopped when its file goes away.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EbpmError, isEbpmError } from '../../core/errors.js';
import { parseInstance, runArgs, type InstanceSpec } from './instance.js';
import { classifyLine, parseAttached, parseSummary, RecentLines, RotatingFile } from './output.js';

/** How long the agent waits before restarting a failed child: doubling from `initialMs` up to `maxMs`, back to `initialMs` once a run lasted `healthyMs`. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly healthyMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 60_000, healthyMs: 60_000 };

/** Lines of output `ebpm logs` can show per instance. */
const RECENT_LINES = 1000;

export interface SupervisorOptions {
  readonly instancesDir: string;
  /** The command line that runs ebpm itself (node and the CLI bundle). */
  readonly ebpm: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly backoff?: Backoff;
  /** The agent's own lines (started, exited, invalid files) and the children's stderr lines, prefixed with the instance's name. */
  readonly onLog: (line: string) => void;
  /** Lines of instances whose output is `stdout`, each one JSON object naming its instance. */
  readonly onOutput: (line: string) => void;
}

/** `running`: a child is up; `backoff`: waiting to restart a failed one; `stopped`: by `ebpm stop`; `exited`: ended by itself (its `duration`). */
export type InstanceState = 'running' | 'backoff' | 'stopped' | 'exited';

/** What `ebpm ps` and `/metrics` show of one instance. Counters add up over the instance's runs. */
export interface InstanceStatus {
  readonly name: string;
  readonly ref: string;
  readonly state: InstanceState;
  readonly pid: number | undefined;
  /** The version the running child attached, as its attach line says. */
  readonly version: string | undefined;
  readonly events: number;
  readonly lost: number;
  readonly restarts: number;
  readonly updates: number;
  readonly refusals: number;
  /** Seconds since the running child started; 0 when none runs. */
  readonly uptimeSeconds: number;
  readonly lastExit: string | undefined;
}

/** The latest snapshot of one map of an instance, from run --json's lines (`keepSnapshot`). */
export interface MapSnapshot {
  readonly instance: string;
  readonly map: string;
  readonly entries: readonly { readonly key: unknown; readonly value: unknown }[];
}

/** A file of the instance directory the agent could not use, and why. */
export interface FileProblem {
  readonly file: string;
  readonly message: string;
}

interface Instance {
  spec: InstanceSpec;
  /** The instance file it comes from. */
  file: string;
  state: InstanceState;
  child: ChildProcess | undefined;
  /** Settles when the running child has exited and its output is read. */
  closed: Promise<void> | undefined;
  version: string | undefined;
  startedAt: number;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
  lastExit: string | undefined;
  counts: { events: number; lost: number; restarts: number; updates: number; refusals: number };
  lines: RecentLines;
  /** The latest snapshot of each result map the child printed, by map name. */
  maps: Map<string, MapSnapshot['entries']>;
}

export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #backoff: Backoff;
  readonly #instances = new Map<string, Instance>();
  #problems: FileProblem[] = [];
  #scans: Promise<void> = Promise.resolve();
  #watcher: FSWatcher | undefined;
  #closing = false;

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  /** `start` reads the directory, starts its instances and watches it for changes. */
  async start(): Promise<void> {
    await this.rescan();
    // A change anywhere in the directory means one more scan (a ConfigMap update is the rename of
    // its `..data` link); SIGHUP and the socket's `rescan` ask for one explicitly.
    this.#watcher = watch(this.#opts.instancesDir, () => void this.rescan());
  }

  /** `rescan` brings the instances in line with the directory's files; scans run one after another. */
  rescan(): Promise<void> {
    // A scan that failed (a bug) is logged, so the ones after it still run.
    this.#scans = this.#scans.then(() => this.#scan()).catch((e: unknown) => this.#opts.onLog(`agent: rescan: ${(e as Error).message}`));
    return this.#scans;
  }

  status(): { instances: InstanceStatus[]; problems: FileProblem[] } {
    const now = Date.now();
    const instances = [...this.#instances.values()]
      .map((i) => ({
        name: i.spec.name,
        ref: i.spec.ref,
        state: i.state,
        pid: i.state === 'running' ? i.child?.pid : undefined,
        version: i.state === 'running' ? i.version : undefined,
        ...i.counts,
        uptimeSeconds: i.state === 'running' ? Math.floor((now - i.startedAt) / 1000) : 0,
        lastExit: i.lastExit,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { instances, problems: this.#problems };
  }

  /** `maps` is the latest snapshot of every result map of every instance, for `/metrics`. */
  maps(): MapSnapshot[] {
    return [...this.#instances.values()].flatMap((i) => [...i.maps].map(([map, entries]) => ({ instance: i.spec.name, map, entries })));
  }

  /** `lines` is the instance's recent output, for `ebpm logs`. */
  lines(name: string): RecentLines {
    return this.#get(name).lines;
  }

  /** `stopInstance` stops an instance until `startInstance` (or a change of its file). */
  async stopInstance(name: string): Promise<void> {
    const i = this.#get(name);
    await this.#halt(i);
    i.state = 'stopped';
  }

  async startInstance(name: string): Promise<void> {
    const i = this.#get(name);
    if (i.state === 'running') return;
    clearTimeout(i.timer);
    i.delayMs = this.#backoff.initialMs;
    this.#launch(i);
  }

  /** `close` stops watching and stops every child, waiting for each to detach its programs. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#watcher?.close();
    await this.#scans;
    await Promise.all([...this.#instances.values()].map((i) => this.#halt(i)));
  }

  #get(name: string): Instance {
    const i = this.#instances.get(name);
    if (!i) throw new EbpmError('INSTANCE_UNKNOWN', `instance ${name}: not found`, { hint: 'run `ebpm ps` for the instances the agent runs' });
    return i;
  }

  async #scan(): Promise<void> {
    if (this.#closing) return;
    const { specs, files, problems, readable } = readInstances(this.#opts.instancesDir);
    for (const p of problems) if (!this.#problems.some((q) => q.file === p.file && q.message === p.message)) this.#opts.onLog(`agent: ${p.message}`);
    this.#problems = problems;
    // A directory that cannot be read says nothing about which instances should run: they stay as they are.
    if (!readable) return;
    for (const [name, i] of this.#instances) {
      // A file that became unreadable (half written, a typo) keeps its instance as it was; only a file that is gone stops it.
      if (specs.has(name) || problems.some((p) => p.file === i.file)) continue;
      await this.#halt(i);
      this.#instances.delete(name);
      this.#opts.onLog(`agent: ${name} removed`);
    }
    for (const [file, spec] of files) {
      const i = this.#instances.get(spec.name);
      if (!i) {
        const fresh = newInstance(spec, file, this.#backoff);
        this.#instances.set(spec.name, fresh);
        this.#launch(fresh);
      } else if (JSON.stringify(i.spec) !== JSON.stringify(spec)) {
        await this.#halt(i);
        i.spec = spec;
        i.file = file;
        i.delayMs = this.#backoff.initialMs;
        this.#opts.onLog(`agent: ${spec.name} changed`);
        this.#launch(i);
      }
    }
  }

  #launch(i: Instance): void {
    const { spec } = i;
    let sink: RotatingFile | undefined;
    try {
      sink = spec.output.kind === 'file' ? new RotatingFile(spec.output.path, spec.output.maxBytes, spec.output.keep) : undefined;
    } catch (e) {
      // An output file that cannot be opened (a full disk, a missing mount) is a failed start: retried with back-off.
      i.state = 'running';
      i.startedAt = Date.now();
      i.lastExit = `output: ${(e as Error).message}`;
      this.#exited(i, null);
      return;
    }
    const [command, ...pre] = this.#opts.ebpm;
    const child = spawn(command!, [...pre, ...runArgs(spec)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.#opts.env,
      // A group of its own: a Ctrl-C meant for the agent reaches the children only through the agent, which stops them in order.
      detached: true,
    });
    i.child = child;
    i.state = 'running';
    i.version = undefined;
    i.startedAt = Date.now();
    const prefix = `{"instance":${JSON.stringify(spec.name)},"line":`;
    let counted = 0;
    let summary: { events: number; lost: number } | undefined;
    const stdout = createInterface({ input: child.stdout! });
    stdout.on('line', (line) => {
      switch (classifyLine(line)) {
        case 'event':
          i.counts.events++;
          counted++;
          break;
        case 'update': {
          i.counts.updates++;
          const to = (JSON.parse(line) as { update: { to?: unknown } }).update.to;
          if (typeof to === 'string') i.version = to;
          break;
        }
        case 'refusal':
          i.counts.refusals++;
          break;
        case 'sample':
          keepSnapshot(i.maps, JSON.parse(line) as Record<string, unknown>);
          break;
        case 'error':
          break;
      }
      i.lines.push(line);
      if (sink) sink.write(line);
      else this.#opts.onOutput(`${prefix}${line}}`);
    });
    const stderr = createInterface({ input: child.stderr! });
    stderr.on('line', (line) => {
      i.lines.push(line);
      // The child's own messages (attached, errors, its last count) belong in the agent's log (the journal).
      this.#opts.onLog(`${spec.name}: ${line}`);
      i.version ??= parseAttached(line);
      summary = parseSummary(line) ?? summary;
    });
    const ended = new Promise<{ code: number | null; why: string }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, why: signal !== null ? `signal ${signal}` : `exit code ${code}` }));
      child.once('error', (e) => resolve({ code: null, why: `spawn: ${e.message}` }));
    });
    i.closed = Promise.all([once(stdout, 'close'), once(stderr, 'close')]).then(async () => {
      const { code, why } = await ended;
      // Applied once both pipes are read (their lines arrive in no set order): the child's own
      // count is the exact one, lines may have been dropped on the way.
      if (summary) {
        i.counts.events += summary.events - counted;
        i.counts.lost += summary.lost;
      }
      sink?.close();
      i.child = undefined;
      i.lastExit = why;
      this.#exited(i, code);
    });
    this.#opts.onLog(`agent: ${spec.name} started (pid ${child.pid})`);
  }

  /** After a child ended: nothing more when it was stopped on purpose or finished; otherwise a restart after the back-off. */
  #exited(i: Instance, code: number | null): void {
    if (i.state !== 'running') return;
    if (code === 0) {
      i.state = 'exited';
      this.#opts.onLog(`agent: ${i.spec.name} ended (${i.lastExit})`);
      return;
    }
    if (Date.now() - i.startedAt >= this.#backoff.healthyMs) i.delayMs = this.#backoff.initialMs;
    const delay = i.delayMs;
    i.delayMs = Math.min(i.delayMs * 2, this.#backoff.maxMs);
    i.state = 'backoff';
    this.#opts.onLog(`agent: ${i.spec.name} failed (${i.lastExit}); restart in ${delay / 1000}s`);
    i.timer = setTimeout(() => {
      if (i.state !== 'backoff' || this.#closing) return;
      i.counts.restarts++;
      this.#launch(i);
    }, delay);
  }

  /** `#halt` stops the instance's child, if any, with SIGINT (run detaches cleanly) and waits until it is gone. */
  async #halt(i: Instance): Promise<void> {
    clearTimeout(i.timer);
    const wasRunning = i.state === 'running';
    i.state = 'stopped';
    if (wasRunning && i.child) {
      i.child.kill('SIGINT');
      await i.closed;
      this.#opts.onLog(`agent: ${i.spec.name} stopped`);
    }
  }
}

/**
 * `keepSnapshot` keeps the latest snapshot of a map a child printed: a result map comes whole
 * (`{"map":…,"entries":[…]}`); an `@sample` map comes an entry a line (`{"key":…,"value":…}`),
 * unnamed, kept under the map name "" entry by entry.
 */
function keepSnapshot(maps: Instance['maps'], o: Record<string, unknown>): void {
  if (typeof o.map === 'string' && Array.isArray(o.entries)) {
    maps.set(o.map, o.entries as MapSnapshot['entries']);
    return;
  }
  const key = JSON.stringify(o.key);
  const entries = (maps.get('') ?? []).filter((e) => JSON.stringify(e.key) !== key);
  maps.set('', [...entries, { key: o.key, value: o.value }]);
}

function newInstance(spec: InstanceSpec, file: string, backoff: Backoff): Instance {
  return {
    spec,
    file,
    state: 'stopped',
    child: undefined,
    closed: undefined,
    version: undefined,
    startedAt: 0,
    delayMs: backoff.initialMs,
    timer: undefined,
    lastExit: undefined,
    counts: { events: 0, lost: 0, restarts: 0, updates: 0, refusals: 0 },
    lines: new RecentLines(RECENT_LINES),
    maps: new Map(),
  };
}

/**
 * `readInstances` reads every `*.json` file of `dir` (and reports `*.yaml` ones). A file that cannot be used is a problem of
 * its own (and keeps the instance it gave before); the others run. Two files naming the same instance: the first by file name wins.
 * A mounted ConfigMap works as is: its files are links, read through (`<key>` → `..data/<key>` → the current
 * `..<timestamp>/` directory), and the kubelet's own `..`-named entries are left out.
 */
export function readInstances(dir: string): {
  specs: Map<string, InstanceSpec>;
  files: Map<string, InstanceSpec>;
  problems: FileProblem[];
  readable: boolean;
} {
  const specs = new Map<string, InstanceSpec>();
  const byFile = new Map<string, InstanceSpec>();
  const problems: FileProblem[] = [];
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => !f.startsWith('..') && /\.(json|ya?ml)$/.test(f))
      .sort();
  } catch (e) {
    return { specs, files: byFile, problems: [{ file: dir, message: `instances ${dir}: ${(e as Error).message}` }], readable: false };
  }
  for (const f of files) {
    // ebpm carries no YAML parser: a YAML file is reported rather than silently left out.
    if (!f.endsWith('.json')) {
      problems.push({ file: f, message: `instance ${f}: YAML instance files are not read; write it as JSON (${f.replace(/\.ya?ml$/, '.json')})` });
      continue;
    }
    try {
      const spec = parseInstance(f, readFileSync(join(dir, f), 'utf8'));
      if (specs.has(spec.name)) throw new EbpmError('INSTANCE_INVALID', `instance ${f}: name: ${spec.name} is already the name of another file's instance`);
      specs.set(spec.name, spec);
      byFile.set(f, spec);
    } catch (e) {
      problems.push({ file: f, message: isEbpmError(e) ? e.message : `instance ${f}: ${(e as Error).message}` });
    }
  }
  return { specs, files: byFile, problems, readable: true };
}
