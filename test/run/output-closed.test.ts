// `ebpm run` whose reader goes away (`| head`, a hung-up terminal): the run ends as a planned
// stop would, every program detached, exit code 0, no stack; a stdout that fails otherwise
// (a full disk) is an error.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { compileWasm } from '../../src/build/toolchain.js';
import { exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { xxdHeader } from '../runtime/helpers.js';
import { BIN, defaultCliEnv, spawnEbpm } from '../helpers/cli.js';
import { ebpm, ebpmSync, jsonLines, linkIds, ownCopy, programIds, released, tempDir } from './spawn.js';

let dir = '';
let layout = '';
let opener: ChildProcess | undefined;
/** What a test started, killed after it whatever its outcome. */
let started: ChildProcess[] = [];
const ATTACHED =
  'opensnoop 2.0.0: attached 2 programs: closed_openat_enter (tracepoint/syscalls/sys_enter_openat), closed_openat_exit (tracepoint/syscalls/sys_exit_openat)\n';

/** A shell named `ebpm-opener` opening `file` every 20 ms: a steady stream of events after the reader has gone. */
function startOpener(file: string): ChildProcess {
  const script = join(dir, 'ebpm-opener');
  writeFileSync(script, `#!/bin/sh\nwhile :; do : < ${file}; sleep 0.02; done\n`, { mode: 0o755 });
  return spawn(script, [], { stdio: 'ignore' });
}

/** Reads `n` lines of `stream`, then closes it: `head -n <n>` in the test process. */
function head(stream: NodeJS.ReadableStream & { destroy(): void }, n: number): Promise<string[]> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      const lines = text.split('\n');
      if (lines.length > n) {
        stream.off('data', onData);
        stream.destroy();
        resolve(lines.slice(0, n));
      }
    };
    stream.on('data', onData);
  });
}

/** Resolves with `file`'s text once a writer has put a whole line in it: watched, not polled. */
function lineIn(file: string): Promise<string> {
  return new Promise((resolve) => {
    const check = () => {
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      if (!text.endsWith('\n')) return;
      watcher.close();
      resolve(text);
    };
    const watcher = watch(dirname(file), check);
    check();
  });
}

const ours = () => [...programIds('closed_openat_enter'), ...programIds('closed_openat_exit')];

/** A Wasm guest printing a numbered line every 20 ms until stopped (sigsnoop's object makes the bare module a package). */
const PRINTER = `
#include <stdio.h>
#include <unistd.h>
#include "sigsnoop.bpf.o.h"
int main(int argc, char **argv)
{
	if (argc > 99)
		return sigsnoop_bpf_o[0];
	for (int i = 1;; i++) {
		printf("line %d\\n", i);
		fflush(stdout);
		usleep(20000);
	}
}
`;

