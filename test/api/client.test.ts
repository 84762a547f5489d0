// The library's client as a program uses it: push, pull, inspect, search and verify against a
// real registry, and run on the real kernel, each with the configuration of `env` (the sandbox).
import { spawn } from 'node:child_process';
import { closeSync, cpSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEbpm, type Ebpm, type RunEvent } from '../../src/api/index.js';
import { cliEnv, sandboxDir } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { ownCopy, programsOf, tempDir } from '../run/spawn.js';

/** Tries to open `path` (which is not there): one openat event for opensnoop, with ret -2. */
function tryOpen(path: string): void {
  try {
    closeSync(openSync(path, 'r'));
  } catch {
    // ENOENT is the point.
  }
}

describe('openEbpm', () => {
  let registry: RunningRegistry;
  let ebpm: Ebpm;
  let dir: string;

  beforeAll(async () => {
    registry = await startRegistry();
    ebpm = await openEbpm({ env: cliEnv(sandboxDir('api-client-'), { EBPM_REGISTRY: registry.host }) });
    dir = ownCopy('opensnoop', tempDir(), 'trace_openat_', 'apicl_openat_');
  });
  afterAll(() => registry?.stop());

  it('pushes, pulls, inspects, searches and verifies with typed results', async () => {
    const pushed = await ebpm.push(dir);
    expect([pushed.reference, pushed.name, pushed.version, pushed.tags, pushed.unchanged]).toEqual([
      `${registry.host}/opensnoop:2.0.0`,
      'opensnoop',
      '2.0.0',
      ['2.0.0', '2.0', '2', 'latest'],
      false,
    ]);
    const pulled = await ebpm.pull('opensnoop@2');
    expect([pulled.reference, pulled.digest, pulled.from, pulled.upToDate]).toEqual([`${registry.host}/opensnoop:2.0.0`, pushed.digest, 'registry', false]);
    expect((await ebpm.pull('opensnoop@2')).upToDate).toBe(true);
    const inspected = await ebpm.inspect('opensnoop:2.0.0');
    expect([inspected.metadata.name, inspected.digest, inspected.metadata.objects[0]!.programs.map((p) => p.name)]).toEqual([
      'opensnoop',
      pushed.digest,
      ['apicl_openat_enter', 'apicl_openat_exit'],
    ]);
    const found = await ebpm.search('openat');
    expect(found.hits).toEqual([
      {
        name: 'opensnoop',
        version: '2.0.0',
        description: 'Trace openat(2) calls: process, user, flags, path and result',
        keywords: ['file', 'open', 'syscall', 'ring-buffer', 'libbpf-tools'],
        reference: `${registry.host}/opensnoop`,
      },
    ]);
    const verified = await ebpm.verify('opensnoop:2.0.0');
    expect([verified.from, verified.keys, verified.verification.verified]).toEqual(['store', 'policy', false]);
  });

  it('fails with the codes the command has', async () => {
    await expect(ebpm.pull('opensnoop@9')).rejects.toThrowWithCode(
      'VERSION_NOT_FOUND',
      `pull opensnoop@9: resolve ${registry.host}/opensnoop@9: ${registry.host}/opensnoop: no version matches 9`,
    );
    await expect(ebpm.run(dir, { params: { pdi: 1 } })).rejects.toThrowWithCode('INVALID_PARAMETER', {
      message: `run ${dir}: opensnoop has no parameter pdi`,
      hint: 'its parameters: pid, uid, failed',
    });
    await expect(ebpm.run(dir, { params: { pid: 'me' } })).rejects.toThrowWithCode('INVALID_PARAMETER', 'pid: "me": not an integer');
    await expect(ebpm.run(dir, { args: ['-p', '1'] })).rejects.toThrowWithCode('USAGE', {
      message: `run ${dir}: opensnoop has no Wasm program to take arguments`,
      hint: 'set its parameters (params) instead',
    });
  });

  it('runs a package: decoded events in order, then stop() detaches every program', async () => {
    const before = programsOf(process.pid);
    const run = await ebpm.run(dir, { params: { pid: process.pid } });
    tryOpen('/nonexistent/api-a');
    tryOpen('/nonexistent/api-b');
    // Reading fdinfo opens files too: those events are this process's as well.
    const loaded = programsOf(process.pid).filter((id) => !before.includes(id));
    expect(loaded).toHaveLength(2);
    const seen: RunEvent[] = [];
    for await (const e of run.events) {
      if (e.kind === 'event' && String(e.data.fname).startsWith('/nonexistent/')) seen.push(e);
      if (seen.length === 2) break;
    }
    expect(seen.map((e) => (e.kind === 'event' ? [e.data.pid, e.data.fname, e.data.ret] : e.kind))).toEqual([
      [process.pid, '/nonexistent/api-a', -2],
      [process.pid, '/nonexistent/api-b', -2],
    ]);
    const end = await run.done;
    expect([end.stop, end.dropped]).toEqual([{ kind: 'stopped' }, 0]);
    expect(programsOf(process.pid).filter((id) => loaded.includes(id))).toEqual([]);
  });

  it('stops when the signal it was given aborts', async () => {
    const abort = new AbortController();
    const run = await ebpm.run(dir, { params: { pid: process.pid }, signal: abort.signal });
    tryOpen('/nonexistent/api-c');
    const iterator = run.events[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.kind === 'event' && first.value.data.fname).toBe('/nonexistent/api-c');
    abort.abort();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect((await run.stop()).stop).toEqual({ kind: 'stopped' });
  });

  it('runs a package with a Wasm program: its arguments, its lines as events, its exit code', async () => {
    const wasm = join(tempDir(), 'sigsnoop');
    cpSync(join(REPO, 'examples', 'sigsnoop'), wasm, { recursive: true, filter: (src) => !src.endsWith('/out') });
    await expect(ebpm.run(wasm, { params: { pid: 1 } })).rejects.toThrowWithCode('USAGE', {
      message: `run ${wasm}: sigsnoop has a Wasm program, which sets its parameters itself`,
      hint: 'give the Wasm program its arguments (args) instead',
    });
    const run = await ebpm.run(wasm, { args: ['-h'] });
    const lines: string[] = [];
    for await (const e of run.events) if (e.kind === 'line') lines.push(`${e.stream}: ${e.text}`);
    expect(lines).toEqual([
      'stderr: Usage: sigsnoop [-h] [-x] [-k] [-p PID] [-s SIGNAL]',
      'stderr: Trace standard and real-time signals.',
      'stderr: ',
      'stderr:   -x  failed signals only: those whose siginfo carries an errno (as libbpf-tools)',
      'stderr:   -k  SIGKILL only (unlike libbpf-tools, not whatever kill(2) sends)',
      'stderr:   -p  only signals sent by this process ID',
      'stderr:   -s  only this signal number',
    ]);
    expect(await run.done).toEqual({ kind: 'wasm', stop: { kind: 'exit' }, exitCode: 0, lines: 0, dropped: 0 });

    // Its events: the signals this process sends, as the program prints them.
    const target = spawn('sh', ['-c', 'trap "" USR1; read x'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const traced = await ebpm.run(wasm, { args: ['-p', String(process.pid), '-s', '10'], maxEvents: 1 });
    const seen: string[] = [];
    for await (const e of traced.events) {
      if (e.kind !== 'line') continue;
      seen.push(`${e.stream}: ${e.text}`);
      // The line it prints once attached: now the signal is seen.
      if (e.stream === 'stderr') process.kill(target.pid!, 'SIGUSR1');
    }
    target.stdin!.end('\n');
    const comm = readFileSync('/proc/self/comm', 'utf8').trim();
    expect(seen).toEqual([
      'stderr: running and waiting for the ebpf events from perf event...',
      `stdout: {"pid":${process.pid},"tpid":${target.pid},"sig":10,"ret":0,"comm":${JSON.stringify(comm)},"sig_name":"SIGUSR1"}`,
    ]);
    expect(await traced.done).toEqual({ kind: 'wasm', stop: { kind: 'max-events' }, exitCode: 0, lines: 1, dropped: 0 });
  }, 60_000);
});
