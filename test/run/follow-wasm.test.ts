// `ebpm run --follow` of a package with a Wasm module, on a real registry and the real kernel,
// with fixtures/swapseq: its BPF program numbers the signals one process sends itself (a counter
// in .bss), its guest prints `v<version> seq=<n>` per signal. A Wasm-only update keeps the BPF
// objects attached (same program and link ids) and hands the events over with none lost or
// printed twice; a BPF update makes before break; a failing update leaves the running version
// as it was. The sender signals once per line the test writes, never more than WINDOW ahead of
// what the run printed, so no buffer can overflow however slow the machine; checks are forced
// with SIGHUP and the test waits on output lines, never on a clock.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliEnv, runEbpm, sandboxDir, spawnEbpm, type Running } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { jsonLines, linkIds, programsOf, tempDir } from './spawn.js';

const FIXTURE = new URL('fixtures/swapseq', import.meta.url).pathname;

/** How many signals the sender may be ahead of the lines the run printed. */
const WINDOW = 64;

/** Edits of a version's sources: its BPF program and its guest. */
interface Edits {
  bpf?: (src: string) => string;
  guest?: (src: string) => string;
}

/** A copy of fixtures/swapseq at version `v` (in ebpm.json and the guest's VERSION), with `edits` applied. */
function version(into: string, v: string, edits: Edits = {}): string {
  const dir = join(into, v);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.endsWith('/out') });
  const rewrite = (file: string, fn: (src: string) => string) => {
    const path = join(dir, file);
    const before = readFileSync(path, 'utf8');
    const after = fn(before);
    // An edit that no longer matches the fixture would test nothing.
    if (after === before && !before.includes(`"${v}"`)) throw new Error(`version ${v}: the edit of ${file} changed nothing`);
    writeFileSync(path, after);
  };
  rewrite('ebpm.json', (s) => JSON.stringify({ ...JSON.parse(s), version: v }));
  rewrite('main.c', (s) => s.replace('#define VERSION "1.0.0"', `#define VERSION "${v}"`));
  if (edits.guest) rewrite('main.c', edits.guest);
  if (edits.bpf) rewrite('swapseq.bpf.c', edits.bpf);
  return dir;
}

/** A shell that sends itself SIGUSR1 once per line it reads. */
function signaller(): ChildProcess {
  return spawn('/bin/sh', ['-c', 'trap ":" USR1; while read x; do kill -USR1 $$; done'], { stdio: ['pipe', 'ignore', 'ignore'] });
}

interface Printed {
  readonly version: string;
  readonly seq: number;
}

/** The guest's lines `run` printed so far (whole lines), in order. */
function printed(run: Running): Printed[] {
  return [...run.stdout().matchAll(/^v(\S+) seq=(\d+)\n/gm)].map((m) => ({ version: m[1]!, seq: Number(m[2]) }));
}

/** The seqs `version` printed, in order. */
function seqsOf(run: Running, version: string): number[] {
  return printed(run)
    .filter((p) => p.version === version)
    .map((p) => p.seq);
}

/** `from`, `from + 1`, … `n` numbers. */
function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/** Resolves at `run`'s next output on stdout or stderr; rejects if it ends first. */
function nextOutput(run: Running): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      run.child.stdout!.off('data', data);
      run.child.stderr!.off('data', data);
      run.child.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const data = () => done();
    const closed = (code: number | null) => done(new Error(`ebpm ended (${code}): ${run.stderr()}`));
    // After spawnEbpm's own listeners, which add the chunk to stdout() and stderr().
    run.child.stdout!.on('data', data);
    run.child.stderr!.on('data', data);
    run.child.once('close', closed);
  });
}

/**
 * `Feed` keeps the sender signalling, at most WINDOW signals ahead of the lines `run` printed,
 * and counts the signals it asked for.
 */
class Feed {
  sent = 0;
  constructor(
    private readonly run: Running,
    private readonly sender: ChildProcess,
  ) {}

