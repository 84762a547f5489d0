// `ebpm login` against a real docker-registry with Basic auth: the user name and password asked
// on a pty (the name shown, the password never), --password-stdin through a real pipe, a
// warning for -p, and the registry given as a URL.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runEbpm, spawnEbpm, ttyEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { sandbox } from './helpers.js';

const SECRET = 'wonderland';

describeWith(['registry'], 'ebpm login', () => {
  let reg: RunningRegistry;

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd', users: { alice: SECRET } });
  });
  afterAll(() => reg?.stop());

  const stored = (env: Record<string, string>) => JSON.parse(readFileSync(join(env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as unknown;
  const expected = () => ({ auths: { [reg.host]: { auth: Buffer.from(`alice:${SECRET}`).toString('base64') } } });

  it('asks for the user name (shown) and the password (not shown) on a terminal, given https://host/', async () => {
    const { env } = sandbox();
    const tty = ttyEbpm(['login', `https://${reg.host}/`], { env });
    await tty.seen('Username: ');
    tty.type('alice\r');
    await tty.seen('Password: ');
    tty.type(`${SECRET}\r`);
    expect(await tty.exited()).toBe(0);
    expect(tty.screen().replaceAll('\r\n', '\n')).toBe(
      `Username: alice\nPassword: \nlogged in to ${reg.host} (credentials in ${join(env.DOCKER_CONFIG!, 'config.json')})\n`,
    );
    expect(stored(env)).toEqual(expected());
  });

  it('asks only for what -u left out, and Ctrl-C at the prompt stores nothing', async () => {
    const { env } = sandbox();
    const tty = ttyEbpm(['login', reg.host, '-u', 'alice'], { env });
    await tty.seen('Password: ');
    tty.type('\x03');
    expect(await tty.exited()).toBe(1);
    expect(tty.screen().replaceAll('\r\n', '\n')).toBe(
      'Password: \nerror: login: cancelled at the prompt\nhint: run ebpm login again, or give -u <user> and --password-stdin\n',
    );
    expect(() => stored(env)).toThrow();
  });

  it('reads the password from a pipe with --password-stdin', async () => {
    const { env } = sandbox();
    const run = spawnEbpm(['login', `http://${reg.host}`, '-u', 'alice', '--password-stdin'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    run.child.stdin!.end(`${SECRET}\n`);
    expect(await run.exited()).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      stdout: `logged in to ${reg.host} (credentials in ${join(env.DOCKER_CONFIG!, 'config.json')})\n`,
    });
    expect(stored(env)).toEqual(expected());
  });

  it('warns of -p on the command line, and still logs in', async () => {
    const { env } = sandbox();
    expect(await runEbpm(['login', reg.host, '-u', 'alice', '-p', SECRET], { env })).toEqual({
      code: 0,
      signal: null,
      stderr: 'warning: a password given with -p shows in ps and the shell history; use --password-stdin\n',
      stdout: `logged in to ${reg.host} (credentials in ${join(env.DOCKER_CONFIG!, 'config.json')})\n`,
    });
    expect(await runEbpm(['logout', `https://${reg.host}`], { env })).toEqual({ code: 0, signal: null, stderr: '', stdout: `logged out of ${reg.host}\n` });
  });

  it('without a terminal, says how to give what is missing; refuses a URL with a path', async () => {
    const { env } = sandbox();
    expect(await runEbpm(['login', reg.host], { env })).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: [
        'error: login: no terminal to ask for the user name and password',
        `hint: give -u <user> and the password with --password-stdin, e.g. echo "$TOKEN" | ebpm login ${reg.host} -u <user> --password-stdin`,
        '',
      ].join('\n'),
    });
    expect(await runEbpm(['login', `https://${reg.host}/v2/x`, '-u', 'alice', '--password-stdin'], { env })).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: `error: login "https://${reg.host}/v2/x": not host[:port]\nhint: give the registry host, e.g. ghcr.io, 127.0.0.1:5000 or https://ghcr.io\n`,
    });
    expect((await runEbpm(['login', reg.host, '--password-stdin'], { env })).stderr).toBe(
      `error: login: --password-stdin needs -u <user>\nhint: usage: ebpm login <host[:port] | https://host[:port]> [-u <user>] [-p <password> | --password-stdin] [--json] [--verbose]\n`,
    );
  });
});
