// `ebpm run --follow` of a package with a Wasm module, on a real registry and the real kernel,
// with fixtures/swapseq: its BPF program numbers the signals one process sends itself (a counter
// in .bss), its guest prints `v<version> seq=<n>` per signal. A Wasm-only update keeps the BPF
// objects attached (same program and link ids) and hands the events over with none lost or
// printed twice; a BPF update makes before break, the old guest printing every event its object
// had; a failing update leaves the running version as it was. The sender signals as often as the
// test asks, which is never more than WINDOW ahead of what the run printed (but for bursts the
// fixture's ring buffer holds whole), so no buffer overflows however slow the machine; checks
// are forced with SIGHUP, and the test waits on output lines and link ids, never on a clock.
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFailed } from 'vitest';
import { cliEnv, type Exited, runEbpm, sandboxDir, spawnEbpm, type Running, writeTrustPolicy } from '../helpers/cli.js';
import { onOneCpu } from '../helpers/cpu.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { linkIds, programsOf, tempDir } from './spawn.js';

const FIXTURE = new URL('fixtures/swapseq', import.meta.url).pathname;

/** How many signals the sender may be ahead of the lines the run printed. */
const WINDOW = 64;

/** The width the guest pads its lines to in the run that fills its stdout. */
const WIDTH = 1000;

/**
 * Signals sent at once while the run's stdout is not read: more output (8 MB in lines of WIDTH)
 * than a pipe, a paused stream, ebpm's stdout buffer and a guest's output ring hold, so that the
 * guest ends up waiting in a write with records still to deliver; fewer records (24 bytes each)
 * than the fixture's 256 KiB ring buffer holds, so that none is lost however late it is read.
 */
const BURST = 8000;

/** Edits of a version's sources: its BPF program and its guest. */
interface Edits {
  bpf?: (src: string) => string;
  guest?: (src: string) => string;
}

/** A copy of fixtures/swapseq at version `v` (in ebpm.json and the guest's VERSION), with `edits` applied. */
function version(into: string, v: string, edits: Edits = {}): string {
  const dir = join(into, v);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.endsWith('/out') });
  const rewrite = (file: string, fn: (src: string) => string, edit = true) => {
    const path = join(dir, file);
    const before = readFileSync(path, 'utf8');
    const after = fn(before);
    // An edit that no longer matches the fixture would test nothing.
    if (edit && after === before) throw new Error(`version ${v}: the edit of ${file} changed nothing`);
    writeFileSync(path, after);
  };
  rewrite('ebpm.json', (s) => JSON.stringify({ ...JSON.parse(s), version: v }), false);
  rewrite('main.c', (s) => s.replace('#define VERSION "1.0.0"', `#define VERSION "${v}"`), v !== '1.0.0');
  if (edits.guest) rewrite('main.c', edits.guest);
  if (edits.bpf) rewrite('swapseq.bpf.c', edits.bpf);
  return dir;
}

/**
 * `Sender` is a shell that, for each number it reads, sends itself that many SIGUSR1 and then
 * echoes the number. It runs on one CPU: a perf event array has a buffer per CPU, and only the
 * records of one are read in the order they were written.
 */
class Sender {
  static readonly SCRIPT = 'trap ":" USR1; while read k; do i=0; while [ $i -lt $k ]; do kill -USR1 $$; i=$((i+1)); done; echo $k; done';
  readonly child = spawn(...onOneCpu('/bin/sh', ['-c', Sender.SCRIPT]), { stdio: ['pipe', 'pipe', 'ignore'] });
  /** Signals asked for so far. */
  asked = 0;
  /** What the shell echoed so far. */
  private echoed = '';
  private readonly acks = new Set<() => void>();

