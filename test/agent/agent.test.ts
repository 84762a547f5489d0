// `ebpm agent` on the real kernel: instances from files, restarts, removal, and ps, logs, stop,
// start over the socket as an unprivileged member of its group, and /metrics.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../../src/services/agent/control.js';
import { cliEnv, runEbpm, type Running } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { REPO } from '../helpers/objects.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { bpfOnlyCopy, ebpm, ebpmSync, ownCopy, programIds, programsOf, released, sender, tempDir, untimed } from '../run/spawn.js';

const ATTACHED = 'sigsnoop 1.2.0: attached ag_sig_trace (tracepoint/signal/signal_generate)';

let dir = '';
let layout = '';
let runqlat = '';
let wasmLayout = '';
let instances = '';
let socket = '';
let gid = 0;
let agent: Running;
let metrics = '';
let target: ChildProcess;
let send: ChildProcess;

/** A gid no group of this machine has: the socket's group, without touching /etc/group. */
function freeGid(): number {
  const taken = new Set(
    readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => Number(l.split(':')[2])),
  );
  let g = 47_000;
  while (taken.has(g)) g++;
  return g;
}

/** `member` runs the CLI as nobody with `gid` as its only group; `outsider` as nobody in no group of the agent's. */
const member = () => ['setpriv', '--reuid=65534', `--regid=${gid}`, `--groups=${gid}`, '--inh-caps=-all'];
const outsider = () => ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

/** `seen` resolves once `stream` of the agent has matched `re` `n` times in all. */
function seen(stream: 'stdout' | 'stderr', re: RegExp, n = 1): Promise<void> {
  const count = () => [...agent[stream]().matchAll(new RegExp(re, 'g'))].length;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (count() >= n) resolve();
    };
    agent.child[stream]!.on('data', check);
    agent.child.once('close', () => reject(new Error(`agent exited before ${re} x${n}: ${agent.stderr()}`)));
    check();
  });
}

