// examples/opensnoop's --uid: its help names the sentinel uid_t can hold (4294967295, the
// default: every user), `--uid -1` is refused with the value it would wrap to, and the filter
// keeps what the flag says on the real kernel.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/prereq.js';
import { bpfOnlyCopy, ebpm, ebpmSync, jsonLines, tempDir } from './spawn.js';
import { RUN_FLAGS_IN_PACKAGE_HELP } from '../helpers/cli.js';

let dir = '';
let layout = '';
let opener: ChildProcess | undefined;

describeWith(['root', 'btf', 'clang', 'native'], 'examples/opensnoop --uid', () => {
  beforeAll(() => {
    dir = tempDir();
    const pkg = bpfOnlyCopy('opensnoop', dir);
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
    writeFileSync(join(dir, 'opened.txt'), 'x');
    // Root opening a file every 20 ms, named for its comm.
    const script = join(dir, 'ebpm-opener');
    writeFileSync(script, `#!/bin/sh\nwhile :; do : < ${dir}/opened.txt; sleep 0.02; done\n`, { mode: 0o755 });
    opener = spawn(script, [], { stdio: 'ignore' });
  }, 120_000);
  afterAll(() => {
    opener?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('says in --help which value means every user, and that it is the default', () => {
    expect(ebpmSync(['run', layout, '--help']).stdout).toBe(
      [
        `usage: ebpm run ${layout} [flags]`,
        '',
        'Trace openat(2) calls: process, user, flags, path and result',
        '',
        ...RUN_FLAGS_IN_PACKAGE_HELP,
        '',
        'package flags:',
        '  -p, --pid <pid_t>          Trace only this process ID (0: every process) (default 0)',
        '  -u, --uid <uid_t>          Trace only this user ID (4294967295, the largest uid_t: every user) (default 4294967295)',
        '  -x, --failed, --no-failed  Trace only failed opens (default false)',
        '',
      ].join('\n'),
    );
  });

  it('refuses --uid -1 with the uid_t it stands for', () => {
    expect(ebpmSync(['run', layout, '--uid', '-1'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: --uid: "-1": out of range for uid_t [0, 4294967295]\nhint: give --uid a value from 0 to 4294967295 (uid_t is unsigned: (uid_t)-1 is 4294967295)\n',
    });
  });

  it.each([
    ['4294967295 (every user)', '4294967295', 1],
    ["0 (root, the opener's)", '0', 1],
    ["65534 (not the opener's)", '65534', 0],
  ])('--uid %s keeps the events of that user only', async (_, uid, count) => {
    const run = ebpm(['run', layout, '--json', '--pid', String(opener!.pid), '--uid', uid, '--max-events', '1', '--duration', '1.5']);
    const r = await run.exited();
    expect(r.code).toBe(0);
    const events = jsonLines(r.stdout).map(({ ts: _ts, ret: _ret, ...e }) => e);
    expect(events).toEqual(Array(count).fill({ pid: opener!.pid, uid: 0, flags: 0, comm: 'ebpm-opener', fname: join(dir, 'opened.txt') }));
  });
});