  constructor() {
    this.child.stdout.on('data', (d: Buffer) => {
      this.echoed += d.toString();
      for (const ack of [...this.acks]) ack();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Asks for `k` more signals. */
  send(k: number): void {
    this.child.stdin.write(`${k}\n`);
    this.asked += k;
  }

  /** Resolves once every signal asked for has been sent. */
  async allSent(): Promise<void> {
    const sent = () => [...this.echoed.matchAll(/^(\d+)\n/gm)].reduce((n, m) => n + Number(m[1]), 0);
    while (sent() < this.asked) {
      await new Promise<void>((resolve) => {
        const ack = () => {
          this.acks.delete(ack);
          resolve();
        };
        this.acks.add(ack);
      });
    }
  }
}

interface Printed {
  readonly version: string;
  readonly seq: number;
}

/** `n` numbers from `from` on. */
function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/**
 * `SeqRun` is `ebpm run <args> -- <sender's pid>` of swapseq with a sender of its own, which the
 * test keeps signalling at most WINDOW signals ahead of the lines the run printed.
 */
class SeqRun {
  readonly sender = new Sender();
  readonly run: Running;
  private readonly lines: Printed[] = [];
  private parsed = 0;

  /** `guest`: the guest's arguments after the pid. */
  constructor(
    args: readonly string[],
    private readonly env: Record<string, string>,
    guest: readonly string[] = [],
  ) {
    // --verbose: a failure's stderr tail then shows each check and ebpm's log lines.
    this.run = spawnEbpm([...args, '--verbose', '--', String(this.sender.pid), ...guest], { env });
    onTestFailed(() => {
      const last = this.printed().at(-1);
      console.error(`swapseq: ${this.sender.asked} signals asked, ${this.lines.length} lines printed, the last v${last?.version} seq=${last?.seq}`);
    });
  }

  /** The guest's lines printed so far (whole lines; with --json, JSON strings), in order. */
  printed(): readonly Printed[] {
    const line = /^"?v(\S+) seq=(\d+) *"?\n/gm;
    line.lastIndex = this.parsed;
    for (let m = line.exec(this.run.stdout()); m !== null; m = line.exec(this.run.stdout())) {
      this.lines.push({ version: m[1]!, seq: Number(m[2]) });
      this.parsed = line.lastIndex;
    }
    return this.lines;
  }

  /** The seqs the guest of `version` printed, in order. */
  seqs(version: string): number[] {
    return this.printed()
      .filter((p) => p.version === version)
      .map((p) => p.seq);
  }

  /** The program ids the run holds. */
  programs(): number[] {
    return programsOf(this.run.child.pid!);
  }

  /** Waits for the guest of `version` to attach, then signals until it printed WINDOW lines. */
  async started(version: string): Promise<void> {
    await this.run.waitFor(new RegExp(`swapseq v${ver(version)}: attached, tracing ${this.sender.pid}\n`));
    await this.feed(() => this.printed().length >= WINDOW);
  }

  /** Keeps the sender signalling until `done()`. */
  async feed(done: () => boolean): Promise<void> {
    while (!done()) {
      const more = this.printed().length + WINDOW - this.sender.asked;
      if (more > 0) this.sender.send(more);
      await this.output();
    }
  }

  /** Pushes the package in `dir` (with `flags`) and forces a check with SIGHUP. */
  async push(dir: string, flags: readonly string[] = []): Promise<void> {
    expect((await runEbpm(['push', dir, ...flags], { env: this.env })).code).toBe(0);
    this.run.child.kill('SIGHUP');
  }

  /** Pushes the package in `dir` (with `flags`), forces a check and signals until stderr has `line`, which it returns matched. */
  async update(dir: string, line: RegExp, flags: readonly string[] = []): Promise<RegExpExecArray> {
    await this.push(dir, flags);
    await this.feed(() => line.test(this.run.stderr()));
    return line.exec(this.run.stderr())!;
  }

  /** Stops signalling and waits for the line of the last signal, numbered `last`. */
  drained(last: number): Promise<void> {
    return this.until(() => this.printed().some((p) => p.seq >= last));
  }

  /** Waits, without signalling, until `done()`. */
  async until(done: () => boolean): Promise<void> {
    while (!done()) await this.output();
  }

  /** Ends the run with SIGINT. */
  async stop(): Promise<Exited> {
    this.run.child.kill('SIGINT');
    return this.run.exited();
  }

  /** Kills what is left (after a failure). */
  kill(): void {
    this.run.child.kill('SIGKILL');
    this.sender.child.kill();
  }

  /** Resolves at the run's next output on stdout or stderr; rejects if it ends first. */
  private output(): Promise<void> {
    const child = this.run.child;
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        child.stdout!.off('data', data);
        child.stderr!.off('data', data);
        child.off('close', closed);
        if (err) reject(err);
        else resolve();
      };
      const data = () => done();
      const closed = (code: number | null) => done(new Error(`ebpm ended (${code}): ${this.run.stderr()}`));
      // After spawnEbpm's own listeners, which add the chunk to stdout() and stderr().
      child.stdout!.on('data', data);
      child.stderr!.on('data', data);
      child.once('close', closed);
    });
  }
}

/** Version `v` in a regular expression. */
function ver(v: string): string {
  return v.replaceAll('.', '\\.');
}

