// The agent's commands without a kernel: the errors users meet before anything runs.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cliEnv, runEbpm, sandboxDir } from '../helpers/cli.js';

it('ps, logs, stop and start say the agent is not running, with what to do', async () => {
  const dir = sandboxDir('agent-cli-');
  const socket = join(dir, 'agent.sock');
  for (const args of [['ps'], ['logs', 'sig'], ['stop', 'sig'], ['start', 'sig']]) {
    const r = await runEbpm([...args, '--socket', socket], { env: cliEnv(dir) });
    expect([r.code, r.stderr]).toEqual([
      1,
      `error: agent ${socket}: not running\nhint: start it (\`systemctl start ebpm-agent\`), or give its socket with --socket\n`,
    ]);
  }
});

it('agent refuses a group that does not exist and a bad --metrics, before it listens', async () => {
  const dir = sandboxDir('agent-cli-');
  const flags = ['--instances', dir, '--socket', join(dir, 'agent.sock')];
  const group = await runEbpm(['agent', ...flags, '--group', 'no-such-group-ebpm'], { env: cliEnv(dir) });
  expect([group.code, group.stderr]).toEqual([2, 'error: agent: --group no-such-group-ebpm: no such group\nhint: create it (`groupadd ebpm`) or give a gid\n']);
  const metrics = await runEbpm(['agent', ...flags, '--metrics', '9464'], { env: cliEnv(dir) });
  expect([metrics.code, metrics.stderr]).toEqual([2, 'error: agent: --metrics 9464: expected host:port\nhint: e.g. --metrics 127.0.0.1:9464\n']);
  const usage = await runEbpm(['logs'], { env: cliEnv(dir) });
  expect([usage.code, usage.stderr]).toEqual([
    2,
    'error: logs: expected one instance name\nhint: usage: ebpm logs <name> [-f] [--lines <n>] [--socket <path>] [--json]\n',
  ]);
});
