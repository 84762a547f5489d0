// `ebpm run --filter`, `--fields` and `-o` on the real kernel: signals the test sends, filtered,
// picked and printed in each format, with the stop line's count of what the filter left out;
// and the exact refusals of fields and operators the events do not have.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, ownCopy, sender, tempDir } from './spawn.js';

let dir = '';
let layout = '';

const ATTACHED = 'sigsnoop 1.2.0: attached ev_sig_trace (tracepoint/signal/signal_generate)\n';
const ISO = /"?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"?/g;
const CLOCK = /^\d\d:\d\d:\d\d /gm;

/** Runs sigsnoop on the signals a sender of its own sends a sleeping target, with `flags`; its stdout with times as `T`. */
async function signals(sent: readonly number[], flags: readonly string[]) {
  const target = spawn('sleep', ['30']);
  const send = sender(dir, target.pid!, sent);
  const run = ebpm(['run', layout, '--filtered-pid', String(send.pid), ...flags]);
  await run.waitFor(/attached/);
  send.stdin!.end('go\n');
  const r = await run.exited();
  target.kill('SIGKILL');
  return { ...r, stdout: r.stdout.replace(ISO, 'T').replace(CLOCK, 'T '), send: send.pid!, target: target.pid! };
}

describeWith(['root', 'btf', 'clang', 'native'], 'ebpm run: --filter, --fields and -o on kernel events', () => {
  beforeAll(() => {
    dir = tempDir();
    // Programs of its own name: other test files load sigsnoop at the same time.
    const pkg = ownCopy('sigsnoop', dir, 'sig_trace', 'ev_sig_trace');
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints only the events that match, in the fields asked for, signals by name, and counts the others', async () => {
    const r = await signals([28, 18, 23, 18], ['--filter', 'sig==SIGCONT,comm~^ebpm-sig', '--fields', 'sig,comm,pid', '--max-events', '2']);
    expect(r.code).toBe(0);
    const row = `T SIGCONT   ebpm-sigsend     ${r.send}\n`;
    expect(r.stdout).toBe(`TIME     SIG       COMM             PID\n${row}${row}`);
    expect(r.stderr).toBe(`${ATTACHED}sigsnoop: 2 events, 0 lost, 2 filtered out (stopped: max-events)\n`);
  });

  it('-o json: each event with its timestamp, the picked fields only; numbers compare as numbers', async () => {
    const r = await signals([28, 18, 23], ['--filter', 'sig>18,sig<=28', '--fields=-tpid,-ret', '-o', 'json', '--max-events', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`{"timestamp":T,"pid":${r.send},"sig":28,"comm":"ebpm-sigsend"}\n{"timestamp":T,"pid":${r.send},"sig":23,"comm":"ebpm-sigsend"}\n`);
    expect(r.stderr).toBe(`${ATTACHED}sigsnoop: 2 events, 0 lost, 1 filtered out (stopped: max-events)\n`);
  });

  it('-o yaml and -o jsonpretty: one document, one indented object per event', async () => {
    const yaml = await signals([23, 28], ['--filter', 'sig!=23', '--fields', 'sig,comm', '-o', 'yaml', '--max-events', '1']);
    expect(yaml.stdout).toBe('---\ntimestamp: T\nsig: 28\ncomm: ebpm-sigsend\n');
    expect(yaml.stderr).toBe(`${ATTACHED}sigsnoop: 1 events, 0 lost, 1 filtered out (stopped: max-events)\n`);
    const pretty = await signals([28], ['--fields', 'tpid,comm', '-o', 'jsonpretty', '--max-events', '1']);
    expect(pretty.stdout).toBe(`{\n  "timestamp": T,\n  "tpid": ${pretty.target},\n  "comm": "ebpm-sigsend"\n}\n`);
    expect(pretty.stderr).toBe(`${ATTACHED}sigsnoop: 1 events, 0 lost (stopped: max-events)\n`);
  });

  it('-o wide: the plain columns; --json is -o json', async () => {
    const wide = await signals([28], ['-o', 'wide', '--fields=-pid,-tpid,-ret,-sig,+sig', '--max-events', '1']);
    expect(wide.stdout).toBe('TIME     COMM             SIG\nT ebpm-sigsend     SIGWINCH\n');
    const json = await signals([28], ['--json', '--fields', 'sig', '--max-events', '1']);
    expect(json.stdout).toBe('{"timestamp":T,"sig":28}\n');
  });

  it('shows negative returns as errno names and open flags as strace does; filters on the names, JSON keeps the numbers', async () => {
    const opened = join(dir, 'evt-opened');
    const script = join(dir, 'ebpm-evt-opener');
    writeFileSync(script, `#!/bin/sh\nread go\n: < ${opened}\n: < ${dir}/evt-absent\n`, { mode: 0o755 });
    writeFileSync(opened, 'x');
    const opener = spawn(script, [], { stdio: ['pipe', 'ignore', 'ignore'] });
    const pkg = join(REPO, 'examples', 'opensnoop');
    const run = ebpm(['run', pkg, '--pid', String(opener.pid), '--filter', 'fname~evt-,ret==-ENOENT', '--fields', 'ret,flags,fname']);
    const json = ebpm(['run', pkg, '--pid', String(opener.pid), '--filter', 'fname~evt-', '--fields', 'ret,flags', '--json', '--max-events', '2']);
    await Promise.all([run.waitFor(/attached/), json.waitFor(/attached/)]);
    opener.stdin!.end('go\n');
    const j = await json.exited();
    run.child.kill('SIGINT');
    const r = await run.exited();
    expect(r.stdout.replace(CLOCK, 'T ')).toBe(`TIME     RET      FLAGS              FNAME\nT -ENOENT  O_RDONLY           ${dir}/evt-absent\n`);
    expect(r.stderr).toMatch(/^opensnoop 2\.0\.0: attached 2 programs: .*\nopensnoop: 1 events, 0 lost, \d+ filtered out \(stopped: SIGINT\)\n$/);
    expect(j.stdout.replace(ISO, 'T')).toMatch(/^\{"timestamp":T,"ret":\d+,"flags":0\}\n\{"timestamp":T,"ret":-2,"flags":0\}\n$/);
  });

  it('refuses a field the events do not have, an operator, an order on text: exit 2 naming the fields', () => {
    const fields = "hint: its events' fields: pid, tpid, sig, ret, comm\n";
    const refused = (flags: string[]) => {
      const r = ebpmSync(['run', layout, ...flags]);
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    };
    expect(refused(['--filter', 'sig==18,cpu==1'])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: run: --filter "sig==18,cpu==1": the events have no field cpu\n${fields}`,
    });
    expect(refused(['--filter', 'pid=1'])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: run: --filter "pid=1": "pid=1" is not <field><operator><value>\nhint: operators: == != <= >= < > ~; its events' fields: pid, tpid, sig, ret, comm\n`,
    });
    expect(refused(['--filter', 'comm>a'])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: run: --filter "comm>a": > compares numbers, and comm is not a number\nhint: compare text with ==, != or ~; its events' fields: pid, tpid, sig, ret, comm\n`,
    });
    expect(refused(['--filter', 'comm~(']).stderr).toMatch(
      /^error: run: --filter "comm~\(": "\(" is not a regular expression \(.+\)\nhint: write a JavaScript regular expression: ~\^\/etc\/\n$/,
    );
    expect(refused(['--sort', 'pid'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: run: --sort does not apply to sigsnoop: it prints no counter table or histogram map\nhint: choose the events to print with --filter and --fields\n',
    });
    expect(refused(['--fields', 'pid,cmd'])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: run: --fields "pid,cmd": the events have no field cmd\n${fields}`,
    });
    expect(refused(['--fields', 'pid,-comm'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: run: --fields "pid,-comm": names and +/- changes together\nhint: give the fields to print (pid,comm), or changes to the default set (-ret,+cpu)\n',
    });
  });
});