/** The stderr line of a Wasm-only update. */
const swappedLine = (from: string, to: string) =>
  new RegExp(`swapseq: updated ${ver(from)} → ${ver(to)} \\(Wasm module swapped, BPF objects kept attached\\)\n`);

/** Asserts that the run printed each of the `n` signals once, in order, first all by `from`'s guest and then all by `to`'s, at least one each. */
function handedOver(r: SeqRun, n: number, from: string, to: string): void {
  expect(r.printed().map((p) => p.seq)).toEqual(range(1, n));
  const after = r.seqs(to).length;
  expect([n - after > 0, after > 0]).toEqual([true, true]);
  expect(r.printed().map((p) => p.version)).toEqual([...Array<string>(n - after).fill(from), ...Array<string>(after).fill(to)]);
}

describeWith(['root', 'btf', 'clang', 'native', 'bpftool', 'registry', 'wasi'], 'ebpm run --follow of a package with a Wasm module', () => {
  let reg: RunningRegistry;
  let env: Record<string, string>;
  let dirs: Record<string, string>;

  /** The digests of the BPF objects of the package built in `dir`. */
  const objectDigests = async (dir: string) => {
    const r = await runEbpm(['inspect', '--json', join(dir, 'out')], { env });
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as { metadata: { objects: { digest: string }[] } }).metadata.objects.map((o) => o.digest);
  };

  beforeAll(async () => {
    reg = await startRegistry();
    env = cliEnv(sandboxDir('follow-wasm-'), { EBPM_REGISTRY: `${reg.host}/swap` });
    const into = tempDir();
    const perf = (s: string) => `#define SWAPSEQ_PERF\n${s}`;
    const poll = '\twhile ((err = bpf_buffer__poll(events, 100)) >= 0)\n\t\t;\n';
    dirs = {
      '1.0.0': version(into, '1.0.0'),
      // The guest alone: it prints another version.
      '1.1.0': version(into, '1.1.0'),
      // Another BPF object: its own counter, numbering from 1000001.
      '1.2.0': version(into, '1.2.0', {
        bpf: (s) => s.replaceAll('__sync_fetch_and_add(&seq, 1) + 1;', '__sync_fetch_and_add(&seq, 1) + 1000001;'),
      }),
      // 1.2.0's BPF object, and a guest that ends with 3 after attaching, before it first waits.
      '1.3.0': version(into, '1.3.0', {
        bpf: (s) => s.replaceAll('__sync_fetch_and_add(&seq, 1) + 1;', '__sync_fetch_and_add(&seq, 1) + 1000001;'),
        guest: (s) => s.replace(poll, '\treturn 3;\n'),
      }),
      // The verifier refuses it: the ring buffer record is used without checking it was reserved.
      '1.4.0': version(into, '1.4.0', { bpf: (s) => s.replace('\tif (!e)\n\t\treturn 0;\n\te->seq', '\te->seq') }),
      // 1.0.0 and 1.1.0 with a perf event array.
      'perf-1.0.0': version(join(into, 'perf'), '1.0.0', { bpf: perf }),
      'perf-1.1.0': version(join(into, 'perf'), '1.1.0', { bpf: perf }),
    };
    for (const dir of Object.values(dirs)) expect((await runEbpm(['build', dir], { env })).code).toBe(0);
  });
  afterAll(() => reg?.stop());

  it('the fixture runs from its directory without --follow: v1.0.0 and seq 1, 2, 3… for the signals of the pid it is given', async () => {
    const r = new SeqRun(['run', dirs['1.0.0']!], env);
    try {
      await r.run.waitFor(new RegExp(`swapseq v1\\.0\\.0: attached, tracing ${r.sender.pid}\n`));
      // What the follow tests compare before and after an update: one program, one link.
      expect(r.programs()).toHaveLength(1);
      expect(linkIds(r.programs())).toHaveLength(1);
      r.sender.send(5);
      await r.drained(5);
      const end = await r.stop();
      expect([end.code, end.stdout]).toEqual([130, 'v1.0.0 seq=1\nv1.0.0 seq=2\nv1.0.0 seq=3\nv1.0.0 seq=4\nv1.0.0 seq=5\n']);
    } finally {
      r.kill();
    }
  });

  it('swaps the Wasm module with the BPF objects kept attached and no event lost or doubled, replaces changed objects make before break, and keeps running through failed updates', async () => {
    // 1.1.0 differs from 1.0.0 in its guest only; 1.2.0 in its BPF object too.
    const digests = await Promise.all(['1.0.0', '1.1.0', '1.2.0', '1.3.0'].map((v) => objectDigests(dirs[v]!)));
    expect(digests[1]).toEqual(digests[0]);
    expect(digests[2]).not.toEqual(digests[1]);
    expect(digests[3]).toEqual(digests[2]);

    expect((await runEbpm(['push', dirs['1.0.0']!], { env })).code).toBe(0);
    const r = new SeqRun(['run', 'swapseq@^1', '--follow', '--follow-interval', '3600'], env, [String(WIDTH)]);
    try {
      await r.started('1.0.0');
      const progs = r.programs();
      expect(progs).toHaveLength(1);
      const links = linkIds(progs);
      expect(links).toHaveLength(1);

      // a. The guest alone, swapped while its predecessor waits in a write with records behind
      // it (stdout is not read until the update is done), and more signals come after the check.
      // The guest's arguments carry over: 1.1.0 pads its lines too.
      r.run.child.stdout!.pause();
      r.sender.send(BURST);
      await r.sender.allSent();
      await r.push(dirs['1.1.0']!);
      r.sender.send(WINDOW);
      await r.run.waitFor(swappedLine('1.0.0', '1.1.0'));
      r.run.child.stdout!.resume();
      await r.feed(() => r.seqs('1.1.0').length >= WINDOW);
      const n = r.sender.asked;
      await r.drained(n);
      handedOver(r, n, '1.0.0', '1.1.0');
      expect(
        new Set(
          r.run
            .stdout()
            .split('\n')
            .slice(0, -1)
            .map((l) => l.length),
        ),
      ).toEqual(new Set([WIDTH]));
      expect(r.programs()).toEqual(progs);
      expect(linkIds(progs)).toEqual(links);

      // b. Another BPF object, swapped in while the old guest still has a burst to print (stdout
      // is not read until the old link is gone): the new one attached, then the old one detached,
      // and the old guest prints every event of its object before it ends, since no other can.
      r.run.child.stdout!.pause();
      r.sender.send(BURST);
      await r.sender.allSent();
      const burst = r.sender.asked;
      await r.push(dirs['1.2.0']!);
      while (linkIds(progs).length > 0) await new Promise((resolve) => setImmediate(resolve));
      r.run.child.stdout!.resume();
      await r.run.waitFor(/swapseq: updated 1\.1\.0 → 1\.2\.0 \(BPF objects replaced\)\n/);
      // The new guest's lines come after the old one's: once they show, the old one's are all out.
      r.sender.send(WINDOW);
      await r.until(() => r.seqs('1.2.0').length === WINDOW);
      expect(r.printed().map((p) => p.seq)).toEqual([...range(1, burst), ...range(1000001, WINDOW)]);
      const replaced = r.programs();
      expect(replaced).toHaveLength(1);
      expect(replaced).not.toContain(progs[0]);
      const relinked = linkIds(replaced);
      expect(relinked).toHaveLength(1);
      expect(relinked).not.toContain(links[0]);
      // Then the new one's events, numbered by its own counter.
      expect(r.seqs('1.2.0')).toEqual(range(1000001, r.seqs('1.2.0').length));

      // c. A guest that ends before it first waits, and then an object the verifier refuses:
      // 1.2.0 keeps running, its events continuing.
      for (const v of ['1.3.0', '1.4.0']) {
        await r.update(dirs[v]!, new RegExp(`swapseq: update to ${ver(v)} failed, 1\\.2\\.0 keeps running: .+\n`));
        const then = r.seqs('1.2.0').length;
        await r.feed(() => r.seqs('1.2.0').length >= then + WINDOW);
        expect(r.programs()).toEqual(replaced);
        expect(linkIds(replaced)).toEqual(relinked);
      }
      expect(r.seqs('1.2.0')).toEqual(range(1000001, r.seqs('1.2.0').length));
      expect(r.printed().filter((p) => p.version === '1.3.0' || p.version === '1.4.0')).toEqual([]);
      expect((await r.stop()).code).toBe(130);
    } finally {
      r.kill();
    }
  });

  it("--json: each update is a JSON line of its own on stdout, among the guest's lines as JSON strings; an update the trust policy refuses leaves the running version as it was", async () => {
    const json = cliEnv(sandboxDir('follow-wasm-json-'), { EBPM_REGISTRY: `${reg.host}/swapjson`, EBPM_PASSWORD: 'follow' });
    const home = json.HOME!;
    expect((await runEbpm(['keygen'], { env: json, cwd: home })).code).toBe(0);
    writeTrustPolicy(json, {
      version: 1,
      keys: { release: { path: join(home, 'cosign.pub') } },
      scopes: { [`${reg.host}/swapjson`]: { require: 'require-signature', keys: ['release'] } },
    });
    const signed = ['--sign', '--key', join(home, 'cosign.key')];
    expect((await runEbpm(['push', dirs['1.0.0']!, ...signed], { env: json })).code).toBe(0);
    const r = new SeqRun(['run', 'swapseq@^1', '--follow', '--follow-interval', '3600', '--json'], json);
    try {
      await r.started('1.0.0');
      await r.update(dirs['1.1.0']!, swappedLine('1.0.0', '1.1.0'), signed);
      await r.feed(() => r.seqs('1.1.0').length >= WINDOW);
      const progs = r.programs();
      // Another BPF object, whose guest ends after attaching it, before it first waits: it is
      // closed again, and 1.1.0 keeps numbering with its own.
      const [, failed] = await r.update(dirs['1.3.0']!, /swapseq: update to 1\.3\.0 failed, 1\.1\.0 keeps running: (.+)\n/, signed);
      const then = r.seqs('1.1.0').length;
      await r.feed(() => r.seqs('1.1.0').length >= then + WINDOW);
      expect(r.programs()).toEqual(progs);
      // Not signed: refused before anything is loaded.
      const [, refused] = await r.update(
        dirs['1.4.0']!,
        /swapseq: update refused, 1\.1\.0 keeps running: (.+: not signed \(require-signature by scope .+\))\n/,
      );
      const still = r.seqs('1.1.0').length;
      await r.feed(() => r.seqs('1.1.0').length >= still + WINDOW);
      expect(r.programs()).toEqual(progs);
      const n = r.sender.asked;
      await r.drained(n);
      handedOver(r, n, '1.0.0', '1.1.0');
      const end = await r.stop();
      expect(end.code).toBe(130);
      const updates = end.stdout
        .split('\n')
        .filter((l) => l !== '' && !/^"v1\.[01]\.0 seq=\d+ *"$/.test(l))
        .map((l) => JSON.parse(l) as unknown);
      expect(updates).toEqual([
        { update: { from: '1.0.0', to: '1.1.0', how: 'swapped' } },
        { update: { from: '1.1.0', to: '1.3.0', how: 'failed', reason: failed } },
        { update: { from: '1.1.0', how: 'refused', reason: refused } },
      ]);
    } finally {
      r.kill();
    }
  });

  it('swaps the Wasm module of a package whose events come through a perf event array, none lost or doubled', async () => {
    const perf = cliEnv(sandboxDir('follow-wasm-perf-'), { EBPM_REGISTRY: `${reg.host}/swapperf` });
    expect(await objectDigests(dirs['perf-1.1.0']!)).toEqual(await objectDigests(dirs['perf-1.0.0']!));
    expect((await runEbpm(['push', dirs['perf-1.0.0']!], { env: perf })).code).toBe(0);
    // Its start-up traced (EBPM_TRACE_STARTUP=1): --follow is what runs a guest in a thread of its own.
    const r = new SeqRun(['run', 'swapseq@^1', '--follow', '--follow-interval', '3600'], { ...perf, EBPM_TRACE_STARTUP: '1' });
    try {
      await r.started('1.0.0');
      // `btf-cached` shows only when an earlier run left the object's minimal BTF in the cache: not a step checked here.
      const names = [...r.run.stderr().matchAll(/^phase (\S+) \d+\.\d$/gm)].map((m) => m[1]!).filter((n) => n !== 'btf-cached');
      // Each step of the guest's thread needs the one before it (its BPF object is loaded by the
      // main thread's broker, asked by the guest), and its guest comes once the package was resolved.
      const thread = ['thread', 'thread-node', 'runtime', 'input', 'instance', 'load-asked', 'load', 'attach', 'event'];
      expect([...names].sort()).toEqual(['node', 'bundle', 'command', 'resolve', 'worker', 'addon', ...thread].sort());
      expect(names.filter((n) => thread.includes(n))).toEqual(thread);
      expect(names.indexOf('resolve')).toBeLessThan(names.indexOf('input'));
      const progs = r.programs();
      const links = linkIds(progs);
      await r.update(dirs['perf-1.1.0']!, swappedLine('1.0.0', '1.1.0'));
      await r.feed(() => r.seqs('1.1.0').length >= WINDOW);
      const n = r.sender.asked;
      await r.drained(n);
      handedOver(r, n, '1.0.0', '1.1.0');
      expect(r.programs()).toEqual(progs);
      expect(linkIds(progs)).toEqual(links);
      expect((await r.stop()).code).toBe(130);
    } finally {
      r.kill();
    }
  });
});
