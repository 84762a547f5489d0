// `ebpm run` of plain WASI guests built with clang, through the CLI bundle: how a guest's exit
// code becomes ebpm's, --dir of system directories, and a guest printing forever to a pipe
// nobody reads (it waits, ebpm stays small, SIGTERM still ends the run with 143).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { guestExitCode } from '../../src/cli/errors.js';
import { describeWith } from '../helpers/prereq.js';
import { wasiCommand } from '../runtime/helpers.js';
import { BIN, ebpmSync, tempDir } from './spawn.js';

/** Exits with its first argument (main's return value is proc_exit's, any int). */
const EXIT = `
#include <stdlib.h>
int main(int argc, char **argv)
{
	return argc > 1 ? atoi(argv[1]) : 0;
}
`;

/** Reads each file named in argv and prints its first line or the errno. */
const CAT = `
#include <errno.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char line[128] = "";
		FILE *f = fopen(argv[i], "r");
		if (!f) {
			printf("open %s: errno %d\\n", argv[i], errno);
			continue;
		}
		printf("read %s: %s\\n", argv[i], fgets(line, sizeof(line), f) ? "ok" : "empty");
		fclose(f);
	}
	return 0;
}
`;

/** Prints 1 KiB lines forever; after every 64th it writes how many it printed to the file argv[1]. */
const LOUD = `
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	char line[1019];
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;
	for (long n = 1;; n++) {
		printf("%04ld %s\\n", n % 10000, line);
		if (n % 64 == 0) {
			int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
			dprintf(fd, "%ld\\n", n);
			close(fd);
		}
	}
}
`;

let dir = '';
const wasm = (name: string) => join(dir, `${name}.wasm`);

it('guestExitCode passes 0, 5-69 and 71-124 through and makes every other code 125', () => {
  const codes = [0, 1, 2, 3, 4, 5, 69, 70, 71, 124, 125, 126, 127, 128, 130, 143, 255, 256, 257, 512, -1, 2 ** 31 - 1];
  expect(codes.map((c) => [c, guestExitCode(c)])).toEqual([
    [0, 0],
    [1, 125],
    [2, 125],
    [3, 125],
    [4, 125],
    [5, 5],
    [69, 69],
    [70, 125],
    [71, 71],
    [124, 124],
    [125, 125],
    [126, 125],
    [127, 125],
    [128, 125],
    [130, 125],
    [143, 125],
    [255, 125],
    [256, 125],
    [257, 125],
    [512, 125],
    [-1, 125],
    [2 ** 31 - 1, 125],
  ]);
});

describeWith(['clang', 'wasi'], 'ebpm run with plain WASI guests', () => {
  beforeAll(() => {
    dir = tempDir();
    for (const [name, source] of Object.entries({ exit: EXIT, cat: CAT, loud: LOUD })) wasiCommand(dir, name, source);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits with the guest's code where it is unambiguous, else 125 and says which code the guest gave", () => {
    const runs = [0, 1, 3, 42, 70, 130, 143, 256, 257].map((code) => {
      const r = spawnSync(BIN, ['run', wasm('exit'), '--', String(code)], { encoding: 'utf8' });
      return [code, r.status, r.stderr];
    });
    expect(runs).toEqual([
      [0, 0, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 0)\n'],
      [1, 125, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 1; ebpm exits with 125)\n'],
      [3, 125, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 3; ebpm exits with 125)\n'],
      [42, 42, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 42)\n'],
      [70, 125, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 70; ebpm exits with 125)\n'],
      [130, 125, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 130; ebpm exits with 125)\n'],
      [143, 125, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 143; ebpm exits with 125)\n'],
      [256, 125, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 256; ebpm exits with 125)\n'],
      [257, 125, 'exit 0.0.0: started its Wasm program\nexit: Wasm program ended (exit, exit code 257; ebpm exits with 125)\n'],
    ]);
  });

  it('refuses --dir /proc with exit 2 before the guest runs, and runs it with --allow-system-dir', () => {
    const refused = ebpmSync(['run', wasm('cat'), '--dir', '/proc', '--', '/proc/self/environ']);
    expect(refused).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "error: run cat: wasm guest cat: --dir /proc: would show the program the host's processes, their memory and environment\n" +
        'hint: pass a directory of its own, or add --allow-system-dir to grant exactly that\n',
    });
    expect(ebpmSync(['run', wasm('cat'), '--dir', '/:/host', '--', '/host/etc/hostname']).stderr.split('\n')[0]).toBe(
      'error: run cat: wasm guest cat: --dir /:/host: would show the program the whole host file system',
    );
    const granted = ebpmSync(['run', wasm('cat'), '--dir', '/proc', '--allow-system-dir', '--', '/proc/self/stat']);
    expect([granted.code, granted.stdout]).toEqual([0, 'read /proc/self/stat: ok\n']);
    const alone = ebpmSync(['run', wasm('cat'), '--allow-system-dir']);
    expect([alone.code, alone.stderr.split('\n')[0]]).toEqual([2, 'error: run: --allow-system-dir applies to --dir, and none is given']);
    const help = ebpmSync(['run', '--help']).stdout.split('\n');
    const at = help.findIndex((l) => l.startsWith('  --allow-system-dir '));
    expect(help.slice(at, at + 2)).toEqual([
      "  --allow-system-dir       let --dir show it /, or a directory under /proc, /sys or /dev (the host's",
      '                           files, processes, kernel settings, devices)',
    ]);
  });

  // On the main thread it waits once the pipe is full: 64 lines of 1 KiB, the count written every
  // 64 (--duration's timer is the addon's: it too leaves the guest there). In a thread of its own
  // (--follow), a guest waits once its ring and stdout's buffer are full too: follow-wasm.test.ts.
  it('makes a guest printing to a pipe nobody reads wait on the main thread, and SIGTERM still ends the run with 143', async () => {
    const [waits, most] = [64, 127];
    const out = join(dir, 'out');
    mkdirSync(out);
    const fifo = join(dir, 'stdout.fifo');
    execFileSync('mkfifo', [fifo]);
    // Opened for reading and never read: the pipe fills and stays full.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    const child = spawn(BIN, ['run', wasm('loud'), '--duration', '600', '--dir', `${out}:/out`, '--', '/out/count'], { stdio: ['ignore', writer, 'pipe'] });
    closeSync(writer);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    const printed = () => {
      try {
        return Number(readFileSync(join(out, 'count'), 'utf8'));
      } catch {
        return 0;
      }
    };
    await new Promise<void>((resolve, reject) => {
      const check = () => (printed() >= waits ? resolve() : child.exitCode !== null ? reject(new Error(`ended early: ${stderr}`)) : setTimeout(check, 20));
      check();
    });
    child.kill('SIGTERM');
    const r = await exited;
    closeSync(reader);
    expect([r.code, r.signal, stderr]).toEqual([143, null, 'loud 0.0.0: started its Wasm program\nloud: Wasm program ended (signal, exit code 143)\n']);
    // It waited, and was stopped where it waited.
    expect(printed()).toBeLessThanOrEqual(most);
  });
});
