// Terminal output (issue 17, item 10): NO_COLOR gets plain text with no escape sequence at all,
// from every command that draws on a terminal, and a failed transfer leaves no spinner above
// its error.
import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runEbpm, ttyEbpm } from '../helpers/cli.js';
import { errorBody, hostileServers } from '../helpers/hostile-server.js';
import { describeWith } from '../helpers/prereq.js';
import { screenOf } from '../helpers/screen.js';
import { ownCopy, sender, tempDir } from '../run/spawn.js';
import { packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

describeWith(['clang'], 'NO_COLOR on a terminal', () => {
  let sb: Sandbox;
  let pkg: BuiltPackage;

  beforeAll(async () => {
    sb = sandbox();
    pkg = await packageLayout(join(sb.root, 'src', 'sigsnoop'), { version: '1.2.0', keywords: ['signal'] });
  });

  it('push, pull, ls and search print plain lines with no escape sequence', async () => {
    const env = { ...sb.env, NO_COLOR: '1', TERM: 'xterm-256color' };
    const screens: string[] = [];
    for (const args of [['push', pkg.dir], ['pull', 'sigsnoop:1.2.0'], ['ls'], ['search', 'signal']]) {
      const tty = ttyEbpm(args, { env, columns: 100 });
      expect(await tty.exited(), args.join(' ')).toBe(0);
      screens.push(tty.screen());
    }
    for (const s of screens) expect(s.includes('\x1b'), s).toBe(false);
    expect(screens[1]).toBe(`pulled local.invalid/sigsnoop:1.2.0 ${pkg.digest} (3 blobs, ${pkg.size} bytes)\r\n`);
    // Without it, the same pull on the same terminal draws its live view.
    const drawn = ttyEbpm(['pull', 'sigsnoop:1.2.0', '--pull', 'always'], { env: { ...sb.env, TERM: 'xterm-256color' }, columns: 100 });
    expect(await drawn.exited()).toBe(0);
    expect(drawn.screen().includes('\x1b[')).toBe(true);
  });
});

describeWith(['root', 'btf', 'clang', 'native'], 'NO_COLOR on a terminal, run', () => {
  it('run prints its rows plain, with no live table and no escape sequence', async () => {
    const dir = tempDir();
    const pkg = ownCopy('sigsnoop', dir, 'sig_trace', 'nc_sig_trace');
    expect((await runEbpm(['build', pkg])).code).toBe(0);
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [28]);
    const header = 'TIME     PID     TPID    SIG       RET      COMM';
    const tty = ttyEbpm(['run', join(pkg, 'out'), '-p', String(send.pid), '-s', '28', '--max-events', '1'], {
      env: { ...sandbox().env, NO_COLOR: '1', TERM: 'xterm-256color' },
      columns: 100,
    });
    await tty.seen(header);
    send.stdin!.end('go\n');
    expect(await tty.exited()).toBe(0);
    target.kill('SIGKILL');
    const lines = tty.screen().split('\r\n');
    expect(tty.screen().includes('\x1b')).toBe(false);
    expect(lines.slice(0, 2)).toEqual(['sigsnoop 1.2.0: attached nc_sig_trace (tracepoint/signal/signal_generate)', header]);
    expect(lines[2]).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${send.pid} +${target.pid} +SIGWINCH +0 +ebpm-sigsend$`));
    expect(lines.slice(3)).toEqual(['sigsnoop: 1 events, 0 lost (stopped: max-events)', '']);
  });
});

describe('a failed transfer on a terminal', () => {
  const hostile = hostileServers();

  it('leaves no spinner line: the last frame is the error alone', async () => {
    let held: ServerResponse | undefined;
    const registry = await hostile((req, res) => {
      if (req.url === '/v2/') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else held = res;
    });
    const sb = sandbox();
    const tty = ttyEbpm(['pull', `${registry.host}/slow:1.0`], { env: { ...sb.env, TERM: 'xterm-256color' }, columns: 100 });
    await tty.seen(`resolving ${registry.host}/slow:1.0`);
    // Answered only once the spinner is on the screen.
    held!.writeHead(404, { 'content-type': 'application/json' }).end(errorBody('MANIFEST_UNKNOWN', 'manifest unknown'));
    expect(await tty.exited()).toBe(1);
    const error = `error: pull ${registry.host}/slow:1.0: resolve ${registry.host}/slow:1.0: resolve slow:1.0: ${registry.host}: manifest slow:1.0 not found`;
    expect(screenOf(tty.screen(), 100)).toEqual([error.slice(0, 100), error.slice(100), 'hint: no such tag or digest in this repository; check the reference']);
  });
});
