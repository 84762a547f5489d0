// `ebpm run --follow` on a real registry and the real kernel: a newer BPF-only version is pulled
// and swapped in make before break (new programs attached, the old ones gone), and a version the
// verifier rejects leaves the running one as it was, its events continuing. Checks are forced
// with SIGHUP and the test waits on output lines, never on a clock.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliEnv, runEbpm, sandboxDir, spawnEbpm, writeTrustPolicy, type Running } from '../helpers/cli.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { ownCopy, programsOf, tempDir, untimed } from './spawn.js';

/** A copy of sigsnoop named flwsnoop at `version`, its program flw_trace, with `edit` applied to its C source. */
function version(into: string, v: string, edit: (src: string) => string = (s) => s): string {
  const dir = ownCopy('sigsnoop', join(into, v), 'sig_trace', 'flw_trace');
  const manifest = join(dir, 'ebpm.json');
  writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), name: 'flwsnoop', version: v }));
  const source = join(dir, 'sigsnoop.bpf.c');
  writeFileSync(source, edit(readFileSync(source, 'utf8')));
  return dir;
}

/** A shell that sends itself SIGUSR1 once per line it reads. */
function signaller(): ChildProcess {
  return spawn('/bin/sh', ['-c', 'trap ":" USR1; while read x; do kill -USR1 $$; done'], { stdio: ['pipe', 'ignore', 'ignore'] });
}

/** The JSON lines `run` wrote to stdout so far. */
function jsonLines(run: Running): Record<string, unknown>[] {
  return run
    .stdout()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => untimed(JSON.parse(l) as Record<string, unknown>));
}

/** Has `sender` signal itself once, and resolves with `run`'s stdout objects once there are `n`. */
async function signalAndWait(run: Running, sender: ChildProcess, n: number): Promise<Record<string, unknown>[]> {
  sender.stdin!.write('\n');
  while (jsonLines(run).length < n) await new Promise((r) => run.child.stdout!.once('data', r));
  return jsonLines(run);
}