  /** Feeds until `done()`. */
  async until(done: () => boolean): Promise<void> {
    while (!done()) {
      const more = printed(this.run).length + WINDOW - this.sent;
      if (more > 0) {
        this.sender.stdin!.write('\n'.repeat(more));
        this.sent += more;
      }
      await nextOutput(this.run);
    }
  }
}

/** Waits until `done()`, on `run`'s output. */
async function settle(run: Running, done: () => boolean): Promise<void> {
  while (!done()) await nextOutput(run);
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
    const poll = '\twhile ((err = bpf_buffer__poll(events, 100)) >= 0)\n\t\t;\n';
    dirs = {
      '1.0.0': version(into, '1.0.0'),
      // The guest alone: it prints another version.
      '1.1.0': version(into, '1.1.0'),
      // Another BPF object: its own counter, numbering from 1000001.
      '1.2.0': version(into, '1.2.0', {
        bpf: (s) => s.replace('__sync_fetch_and_add(&seq, 1) + 1;', '__sync_fetch_and_add(&seq, 1) + 1000001;'),
      }),
      // 1.2.0's BPF object, and a guest that ends with 3 after attaching, before it first waits.
      '1.3.0': version(into, '1.3.0', {
        bpf: (s) => s.replace('__sync_fetch_and_add(&seq, 1) + 1;', '__sync_fetch_and_add(&seq, 1) + 1000001;'),
        guest: (s) => s.replace(poll, '\treturn 3;\n'),
      }),
      // The verifier refuses it: the ring buffer record is used without checking it was reserved.
      '1.4.0': version(into, '1.4.0', { bpf: (s) => s.replace('\tif (!e)\n\t\treturn 0;\n\te->seq', '\te->seq') }),
    };
    for (const dir of Object.values(dirs)) expect((await runEbpm(['build', dir], { env })).code).toBe(0);
  });
  afterAll(() => reg?.stop());

  it('the fixture runs from its directory without --follow: v1.0.0 and seq 1, 2, 3… for the signals of the pid it is given', async () => {
    const sender = signaller();
    const run = spawnEbpm(['run', dirs['1.0.0']!, '--', String(sender.pid)], { env });
    try {
      await run.waitFor(/swapseq v1\.0\.0: attached, tracing \d+\n/);
      // What the follow test compares before and after an update: one program, one link.
      const progs = programsOf(run.child.pid!);
      expect(progs).toHaveLength(1);
      expect(linkIds(progs)).toHaveLength(1);
      sender.stdin!.write('\n'.repeat(5));
      await settle(run, () => printed(run).length >= 5);
      run.child.kill('SIGINT');
      const end = await run.exited();
      expect([end.code, end.stdout]).toEqual([130, 'v1.0.0 seq=1\nv1.0.0 seq=2\nv1.0.0 seq=3\nv1.0.0 seq=4\nv1.0.0 seq=5\n']);
    } finally {
      run.child.kill('SIGKILL');
      sender.kill();
    }
  });

  it('swaps the Wasm module with the BPF objects kept attached and no event lost or doubled, replaces changed objects make before break, and keeps running through failed updates', async () => {
    // 1.1.0 differs from 1.0.0 in its guest only; 1.2.0 in its BPF object too.
    const digests = await Promise.all(['1.0.0', '1.1.0', '1.2.0', '1.3.0'].map((v) => objectDigests(dirs[v]!)));
    expect(digests[1]).toEqual(digests[0]);
    expect(digests[2]).not.toEqual(digests[1]);
    expect(digests[3]).toEqual(digests[2]);

    expect((await runEbpm(['push', dirs['1.0.0']!], { env })).code).toBe(0);
    const sender = signaller();
    const run = spawnEbpm(['run', 'swapseq@^1', '--follow', '--follow-interval', '3600', '--json', '--', String(sender.pid)], { env });
    const stderr = (re: RegExp) => () => re.test(run.stderr());
    try {
      await run.waitFor(/swapseq v1\.0\.0: attached, tracing \d+\n/);
      const feed = new Feed(run, sender);
      await feed.until(() => printed(run).length >= WINDOW);
      const progs = programsOf(run.child.pid!);
      expect(progs).toHaveLength(1);
      const links = linkIds(progs);
      expect(links).toHaveLength(1);

      // a. The guest alone: swapped while the sender keeps signalling.
      expect((await runEbpm(['push', dirs['1.1.0']!], { env })).code).toBe(0);
      run.child.kill('SIGHUP');
      await feed.until(stderr(/swapseq: updated 1\.0\.0 → 1\.1\.0 \(Wasm module swapped, BPF objects kept attached\)\n/));
      await feed.until(() => seqsOf(run, '1.1.0').length >= WINDOW);
      const n = feed.sent;
      await settle(run, () => printed(run).some((p) => p.seq >= n));
      const swapped = printed(run);
      expect(swapped.map((p) => p.seq)).toEqual(range(1, n));
      const firstNew = swapped.findIndex((p) => p.version === '1.1.0');
      expect(firstNew).toBeGreaterThan(0);
      expect(swapped.slice(0, firstNew).every((p) => p.version === '1.0.0')).toBe(true);
      expect(swapped.slice(firstNew).every((p) => p.version === '1.1.0')).toBe(true);
      expect(programsOf(run.child.pid!)).toEqual(progs);
      expect(linkIds(progs)).toEqual(links);

      // b. Another BPF object: the new one attached, then the old one detached and closed.
      expect((await runEbpm(['push', dirs['1.2.0']!], { env })).code).toBe(0);
      run.child.kill('SIGHUP');
      await feed.until(stderr(/swapseq: updated 1\.1\.0 → 1\.2\.0 \(BPF objects replaced\)\n/));
      await feed.until(() => seqsOf(run, '1.2.0').length >= WINDOW);
      const replaced = programsOf(run.child.pid!);
      expect(replaced).toHaveLength(1);
      expect(replaced).not.toContain(progs[0]);
      const relinked = linkIds(replaced);
      expect(relinked).toHaveLength(1);
      expect(relinked).not.toContain(links[0]);
      expect(linkIds(progs)).toEqual([]);
      // The old object's events up to its close, then the new one's from its own first.
      const old = printed(run).filter((p) => p.version !== '1.2.0');
      expect(old.map((p) => p.seq)).toEqual(range(1, old.length));
      expect(seqsOf(run, '1.2.0')).toEqual(range(1000001, seqsOf(run, '1.2.0').length));

      // c. A guest that ends before it first waits, and then an object the verifier refuses:
      // 1.2.0 keeps running, its events continuing.
      for (const v of ['1.3.0', '1.4.0']) {
        expect((await runEbpm(['push', dirs[v]!], { env })).code).toBe(0);
        run.child.kill('SIGHUP');
        const failed = new RegExp(`swapseq: update to ${v.replaceAll('.', '\\.')} failed, 1\\.2\\.0 keeps running: .+\n`);
        await feed.until(stderr(failed));
        const then = seqsOf(run, '1.2.0').length;
        await feed.until(() => seqsOf(run, '1.2.0').length >= then + WINDOW);
        expect(programsOf(run.child.pid!)).toEqual(replaced);
        expect(linkIds(replaced)).toEqual(relinked);
      }
      expect(seqsOf(run, '1.2.0')).toEqual(range(1000001, seqsOf(run, '1.2.0').length));
      expect(printed(run).filter((p) => p.version === '1.3.0' || p.version === '1.4.0')).toEqual([]);

      // d. With --json, each update is a line of its own on stdout.
      const updates = jsonLines(
        run
          .stdout()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .join('\n'),
      ).filter((o) => 'update' in o);
      expect(updates).toEqual([
        { update: { from: '1.0.0', to: '1.1.0', how: 'swapped' } },
        { update: { from: '1.1.0', to: '1.2.0', how: 'replaced' } },
        { update: { from: '1.2.0', to: '1.3.0', how: 'failed', reason: expect.any(String) } },
        { update: { from: '1.2.0', to: '1.4.0', how: 'failed', reason: expect.any(String) } },
      ]);

      run.child.kill('SIGINT');
      expect((await run.exited()).code).toBe(130);
    } finally {
      run.child.kill('SIGKILL');
      sender.kill();
    }
  });
});
