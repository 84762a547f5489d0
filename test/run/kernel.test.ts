// `ebpm run` on the real kernel: every example run through the CLI bundle, the events it traces
// caused by the test and their decoded fields asserted; filters, histograms, signals, clean
// detach, and the errors users meet.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileBpf } from '../../src/build/toolchain.js';
import { REPO, exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { cliEnv, runEbpm, ttyEbpm, RUN_FLAGS_IN_PACKAGE_HELP } from '../helpers/cli.js';
import { screenOf } from '../helpers/screen.js';
import { bpfOnlyCopy, ebpm, ebpmSync, jsonLines, linkIds, ownCopy, programIds, programsOf, released, sender, tempDir } from './spawn.js';

let dir = '';
const layout: Record<string, string> = {};
const objects: Record<string, string> = {};

describeWith(['root', 'btf', 'clang', 'native', 'bpftool', 'wasi'], 'ebpm run on the kernel', () => {
  beforeAll(async () => {
    dir = tempDir();
    // The programs bpftool counts get names of their own (`kt_…`): other test files load
    // sigsnoop and execsnoop at the same time.
    const copies = {
      sigsnoop: ownCopy('sigsnoop', dir, 'sig_trace', 'kt_sig_trace'),
      execsnoop: ownCopy('execsnoop', dir, 'tracepoint__syscalls__sys_', 'kt_'),
      runqlat: bpfOnlyCopy('runqlat', dir),
      bootstrap: bpfOnlyCopy('bootstrap', dir),
    };
    for (const [name, pkg] of Object.entries(copies)) {
      expect(ebpmSync(['build', pkg]).code).toBe(0);
      layout[name] = join(pkg, 'out');
    }
    layout.opensnoop = join(REPO, 'examples', 'opensnoop');
    for (const name of ['broken', 'notp', 'helper']) {
      objects[name] = join(dir, `${name}.bpf.o`);
      await compileBpf(join(REPO, 'test', 'run', 'fixtures', `${name}.bpf.c`), objects[name], { env: process.env });
    }
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sigsnoop: decodes the signals of the filtered pid only, exits at --max-events, leaves nothing loaded', async () => {
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [18, 18, 28]);
    const run = ebpm(['run', layout.sigsnoop!, '--json', '--filtered-pid', String(send.pid), '--max-events', '3']);
    await run.waitFor(/attached/);
    const during = programIds('kt_sig_trace');
    expect(during).toHaveLength(1);
    expect(linkIds(during)).toHaveLength(1);
    // A decoy from another process: the pid filter must keep it out of the three events.
    process.kill(target.pid!, 'SIGCONT');
    send.stdin!.end('go\n');
    const r = await run.exited();
    target.kill('SIGKILL');
    expect(r.code).toBe(0);
    const event = { pid: send.pid, tpid: target.pid, ret: 0, comm: 'ebpm-sigsend' };
    expect(jsonLines(r.stdout)).toEqual([
      { ...event, sig: 18 },
      { ...event, sig: 18 },
      { ...event, sig: 28 },
    ]);
    expect(r.stderr).toBe(`sigsnoop 1.2.0: attached kt_sig_trace (tracepoint/signal/signal_generate)\nsigsnoop: 3 events, 0 lost (stopped: max-events)\n`);
    expect(released(() => programIds('kt_sig_trace'))).toEqual([]);
    expect(linkIds(during)).toEqual([]);
  });

  it('sigsnoop: SIGINT prints and counts exactly the events produced before it', async () => {
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [18, 28, 18, 28, 18]);
    const run = ebpm(['run', layout.sigsnoop!, '--json', '--filtered-pid', String(send.pid)]);
    await run.waitFor(/attached/);
    send.stdin!.end('go\n');
    await once(send, 'exit');
    run.child.kill('SIGINT');
    const r = await run.exited();
    target.kill('SIGKILL');
    expect(r.code).toBe(130);
    const event = { pid: send.pid, tpid: target.pid, ret: 0, comm: 'ebpm-sigsend' };
    expect(jsonLines(r.stdout)).toEqual([
      { ...event, sig: 18 },
      { ...event, sig: 28 },
      { ...event, sig: 18 },
      { ...event, sig: 28 },
      { ...event, sig: 18 },
      { ...event, tpid: process.pid, sig: 17 }, // SIGCHLD to us as it exits
    ]);
    expect(r.stderr).toBe(`sigsnoop 1.2.0: attached kt_sig_trace (tracepoint/signal/signal_generate)\nsigsnoop: 6 events, 0 lost (stopped: SIGINT)\n`);
  });

  it('sigsnoop: prints aligned columns with a TIME header when piped', async () => {
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [28, 10]);
    const run = ebpm(['run', layout.sigsnoop!, '-p', String(send.pid), '--max-events', '2']);
    await run.waitFor(/attached/);
    send.stdin!.end('go\n');
    const r = await run.exited();
    target.kill('SIGKILL');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('TIME     PID     TPID    SIG       RET      COMM');
    // Signals by name, as `kill -l` names them; a return of 0 as a number.
    const row = (sig: string) => `${String(send.pid).padEnd(7)} ${String(target.pid).padEnd(7)} ${sig.padEnd(9)} 0        ebpm-sigsend`;
    expect(lines.slice(1).map((l) => l.replace(/^\d\d:\d\d:\d\d /, ''))).toEqual([row('SIGWINCH'), row('SIGUSR1'), '']);
    expect(lines.slice(1, 3).every((l) => /^\d\d:\d\d:\d\d /.test(l))).toBe(true);
  });

  it('draws the live table on a terminal and stops on Ctrl-C with 130', async () => {
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [28]);
    const tty = ttyEbpm(['run', layout.sigsnoop!, '-p', String(send.pid), '-s', '28']);
    await tty.seen('TIME     PID     TPID    SIG       RET      COMM');
    send.stdin!.end('go\n');
    await tty.seen('1 events, 0 lost');
    expect(tty.screen()).toMatch(new RegExp(`\\d\\d:\\d\\d:\\d\\d ${send.pid} +${target.pid} +SIGWINCH +0 +ebpm-sigsend`));
    tty.type('\x03');
    const code = await tty.exited();
    target.kill('SIGKILL');
    expect(code).toBe(130);
    expect(tty.screen()).toContain('sigsnoop: 1 events, 0 lost (stopped: SIGINT)');
  });

  it('on a terminal prints the first row plain, before the live table takes it over', async () => {
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [28]);
    const tty = ttyEbpm(['run', layout.sigsnoop!, '-p', String(send.pid), '-s', '28']);
    const title = 'sigsnoop 1.2.0: attached kt_sig_trace (tracepoint/signal/signal_generate)';
    const header = 'TIME     PID     TPID    SIG       RET      COMM';
    await tty.seen(`${title}\r\n${header}\r\n`);
    // Nothing of the live table yet: it loads only after the first row.
    expect(tty.screen()).toBe(`${title}\r\n${header}\r\n`);
    send.stdin!.end('go\n');
    await tty.seen('1 events, 0 lost');
    tty.type('\x03');
    expect(await tty.exited()).toBe(130);
    target.kill('SIGKILL');
    const row = `\\d\\d:\\d\\d:\\d\\d ${send.pid} +${target.pid} +SIGWINCH +0 +ebpm-sigsend`;
    // The plain row, then up three lines and erase (title, header, row), then the table with that row in it.
    expect(tty.screen()).toMatch(new RegExp(`^${title.replace(/[()]/g, '\\$&')}\r\n${header}\r\n${row}\r\n\x1b\\[3A\r\x1b\\[J`));
    const table = tty.screen().slice(tty.screen().indexOf('\x1b[J'));
    expect(table).toMatch(new RegExp(`${row}\r\n(\x1b\\[\\d+m)*1 events, 0 lost`));
  });

  it('at 60 columns the live table cuts its header as it cuts its rows, never wrapping it', async () => {
    // Only execs of a uid nobody else uses: one event, whatever else the machine runs.
    const uid = '54321';
    const tty = ttyEbpm(['run', layout.execsnoop!, '--uid', uid], { columns: 60 });
    try {
      const header = 'TIME     PID     PPID    UID     RETVAL  COMM             F…';
      await tty.seen(header);
      execFileSync('setpriv', ['--reuid', uid, '--regid', uid, '--clear-groups', '/bin/true']);
      await tty.seen('1 events, 0 lost');
      tty.type('\x03');
      expect(await tty.exited()).toBe(130);
      const screen = screenOf(tty.screen(), 60);
      // The live table's last frame (its title and header printed plain before it are erased), then the stop line.
      expect(screen.slice(0, 2)).toEqual(['execsnoop 1.0.0: attached 2 programs: kt_enter_execve (trac…', header]);
      expect(screen[2]).toMatch(/^\d\d:\d\d:\d\d \d+ +\d+ +54321 +0 +(setpriv|true) +\/…$/);
      expect(screen[3]).toBe('1 events, 0 lost · Ctrl-C to stop');
      // The terminal echoes the Ctrl-C typed where the cursor stood.
      expect(screen.slice(4).join('\n')).toMatch(/^(\^C)?execsnoop: 1 events, 0 lost \(stopped: SIGINT\)$/);
    } finally {
      // A failed assertion must not leave the run attached for the tests after it.
      tty.child.kill();
    }
  });

  it('opensnoop: decodes path, pid and return value, successful and failed', async () => {
    const file = join(dir, 'opened.txt');
    writeFileSync(file, 'x');
    const script = join(dir, 'ebpm-opener');
    writeFileSync(script, `#!/bin/sh\nread go\n: < ${file}\n: < ${dir}/absent 2>/dev/null\n`, { mode: 0o755 });
    const opener = spawn(script, [], { stdio: ['pipe', 'ignore', 'ignore'] });
    const run = ebpm(['run', layout.opensnoop!, '--json', '--pid', String(opener.pid), '--max-events', '2']);
    await run.waitFor(/attached/);
    opener.stdin!.end('go\n');
    const r = await run.exited();
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout);
    expect(events.map(({ ts: _, ret, ...e }) => ({ ...e, ok: (ret as number) >= 0 }))).toEqual([
      { pid: opener.pid, uid: 0, flags: 0, comm: 'ebpm-opener', fname: file, ok: true },
      { pid: opener.pid, uid: 0, flags: 0, comm: 'ebpm-opener', fname: `${dir}/absent`, ok: false },
    ]);
    expect(events[1]!.ret).toBe(-2);
    expect(typeof events[0]!.ts).toBe('number');
  });

  it('execsnoop: decodes execs, failed ones included; SIGINT detaches and exits 130', async () => {
    const run = ebpm(['run', layout.execsnoop!, '--json']);
    await run.waitFor(/attached 2 programs/);
    // Read from /proc, not by running bpftool: execsnoop would trace that exec as the test's own.
    const during = programsOf(run.child.pid!);
    expect(during).toHaveLength(2);
    const ok = spawnSync('/bin/true');
    expect(ok.status).toBe(0);
    spawnSync(join(dir, 'no-such-program'));
    // No wait: what is still in the buffer at SIGINT is printed before the run ends.
    run.child.kill('SIGINT');
    const r = await run.exited();
    expect(r.code).toBe(130);
    const all = jsonLines(r.stdout);
    const mine = all.filter((e) => e.ppid === process.pid);
    expect(mine.map(({ pid: _, ...e }) => e)).toEqual([
      { ppid: process.pid, uid: 0, retval: 0, comm: 'true', filename: '/bin/true' },
      { ppid: process.pid, uid: 0, retval: -2, comm: 'node', filename: join(dir, 'no-such-program') },
    ]);
    // other test files exec too: the count is exactly what was printed
    expect(r.stderr.split('\n').slice(-2)).toEqual([`execsnoop: ${all.length} events, 0 lost (stopped: SIGINT)`, '']);
    expect(released(() => programIds('kt_exit_execve'))).toEqual([]);
    expect(linkIds(during)).toEqual([]);
  });

  it('bootstrap: decodes exec and exit events of a child, exit code and bool included', async () => {
    const run = ebpm(['run', layout.bootstrap!, '--json']);
    await run.waitFor(/attached 2 programs/);
    const child = spawnSync('/bin/sh', ['-c', 'exit 3']);
    expect(child.status).toBe(3);
    run.child.kill('SIGTERM');
    const r = await run.exited();
    expect(r.code).toBe(143);
    const all = jsonLines(r.stdout);
    expect(r.stderr.split('\n').slice(-2)).toEqual([`bootstrap: ${all.length} events, 0 lost (stopped: SIGTERM)`, '']);
    const mine = all.filter((e) => e.pid === child.pid);
    expect(mine.map(({ duration_ns: _, ...e }) => e)).toEqual([
      { pid: child.pid, ppid: process.pid, exit_code: 0, comm: 'sh', filename: '/bin/sh', exit_event: false },
      { pid: child.pid, ppid: process.pid, exit_code: 3, comm: 'sh', filename: '', exit_event: true },
    ]);
    expect(mine[1]!.duration_ns).toBeGreaterThan(0);
  });

  it('runqlat: prints a log2 histogram with counts, as text and as JSON', async () => {
    const load = spawn('sh', ['-c', 'for i in $(seq 100); do sleep 0.001; done']);
    const text = ebpm(['run', layout.runqlat!, '--duration', '1s']);
    const r = await text.exited();
    load.kill();
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(lines[1]).toBe('key = 0');
    expect(lines[2]).toBe('     usecs               : count    distribution');
    expect(lines[3]).toMatch(/^ {9}0 -> 1 {10}: \d+ +\|[* ]{40}\|$/);
    const json = await ebpm(['run', layout.runqlat!, '--duration', '500ms', '--json']).exited();
    const entries = jsonLines(json.stdout) as { key: number; value: { slots: number[]; comm: string } }[];
    expect(entries.length).toBeGreaterThanOrEqual(1);
    expect(entries[0]!.key).toBe(0);
    expect(entries[0]!.value.slots).toHaveLength(26);
    expect(entries[0]!.value.slots.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('runs a package directory (built on the fly) and an eunomia package.json with its @cmdarg flags', async () => {
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [28]);
    const elf = await exampleObject('sigsnoop');
    const eunomia = join(dir, 'package.json');
    writeFileSync(
      eunomia,
      JSON.stringify({
        bpf_object: deflateSync(elf).toString('base64'),
        bpf_object_size: elf.length,
        meta: {
          bpf_skel: {
            obj_name: 'sigsnoop_bpf',
            data_sections: [{ name: '.rodata', variables: [{ name: 'filtered_pid', type: 'pid_t', cmdarg: { long: 'sender', short: 'S' } }] }],
            maps: [],
          },
        },
      }),
    );
    const help = ebpmSync(['run', eunomia, '--help']);
    expect(help.stdout).toContain('  -S, --sender <pid_t>');
    const run = ebpm(['run', eunomia, '--json', '--sender', String(send.pid), '--max-events', '1']);
    await run.waitFor(/attached/);
    send.stdin!.end('go\n');
    const r = await run.exited();
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([{ pid: send.pid, tpid: target.pid, sig: 28, ret: 0, comm: 'ebpm-sigsend' }]);
    const fromDir = await ebpm(['run', join(dir, 'sigsnoop'), '--max-events', '0']).exited();
    target.kill('SIGKILL');
    expect(fromDir.code).toBe(0);
    expect(fromDir.stderr).toBe(
      'sigsnoop 1.2.0: attached kt_sig_trace (tracepoint/signal/signal_generate)\nsigsnoop: 0 events, 0 lost (stopped: max-events)\n',
    );
  });

  it('hands a package with a Wasm program to the runtime, with the arguments after --', async () => {
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [28]);
    const run = ebpm(['run', join(REPO, 'examples', 'sigsnoop'), '--', '-p', String(send.pid), '-s', '28']);
    // The guest says so once its programs are attached; a loaded machine may take seconds to build it.
    await run.waitFor(/waiting for the ebpf events/);
    send.stdin!.end('go\n');
    // Stopped once the event shows: how long the guest took to print it does not matter.
    await new Promise<void>((resolve) => run.child.stdout!.on('data', () => run.stdout().includes('"sig_name":"SIGWINCH"') && resolve()));
    run.child.kill('SIGINT');
    const r = await run.exited();
    target.kill('SIGKILL');
    expect(r.code).toBe(130);
    expect(
      jsonLines(
        r.stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .join('\n'),
      ),
    ).toEqual([{ pid: send.pid, tpid: target.pid, sig: 28, ret: 0, comm: 'ebpm-sigsend', sig_name: 'SIGWINCH' }]);
    expect(r.stderr).toMatch(/\nsigsnoop: Wasm program ended \(signal, exit code 130\)\n$/);
    expect(ebpmSync(['run', join(REPO, 'examples', 'sigsnoop'), '--interval', '1']).stderr).toMatch(
      /^error: run: --interval does not apply to sigsnoop: its Wasm program prints the events\n/,
    );
  });

  it('shows the package flags with defaults and descriptions in --help', () => {
    const r = ebpmSync(['run', layout.sigsnoop!, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `usage: ebpm run ${layout.sigsnoop} [flags]`,
        '',
        'Trace signals as the kernel generates them: sender, target, signal and result',
        '',
        ...RUN_FLAGS_IN_PACKAGE_HELP,
        '',
        'package flags:',
        '  -p, --filtered-pid <pid_t>           Trace only signals sent by this process ID (0: every process) (default 0)',
        '  -s, --target-signal <int>            Trace only this signal number (0: every signal) (default 0)',
        '  -x, --failed-only, --no-failed-only  Trace only signals that failed to be delivered (default false)',
        '',
      ].join('\n'),
    );
  });

  it('refuses a bad parameter before anything is loaded', () => {
    const r = ebpmSync(['run', layout.sigsnoop!, '--filtered-pid', '99999999999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'error: --filtered-pid: "99999999999": out of range for pid_t [-2147483648, 2147483647]\nhint: give --filtered-pid a value from -2147483648 to 2147483647\n',
    );
    expect(released(() => programIds('kt_sig_trace'))).toEqual([]);
    expect(ebpmSync(['run', layout.sigsnoop!, '--pid', '1']).stderr).toMatch(/^error: run: unknown flag: --pid\nhint: usage: ebpm run /);
    expect(ebpmSync(['run', layout.sigsnoop!, '--duration', 'soon'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: run: --duration "soon": not a duration\nhint: write it as 500ms, 10s, 2m, 1h, 1h30m, or a number of seconds\n',
    });
  });

  it("reports the verifier's verdict, a missing tracepoint and a helper the program type may not call", () => {
    const broken = ebpmSync(['run', objects.broken!]);
    expect(broken.stderr.split('\n').length).toBe(3);
    expect(broken.code).toBe(4);
    expect(broken.stderr).toMatch(/^error: run broken: load broken: program unchecked: verifier rejected: .*R0 invalid mem access 'map_value_or_null'/);
    expect(ebpmSync(['run', objects.broken!, '--verbose']).stderr).toContain('verifier log:\n');
    const notp = ebpmSync(['run', objects.notp!]);
    expect(notp.code).toBe(4);
    expect(notp.stderr).toBe(
      `error: run notp: cannot run on Linux ${release()}: tracepoint ebpm_test/no_such_event: no such tracepoint in tracefs\n` +
        'hint: look in /sys/kernel/tracing/events for the tracepoints this kernel has (tracefs must be mounted there)\n',
    );
    const helper = ebpmSync(['run', objects.helper!]);
    expect(helper.code).toBe(4);
    expect(helper.stderr).toBe(
      'error: run helper: load helper: program wrong_helper: verifier rejected: program of this type cannot use helper bpf_skb_load_bytes#26\n' +
        'hint: run with --verbose to see the full verifier log\n',
    );
  });

  it('refuses an unprivileged user with the capabilities it lacks', async () => {
    // `ebpm build` leaves out/ private to its owner; the test user must read it.
    spawnSync('chmod', ['-R', 'a+rX', dir]);
    // A sandbox the test user can read: the suite's temp root is private to root.
    const r = await runEbpm(['run', layout.sigsnoop!], {
      prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
      env: cliEnv(dir),
    });
    expect(r.stderr).toBe(
      'error: run sigsnoop: missing CAP_BPF and CAP_PERFMON\nhint: run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8)\n',
    );
    expect(r.code).toBe(4);
  });
});