describeWith(['root', 'btf', 'clang', 'native', 'bpftool', 'wasi'], 'ebpm run with its output closed', () => {
  beforeAll(async () => {
    dir = tempDir();
    const pkg = ownCopy('opensnoop', dir, 'trace_openat_', 'closed_openat_');
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
    writeFileSync(join(dir, 'opened.txt'), 'x');
    writeFileSync(join(dir, 'sigsnoop.bpf.o.h'), xxdHeader('sigsnoop.bpf.o', await exampleObject('sigsnoop')));
    writeFileSync(join(dir, 'printer.c'), PRINTER);
    await compileWasm(join(dir, 'printer.c'), join(dir, 'printer.wasm'));
  }, 120_000);
  afterEach(() => {
    for (const c of [opener, ...started]) c?.kill('SIGKILL');
    started = [];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['JSON lines', ['--json'], 5],
    ['aligned columns', [], 3],
  ])('%s piped into a reader that stops early: exit 0, the summary on stderr, nothing left loaded', async (_, flags, lines) => {
    const file = join(dir, 'opened.txt');
    opener = startOpener(file);
    const before = ours();
    const run = ebpm(['run', layout, '--pid', String(opener.pid), ...flags]);
    started.push(run.child);
    const read = await head(run.child.stdout!, lines);
    const during = ours().filter((id) => !before.includes(id));
    expect(during).toHaveLength(2);
    const r = await run.exited();
    expect(r.code).toBe(0);
    expect(r.signal).toBe(null);
    expect(r.stderr).toMatch(new RegExp(`^${ATTACHED.replace(/[()/]/g, '\\$&')}opensnoop: \\d+ events, 0 lost \\(stopped: output-closed\\)\\n$`));
    if (flags.length > 0) {
      expect(jsonLines(read.join('\n')).map(({ ts: _, ret: __, ...e }) => e)).toEqual(
        Array(5).fill({ pid: opener.pid, uid: 0, flags: 0, comm: 'ebpm-opener', fname: file }),
      );
    } else {
      expect(read[0]).toBe('TIME     TS           PID     UID     RET      FLAGS              COMM             FNAME');
      for (const l of read.slice(1)) expect(l).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d \\d+ +${opener.pid} +0 +\\d+ +O_RDONLY +ebpm-opener +${file}$`));
    }
    expect(released(() => ours().filter((id) => during.includes(id)))).toEqual([]);
    expect(linkIds(during)).toEqual([]);
  });

  it('a Wasm program whose output is piped into a reader that stops early: stopped, exit 0', async () => {
    const run = ebpm(['run', join(dir, 'printer.wasm')]);
    started.push(run.child);
    expect(await head(run.child.stdout!, 3)).toEqual(['line 1', 'line 2', 'line 3']);
    const r = await run.exited();
    expect([r.code, r.stderr]).toEqual([0, 'printer 0.0.0: started its Wasm program\nprinter: Wasm program ended (output-closed, exit code 0)\n']);
  });

  it('the live table on a terminal that hangs up: exit 0, nothing left loaded', async () => {
    opener = startOpener(join(dir, 'opened.txt'));
    const code = join(dir, 'code');
    const err = join(dir, 'err');
    rmSync(code, { force: true });
    // setsid: the terminal is ebpm's stdout but not its controlling terminal, so the hang-up
    // reaches it as failing writes (EIO), not as SIGHUP, and the shell around it survives to
    // write down its exit code.
    const cmd = `setsid -w sh -c '${BIN} run ${layout} --pid ${opener.pid} 2>${err}; echo $? >${code}'`;
    const before = ours();
    const pty = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'], env: defaultCliEnv() });
    started.push(pty);
    await new Promise<void>((resolve, reject) => {
      let screen = '';
      pty.stdout!.on('data', (d: Buffer) => {
        screen += d.toString();
        if (screen.includes('ebpm-opener')) resolve();
      });
      pty.once('close', () => reject(new Error(`no events on the terminal: ${JSON.stringify(screen)}`)));
    });
    const during = ours().filter((id) => !before.includes(id));
    expect(during).toHaveLength(2);
    const exitCode = lineIn(code);
    pty.kill('SIGKILL');
    expect(await exitCode).toBe('0\n');
    expect(readFileSync(err, 'utf8')).toMatch(/^opensnoop: \d+ events, 0 lost \(stopped: output-closed\)\n$/);
    expect(released(() => ours().filter((id) => during.includes(id)))).toEqual([]);
    expect(linkIds(during)).toEqual([]);
  });

  it('a stdout that fails otherwise (a full disk) stops the run with an error', async () => {
    const before = ours();
    // Traced: a process that opens nothing, so that no event can be counted before the
    // header's failed write is seen, whatever else the machine opens meanwhile.
    const idle = spawn('sleep', ['3600']);
    started.push(idle);
    const full = openSync('/dev/full', 'w');
    const run = spawnEbpm(['run', layout, '--pid', String(idle.pid)], { stdio: ['ignore', full, 'pipe'] });
    started.push(run.child);
    closeSync(full);
    const { code, stderr } = await run.exited();
    expect(code).toBe(1);
    expect(stderr).toBe(
      `${ATTACHED}opensnoop: 0 events, 0 lost (stopped: output-closed)\nerror: run: write stdout: ENOSPC\nhint: free space or fix where stdout goes, then run again\n`,
    );
    expect(released(() => ours().filter((id) => !before.includes(id)))).toEqual([]);
  });
});