describeWith(['root', 'btf', 'clang', 'native', 'bpftool', 'registry'], 'ebpm run --follow', () => {
  let reg: RunningRegistry;
  let env: Record<string, string>;
  let dirs: Record<string, string>;

  beforeAll(async () => {
    reg = await startRegistry();
    env = cliEnv(sandboxDir('follow-'), { EBPM_REGISTRY: `${reg.host}/follow` });
    const into = tempDir();
    dirs = {
      '1.0.0': version(into, '1.0.0'),
      // Visibly another version: every signal number is reported 100 higher.
      '1.1.0': version(into, '1.1.0', (s) => s.replace('event.sig = sig;', 'event.sig = sig + 100;')),
      // The verifier refuses a write past the event on the stack.
      '1.2.0': version(into, '1.2.0', (s) => s.replace('sizeof(event.comm));', 'sizeof(event.comm) + 4096);')),
    };
  });
  afterAll(() => reg?.stop());

  it('swaps a newer version in make before break, and keeps running when the next one fails to load', async () => {
    expect((await runEbpm(['push', dirs['1.0.0']!], { env })).code).toBe(0);
    const sender = signaller();
    const run = spawnEbpm(['run', 'flwsnoop@^1', '--follow', '--follow-interval', '3600', '--json', '-p', String(sender.pid)], { env });
    try {
      await run.waitFor(/flwsnoop 1\.0\.0: attached flw_trace/);
      const before = programsOf(run.child.pid!);
      expect(before).toHaveLength(1);
      expect((await signalAndWait(run, sender, 1))[0]).toMatchObject({ pid: sender.pid, tpid: sender.pid, sig: 10 });

      expect((await runEbpm(['push', dirs['1.1.0']!], { env })).code).toBe(0);
      run.child.kill('SIGHUP');
      await run.waitFor(/flwsnoop: updated 1\.0\.0 → 1\.1\.0 \(BPF objects replaced\)\n/);
      const after = programsOf(run.child.pid!);
      expect(after).toHaveLength(1);
      expect(after).not.toEqual(before);
      const swapped = await signalAndWait(run, sender, 3);
      expect(swapped[1]).toEqual({ update: { from: '1.0.0', to: '1.1.0', how: 'replaced' } });
      expect(swapped[2]).toMatchObject({ pid: sender.pid, tpid: sender.pid, sig: 110 });

      expect((await runEbpm(['push', dirs['1.2.0']!], { env })).code).toBe(0);
      run.child.kill('SIGHUP');
      await run.waitFor(/flwsnoop: update to 1\.2\.0 failed, 1\.1\.0 keeps running: .*\n/);
      const failed = await signalAndWait(run, sender, 5);
      expect(failed[3]).toMatchObject({ update: { from: '1.1.0', to: '1.2.0', how: 'failed' } });
      expect(failed[4]).toMatchObject({ pid: sender.pid, sig: 110 });
      expect(programsOf(run.child.pid!)).toEqual(after);

      run.child.kill('SIGINT');
      const end = await run.exited();
      expect(end.code).toBe(130);
      expect(end.stderr).toMatch(/flwsnoop: 3 events, 0 lost/);
    } finally {
      run.child.kill('SIGKILL');
      sender.kill();
    }
  });

  it('follows a floating tag, and an update the trust policy refuses leaves the running version as it was', async () => {
    const signed = cliEnv(sandboxDir('follow-trust-'), { EBPM_REGISTRY: `${reg.host}/trust`, EBPM_PASSWORD: 'follow' });
    const home = signed.HOME!;
    expect((await runEbpm(['keygen'], { env: signed, cwd: home })).code).toBe(0);
    writeTrustPolicy(signed, {
      version: 1,
      keys: { release: { path: join(home, 'cosign.pub') } },
      scopes: { [`${reg.host}/trust`]: { require: 'require-signature', keys: ['release'] } },
    });
    expect((await runEbpm(['push', dirs['1.0.0']!, '--sign', '--key', join(home, 'cosign.key')], { env: signed })).code).toBe(0);
    const sender = signaller();
    const run = spawnEbpm(['run', 'flwsnoop:1', '--follow', '--json', '-p', String(sender.pid)], { env: signed });
    try {
      await run.waitFor(/flwsnoop 1\.0\.0: attached flw_trace/);
      const before = programsOf(run.child.pid!);
      expect((await signalAndWait(run, sender, 1))[0]).toMatchObject({ pid: sender.pid, sig: 10 });
      // Unsigned: it moves the tag 1, and the policy refuses it.
      expect((await runEbpm(['push', dirs['1.1.0']!], { env: signed })).code).toBe(0);
      run.child.kill('SIGHUP');
      await run.waitFor(/flwsnoop: update refused, 1\.0\.0 keeps running: .*: not signed \(require-signature by scope .*\)\n/);
      const after = await signalAndWait(run, sender, 3);
      expect(after[1]).toMatchObject({ update: { from: '1.0.0', how: 'refused' } });
      expect(after[2]).toMatchObject({ pid: sender.pid, sig: 10 });
      expect(programsOf(run.child.pid!)).toEqual(before);
      run.child.kill('SIGINT');
      expect((await run.exited()).code).toBe(130);
    } finally {
      run.child.kill('SIGKILL');
      sender.kill();
    }
  });

  it('a check that finds nothing new is one request: the tag list for a range, a HEAD of the tag for a floating tag', async () => {
    const proxy = await startFaultProxy(reg.url);
    const quiet = cliEnv(sandboxDir('follow-quiet-'), { EBPM_REGISTRY: `${proxy.host}/quiet` });
    try {
      expect((await runEbpm(['push', dirs['1.0.0']!], { env: quiet })).code).toBe(0);
      for (const [source, request] of [
        ['flwsnoop@^1', 'GET /v2/quiet/flwsnoop/tags/list'],
        ['flwsnoop:1', 'HEAD /v2/quiet/flwsnoop/manifests/1'],
      ] as const) {
        const run = spawnEbpm(['run', source, '--follow', '--verbose', '-p', '1'], { env: quiet });
        try {
          await run.waitFor(/flwsnoop 1\.0\.0: attached flw_trace/);
          proxy.reset();
          run.child.kill('SIGHUP');
          await run.waitFor(new RegExp(`flwsnoop: 1\\.0\\.0 is still the newest of ${source.replace(/[\^.]/g, '\\$&')}\n`));
          expect(proxy.log.map((r) => `${r.method} ${r.path.replace(/\?.*/, '')}`)).toEqual([request]);
          run.child.kill('SIGINT');
          expect((await run.exited()).code).toBe(130);
        } finally {
          run.child.kill('SIGKILL');
        }
      }
    } finally {
      await proxy.stop();
    }
  });

  it('--follow of a path is a usage error', async () => {
    const r = await runEbpm(['run', dirs['1.0.0']!, '--follow'], { env });
    expect([r.code, r.stderr]).toEqual([
      2,
      `error: run ${dirs['1.0.0']} --follow: not a registry reference\nhint: follow a range or a floating tag of a registry package: name@^1, name:1\n`,
    ]);
  });
});
