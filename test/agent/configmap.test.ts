// `ebpm agent` with its instance directory a mounted ConfigMap (the kubelet's layout of links,
// built on the real filesystem): it reads the instances through the links, leaves the kubelet's
// `..` entries out, and follows an update (the `..data` link swapped) on a rescan and by its
// directory watch.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from '../../src/services/agent/control.js';
import { cliEnv, runEbpm, type Running } from '../helpers/cli.js';
import { type ConfigMapVolume, configMapVolume } from '../helpers/configmap.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, ownCopy, programIds, programsOf, released, tempDir } from '../run/spawn.js';

const ATTACHED = /sig: sigsnoop 1\.2\.0: attached cm_sig_trace \(tracepoint\/signal\/signal_generate\)\n/g;

let dir = '';
let layout = '';
let instances = '';
let socket = '';
let volume: ConfigMapVolume;
let agent: Running;

/** `attached` resolves once the agent has logged the instance's attach line `n` times in all. */
function attached(n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => [...agent.stderr().matchAll(ATTACHED)].length >= n && resolve();
    agent.child.stderr!.on('data', check);
    agent.child.once('close', () => reject(new Error(`agent exited before attach #${n}: ${agent.stderr()}`)));
    check();
  });
}

async function ps(): Promise<{ instances: { name: string; state: string; pid: number }[]; problems: unknown[] }> {
  const r = await runEbpm(['ps', '--json', '--socket', socket], { env: cliEnv(join(dir, 'home')) });
  expect([r.code, r.stderr]).toEqual([0, '']);
  return JSON.parse(r.stdout) as Awaited<ReturnType<typeof ps>>;
}

/** The `ebpm run` line the instance's child runs (its argv from `run` on). */
function runLine(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  return argv.slice(argv.indexOf('run'));
}

const instance = (filteredPid: number) => JSON.stringify({ name: 'sig', ref: layout, params: { 'filtered-pid': filteredPid } });

describeWith(['root', 'btf', 'clang', 'native', 'bpftool'], 'ebpm agent on a ConfigMap volume', () => {
  beforeAll(async () => {
    dir = tempDir();
    // Programs of its own name (`cm_…`): other test files load sigsnoop at the same time.
    const pkg = ownCopy('sigsnoop', dir, 'sig_trace', 'cm_sig_trace');
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
    instances = join(dir, 'instances.d');
    volume = configMapVolume(instances, { 'sig.json': instance(1) });
    socket = join(dir, 'agent.sock');
    agent = ebpm(['agent', '--instances', instances, '--socket', socket], { env: cliEnv(join(dir, 'home')) });
    await attached(1);
  }, 120_000);
  afterAll(async () => {
    if (agent && agent.child.exitCode === null) {
      agent.child.kill('SIGTERM');
      await agent.exited();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the instance the volume holds, read through its links; the `..` entries are no instances', async () => {
    const status = await ps();
    expect(status.problems).toEqual([]);
    expect(status.instances).toEqual([expect.objectContaining({ name: 'sig', state: 'running' })]);
    expect(runLine(status.instances[0]!.pid)).toEqual(['run', layout, '--json', '--filtered-pid', '1']);
    // Through bin/ebpm.js, with the agent's node: from the start-up snapshot.
    expect(readFileSync(`/proc/${status.instances[0]!.pid}/cmdline`, 'utf8').split('\0')).toContain('--snapshot-blob');
    expect(programsOf(status.instances[0]!.pid)).toEqual(programIds('cm_sig_trace'));
  });

  it('an update (a new `..data`) restarts the instance with its new parameters', async () => {
    const before = (await ps()).instances[0]!.pid;
    volume.update({ 'sig.json': instance(2) });
    await request(socket, { op: 'rescan' });
    const status = await ps();
    expect(status.problems).toEqual([]);
    expect(status.instances).toEqual([expect.objectContaining({ name: 'sig', state: 'running' })]);
    const after = status.instances[0]!.pid;
    expect(after).not.toBe(before);
    expect(runLine(after)).toEqual(['run', layout, '--json', '--filtered-pid', '2']);
    expect(agent.stderr()).toContain('agent: sig changed\n');
    await attached(2);
    const ids = programIds('cm_sig_trace');
    expect(ids).toHaveLength(1);
    expect(programsOf(after)).toEqual(ids);
  });

  it('the directory watch sees an update by itself: the rename of `..data`', async () => {
    volume.update({ 'sig.json': instance(3) });
    // No rescan asked for: the agent's log says when the watch's scan restarted the instance.
    await agent.waitFor(/agent: sig changed\n[\s\S]*agent: sig changed\n/);
    const [sig] = (await ps()).instances;
    expect(runLine(sig!.pid)).toEqual(['run', layout, '--json', '--filtered-pid', '3']);
    await attached(3);
  });

  it('an update without its key stops and removes the instance', async () => {
    volume.update({});
    await request(socket, { op: 'rescan' });
    expect(await ps()).toEqual({ instances: [], problems: [] });
    expect(released(() => programIds('cm_sig_trace'))).toEqual([]);
    expect(agent.stderr()).toContain('agent: sig removed\n');
  });
});