async function ps(): Promise<Record<string, unknown>> {
  const r = await runEbpm(['ps', '--json', '--socket', socket], { prefix: member(), env: cliEnv(dir) });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function writeInstance(file: string, body: unknown): void {
  writeFileSync(join(instances, file), JSON.stringify(body));
}

describeWith(['root', 'btf', 'clang', 'native', 'bpftool', 'wasi'], 'ebpm agent on the kernel', () => {
  beforeAll(async () => {
    dir = tempDir();
    // Programs of its own name (`ag_…`): other test files load sigsnoop at the same time.
    const pkg = ownCopy('sigsnoop', dir, 'sig_trace', 'ag_sig_trace');
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
    // sigsnoop with its Wasm program, its program named ag_wsig_trace.
    const wasm = join(dir, 'wsig');
    cpSync(join(REPO, 'examples', 'sigsnoop'), wasm, { recursive: true, filter: (src) => !src.endsWith('/out') });
    writeFileSync(join(wasm, 'sigsnoop.bpf.c'), readFileSync(join(wasm, 'sigsnoop.bpf.c'), 'utf8').replaceAll('sig_trace', 'ag_wsig_trace'));
    expect(ebpmSync(['build', wasm]).code).toBe(0);
    wasmLayout = join(wasm, 'out');
    const rq = bpfOnlyCopy('runqlat', dir);
    expect(ebpmSync(['build', rq]).code).toBe(0);
    runqlat = join(rq, 'out');
    instances = join(dir, 'instances.d');
    mkdirSync(instances);
    socket = join(dir, 'run', 'agent.sock');
    gid = freeGid();
    spawnSync('chmod', ['-R', 'a+rX', dir]);
    agent = ebpm(['agent', '--instances', instances, '--socket', socket, '--group', String(gid), '--metrics', '127.0.0.1:0'], {
      env: cliEnv(join(dir, 'home')),
    });
    await seen('stderr', /agent: listening on \S+, metrics on http:\/\/\S+\/metrics\n/);
    metrics = /metrics on http:\/\/(\S+)\/metrics\n/.exec(agent.stderr())![1]!;
    target = spawn('sleep', ['600']);
    send = sender(dir, target.pid!, [18, 18, 28]);
  }, 120_000);
  afterAll(async () => {
    target?.kill('SIGKILL');
    send?.kill('SIGKILL');
    if (agent && agent.child.exitCode === null) {
      agent.child.kill('SIGTERM');
      await agent.exited();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts an instance from its file; ps shows it running and counting the events it traced', async () => {
    writeInstance('sig.json', { name: 'sig', ref: layout, params: { 'filtered-pid': send.pid } });
    await request(socket, { op: 'rescan' });
    await seen('stderr', new RegExp(`sig: ${ATTACHED.replace(/[()]/g, '\\$&')}\n`));
    send.stdin!.end('go\n');
    await once(send, 'exit');
    // The sender's exit is traced too: the SIGCHLD it sends this process.
    await seen('stdout', /\n/g, 4);
    const event = { pid: send.pid, tpid: target.pid, ret: 0, comm: 'ebpm-sigsend' };
    expect(
      agent
        .stdout()
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { instance: string; line: Record<string, unknown> })
        .map((l) => ({ ...l, line: untimed(l.line) })),
    ).toEqual([...[18, 18, 28].map((sig) => ({ ...event, sig })), { ...event, tpid: process.pid, sig: 17 }].map((line) => ({ instance: 'sig', line })));
    const { instances: list, problems } = (await ps()) as { instances: Record<string, unknown>[]; problems: unknown[] };
    expect(problems).toEqual([]);
    expect(list).toEqual([
      {
        name: 'sig',
        ref: layout,
        state: 'running',
        pid: expect.any(Number),
        version: '1.2.0',
        events: 4,
        lost: 0,
        restarts: 0,
        updates: 0,
        refusals: 0,
        uptimeSeconds: expect.any(Number),
      },
    ]);
    const ids = programIds('ag_sig_trace');
    expect(ids).toHaveLength(1);
    expect(programsOf(list[0]!.pid as number)).toEqual(ids);
  });

  it('restarts a child that was killed, and counts the restart', async () => {
    const { instances: before } = (await ps()) as { instances: { pid: number }[] };
    process.kill(before[0]!.pid, 'SIGKILL');
    await seen('stderr', /agent: sig failed \(signal SIGKILL\); restart in 1s\n/);
    await seen('stderr', new RegExp(`sig: ${ATTACHED.replace(/[()]/g, '\\$&')}\n`, 'g'), 2);
    const { instances: after } = (await ps()) as { instances: Record<string, unknown>[] };
    expect(after).toEqual([expect.objectContaining({ state: 'running', version: '1.2.0', events: 4, lost: 0, restarts: 1, lastExit: 'signal SIGKILL' })]);
    expect(after[0]!.pid).not.toBe(before[0]!.pid);
    expect(programsOf(after[0]!.pid as number)).toEqual(programIds('ag_sig_trace'));
  });

  it('logs: the recent lines of the instance, for a member of the group', async () => {
    const r = await runEbpm(['logs', 'sig', '--socket', socket], { prefix: member(), env: cliEnv(dir) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const event = { pid: send.pid, tpid: target.pid, ret: 0, comm: 'ebpm-sigsend' };
    expect(lines[0]).toBe(ATTACHED);
    expect(lines.slice(1, 5).map((l) => untimed(JSON.parse(l) as Record<string, unknown>))).toEqual([
      ...[18, 18, 28].map((sig) => ({ ...event, sig })),
      { ...event, tpid: process.pid, sig: 17 },
    ]);
    expect(lines.slice(5)).toEqual([ATTACHED]);
  });

  it('logs -f: follows the lines that come', async () => {
    const follow = ebpm(['logs', 'sig', '-f', '--lines', '1', '--socket', socket], { prefix: member(), env: cliEnv(dir) });
    const printed = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => follow.stdout().includes(text) && resolve();
        follow.child.stdout!.on('data', check);
        check();
      });
    // The last line printed means the agent follows the instance for this client.
    await printed(`${ATTACHED}\n`);
    const { instances: list } = (await ps()) as { instances: { pid: number }[] };
    process.kill(list[0]!.pid, 'SIGINT');
    await printed('(stopped: SIGINT)\n');
    follow.child.kill('SIGTERM');
    await follow.exited();
    expect(follow.stdout().split('\n').slice(0, 2)).toEqual([ATTACHED, 'sigsnoop: 0 events, 0 lost (stopped: SIGINT)']);
    await seen('stderr', new RegExp(`sig: ${ATTACHED.replace(/[()]/g, '\\$&')}\n`, 'g'), 3);
  });

  it('stop and start over the socket as a member of its group; others are refused', async () => {
    const refused = await runEbpm(['ps', '--socket', socket], { prefix: outsider(), env: cliEnv(dir) });
    expect(refused.stderr).toBe(`error: agent ${socket}: permission denied\nhint: ask for membership of the socket's group (the agent's --group)\n`);
    expect(refused.code).toBe(1);

    const stop = await runEbpm(['stop', 'sig', '--socket', socket], { prefix: member(), env: cliEnv(dir) });
    expect([stop.code, stop.stderr]).toEqual([0, 'sig: stopped\n']);
    expect(released(() => programIds('ag_sig_trace'))).toEqual([]);
    expect(((await ps()) as { instances: unknown[] }).instances).toEqual([expect.objectContaining({ name: 'sig', state: 'stopped', uptimeSeconds: 0 })]);

    const start = await runEbpm(['start', 'sig', '--socket', socket, '--json'], { prefix: member(), env: cliEnv(dir) });
    expect([start.code, start.stderr, JSON.parse(start.stdout)]).toEqual([0, '', { name: 'sig', state: 'started' }]);
    await seen('stderr', new RegExp(`sig: ${ATTACHED.replace(/[()]/g, '\\$&')}\n`, 'g'), 4);
    expect(((await ps()) as { instances: unknown[] }).instances).toEqual([expect.objectContaining({ name: 'sig', state: 'running', restarts: 2 })]);

    const unknown = await runEbpm(['stop', 'nope', '--socket', socket], { prefix: member(), env: cliEnv(dir) });
    expect([unknown.code, unknown.stderr]).toEqual([1, 'error: instance nope: not found\nhint: run `ebpm ps` for the instances the agent runs\n']);
  });

  it('a bad file is reported; the other instances keep running; /metrics has their counters', async () => {
    writeInstance('bad.json', { name: 'bad' });
    await request(socket, { op: 'rescan' });
    const status = (await ps()) as { instances: unknown[]; problems: unknown[] };
    expect(status.problems).toEqual([{ file: 'bad.json', message: 'instance bad.json: ref: expected a package reference or an OCI layout path' }]);
    expect(status.instances).toEqual([expect.objectContaining({ name: 'sig', state: 'running' })]);
    expect(agent.stderr()).toContain('agent: instance bad.json: ref: expected a package reference or an OCI layout path\n');

    // A file that turns unreadable (half written) keeps its instance running as it was; fixed, nothing restarts.
    const { instances: before } = (await ps()) as { instances: { pid: number }[] };
    const good = readFileSync(join(instances, 'sig.json'), 'utf8');
    writeFileSync(join(instances, 'sig.json'), good.slice(0, 10));
    await request(socket, { op: 'rescan' });
    const broken = (await ps()) as { instances: unknown[]; problems: { file: string }[] };
    expect(broken.problems.map((p) => p.file)).toEqual(['bad.json', 'sig.json']);
    expect(broken.instances).toEqual([expect.objectContaining({ name: 'sig', state: 'running', pid: before[0]!.pid })]);
    writeFileSync(join(instances, 'sig.json'), good);
    await request(socket, { op: 'rescan' });
    expect(((await ps()) as { instances: unknown[] }).instances).toEqual([expect.objectContaining({ name: 'sig', state: 'running', pid: before[0]!.pid })]);

    const res = await fetch(`http://${metrics}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheus(await res.text());
    const value = (name: string) => families.get(name)?.samples.get(`${name}{instance="sig"}`);
    expect([...families.keys()]).toEqual([
      'ebpm_instance_events_total',
      'ebpm_instance_lost_total',
      'ebpm_instance_restarts_total',
      'ebpm_instance_updates_total',
      'ebpm_instance_refusals_total',
      'ebpm_instance_up',
      'ebpm_instance_map_histogram',
    ]);
    expect(families.get('ebpm_instance_events_total')!.type).toBe('counter');
    expect(['events', 'lost', 'restarts', 'updates', 'refusals'].map((c) => value(`ebpm_instance_${c}_total`)).concat(value('ebpm_instance_up')!)).toEqual([
      4, 0, 2, 0, 0, 1,
    ]);
  });

  it('removing the file and rescanning stops the instance: its programs are gone', async () => {
    rmSync(join(instances, 'sig.json'));
    await request(socket, { op: 'rescan' });
    expect(released(() => programIds('ag_sig_trace'))).toEqual([]);
    expect(((await ps()) as { instances: unknown[] }).instances).toEqual([]);
    expect(agent.stderr()).toContain('agent: sig removed\n');
  });

  it("/metrics: an instance's histogram map as a Prometheus histogram, its last snapshot", async () => {
    writeInstance('rq.json', { name: 'rq', ref: runqlat, duration: 2 });
    await request(socket, { op: 'rescan' });
    // A run with a duration ends by itself (exit code 0) and is not restarted: its last snapshot stays.
    await seen('stderr', /agent: rq ended \(exit code 0\)\n/);
    const last = agent
      .stdout()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { instance: string; line: { key: number; value: { slots: number[] } } })
      .filter((l) => l.instance === 'rq')
      .at(-1)!.line;
    const families = parsePrometheus(await (await fetch(`http://${metrics}/metrics`)).text());
    const labels = `instance="rq",key="${last.key}",map=""`;
    const sum = (n: number) => last.value.slots.slice(0, n).reduce((a, b) => a + b, 0);
    const expected: Record<string, number> = {};
    last.value.slots.forEach((_, i) => {
      expected[`ebpm_instance_map_histogram_bucket{instance="rq",key="${last.key}",le="${2 ** (i + 1) - 1}",map=""}`] = sum(i + 1);
    });
    expected[`ebpm_instance_map_histogram_bucket{instance="rq",key="${last.key}",le="+Inf",map=""}`] = sum(last.value.slots.length);
    expected[`ebpm_instance_map_histogram_count{${labels}}`] = sum(last.value.slots.length);
    expect(sum(last.value.slots.length)).toBeGreaterThan(0);
    expect(Object.fromEntries(families.get('ebpm_instance_map_histogram')!.samples)).toEqual(expected);
    expect(families.get('ebpm_instance_up')!.samples.get('ebpm_instance_up{instance="rq"}')).toBe(0);
    expect(((await ps()) as { instances: unknown[] }).instances).toEqual([
      expect.objectContaining({ name: 'rq', state: 'exited', events: 0, lastExit: 'exit code 0' }),
    ]);
  });

  it("runs a package with a Wasm program: the guest's lines are the instance's events, ps has its version", async () => {
    const wsend = sender(dir, target.pid!, [12]);
    writeInstance('wsig.json', { name: 'wsig', ref: wasmLayout, args: ['-p', String(wsend.pid)] });
    await request(socket, { op: 'rescan' });
    await seen('stderr', /wsig: running and waiting for the ebpf events from perf event\.\.\.\n/);
    wsend.stdin!.end('go\n');
    await once(wsend, 'exit');
    const mine = () =>
      agent
        .stdout()
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { instance: string; line: unknown })
        .filter((l) => l.instance === 'wsig')
        .map((l) => l.line);
    // The signal, and the SIGCHLD of the sender's exit.
    await seen('stdout', /"instance":"wsig"/g, 2);
    const event = { pid: wsend.pid, ret: 0, comm: 'ebpm-sigsend' };
    expect(mine()).toEqual([
      { ...event, tpid: target.pid, sig: 12, sig_name: 'SIGUSR2' },
      { ...event, tpid: process.pid, sig: 17, sig_name: 'SIGCHLD' },
    ]);
    const { instances: list } = (await ps()) as { instances: Record<string, unknown>[] };
    expect(list.find((i) => i.name === 'wsig')).toEqual(expect.objectContaining({ state: 'running', version: '1.2.0', events: 2, restarts: 0 }));
    rmSync(join(instances, 'wsig.json'));
    await request(socket, { op: 'rescan' });
    expect(released(() => programIds('ag_wsig_trace'))).toEqual([]);
  });

  it('SIGTERM stops the agent cleanly and removes its socket', async () => {
    agent.child.kill('SIGTERM');
    const r = await agent.exited();
    expect(r.code).toBe(0);
    expect(r.stderr.endsWith('agent: stopped (SIGTERM)\n')).toBe(true);
    expect(existsSync(socket)).toBe(false);
  });
});
