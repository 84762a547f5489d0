// The --dir jail against symbolic links: a real C guest (clang, wasi-libc) tries every way out
// through links in the host directory (absolute, relative, to a sibling, as an intermediate
// component, as rename and link targets, through a directory fd, links it makes itself) and gets
// ENOTCAPABLE with nothing touched outside; links that stay inside still work; system
// directories need --allow-system-dir.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runWasm } from '../../src/runtime/run.js';
import { describeWith } from '../helpers/prereq.js';
import { collect, wasiCommand } from './helpers.js';

/**
 * `fsops op path[,arg] …` performs each operation and prints `op path: ok [result]` or
 * `op path: errno N` (wasi-libc's errno values are WASI's).
 */
const FSOPS = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static int slurp(int fd, char *out, size_t size)
{
	ssize_t n = read(fd, out, size - 1);
	out[n > 0 ? n : 0] = 0;
	char *nl = strchr(out, '\\n');
	if (nl)
		*nl = 0;
	close(fd);
	return n < 0 ? -1 : 0;
}
int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *op = argv[i], *p = argv[i + 1], *comma = strchr(p, ',');
		char path[256], arg[256] = "", out[128] = "";
		snprintf(path, sizeof(path), "%.*s", comma ? (int)(comma - p) : (int)strlen(p), p);
		if (comma)
			snprintf(arg, sizeof(arg), "%s", comma + 1);
		int r = 0, fd;
		struct stat st;
		if (!strcmp(op, "read") || !strcmp(op, "read-nofollow")) {
			fd = open(path, O_RDONLY | (op[4] ? O_NOFOLLOW : 0));
			r = fd < 0 ? -1 : slurp(fd, out, sizeof(out));
		} else if (!strcmp(op, "write")) {
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			r = fd < 0 ? -1 : write(fd, "written\\n", 8) == 8 ? close(fd) : -1;
		} else if (!strcmp(op, "mkdir"))
			r = mkdir(path, 0755);
		else if (!strcmp(op, "unlink"))
			r = unlink(path);
		else if (!strcmp(op, "rename"))
			r = rename(path, arg);
		else if (!strcmp(op, "link"))
			r = link(path, arg);
		else if (!strcmp(op, "symlink"))
			r = symlink(arg, path);
		else if (!strcmp(op, "readlink")) {
			ssize_t n = readlink(path, out, sizeof(out) - 1);
			r = n < 0 ? -1 : 0;
			out[n > 0 ? n : 0] = 0;
		} else if (!strcmp(op, "stat") || !strcmp(op, "lstat")) {
			r = op[0] == 'l' ? lstat(path, &st) : stat(path, &st);
			if (!r)
				strcpy(out, S_ISLNK(st.st_mode) ? "link" : S_ISDIR(st.st_mode) ? "dir" : "file");
		} else if (!strcmp(op, "openat")) {
			int dir = open(path, O_RDONLY | O_DIRECTORY);
			fd = dir < 0 ? -1 : openat(dir, arg, O_RDONLY);
			r = fd < 0 ? -1 : slurp(fd, out, sizeof(out));
			if (dir >= 0)
				close(dir);
		} else {
			printf("%s: unknown operation\\n", op);
			return 2;
		}
		if (r < 0)
			printf("%s %s: errno %d\\n", op, p, errno);
		else
			printf("%s %s: ok%s%s\\n", op, p, out[0] ? " " : "", out);
	}
	return 0;
}
`;

const ENOTCAPABLE = 76;

let root = '';
let jail = '';
let outside = '';
let fsops: Uint8Array;

/** Runs fsops with the jail at /jail and returns its lines. */
async function ops(...args: string[]): Promise<string[]> {
  const r = await collect({ module: fsops, name: 'fsops', args, objects: 'any', preopens: [{ host: jail, guest: '/jail' }] });
  expect([r.exitCode, r.stderr]).toEqual([0, []]);
  return r.stdout;
}

describeWith(['clang', 'wasi'], 'the --dir jail', () => {
  beforeAll(() => {
    root = realpathSync(mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'jail-')));
    fsops = new Uint8Array(readFileSync(wasiCommand(root, 'fsops', FSOPS)));
    jail = join(root, 'a', 'b', 'jail');
    outside = join(root, 'outside');
    mkdirSync(join(jail, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(jail, 'f.txt'), 'inside\n');
    writeFileSync(join(jail, 'sub', 's.txt'), 'in sub\n');
    writeFileSync(join(outside, 'secret.txt'), 'secret\n');
    symlinkSync('/etc', join(jail, 'link-abs'));
    symlinkSync('../../..', join(jail, 'link-up'));
    symlinkSync(outside, join(jail, 'link-sibling'));
    symlinkSync('../../../outside/secret.txt', join(jail, 'link-secret'));
    symlinkSync('sub/../link-sibling', join(jail, 'link-chain'));
    symlinkSync('../../../outside/planted.txt', join(jail, 'link-dangling'));
    symlinkSync('sub', join(jail, 'link-in'));
    symlinkSync(join(jail, 'sub'), join(jail, 'link-in-abs'));
    symlinkSync('f.txt', join(jail, 'link-file'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses reads through an absolute, a relative and a sibling link out of the directory', async () => {
    expect(
      await ops(
        'read',
        '/jail/link-abs/hostname',
        'read',
        '/jail/link-up/outside/secret.txt',
        'read',
        '/jail/link-sibling/secret.txt',
        'read',
        '/jail/link-chain/secret.txt',
        'read',
        '/jail/sub/../link-sibling/secret.txt',
        'stat',
        '/jail/link-abs/hostname',
      ),
    ).toEqual([
      `read /jail/link-abs/hostname: errno ${ENOTCAPABLE}`,
      `read /jail/link-up/outside/secret.txt: errno ${ENOTCAPABLE}`,
      `read /jail/link-sibling/secret.txt: errno ${ENOTCAPABLE}`,
      `read /jail/link-chain/secret.txt: errno ${ENOTCAPABLE}`,
      `read /jail/sub/../link-sibling/secret.txt: errno ${ENOTCAPABLE}`,
      `stat /jail/link-abs/hostname: errno ${ENOTCAPABLE}`,
    ]);
  });

  it('refuses a last-component link out of the directory also with O_NOFOLLOW, which node:wasi let the kernel follow', async () => {
    expect(await ops('read-nofollow', '/jail/link-secret', 'read', '/jail/link-secret', 'lstat', '/jail/link-secret', 'readlink', '/jail/link-secret')).toEqual(
      [
        `read-nofollow /jail/link-secret: errno ${ENOTCAPABLE}`,
        `read /jail/link-secret: errno ${ENOTCAPABLE}`,
        'lstat /jail/link-secret: ok link',
        'readlink /jail/link-secret: ok ../../../outside/secret.txt',
      ],
    );
  });

  it('creates, renames, links and makes directories through no link out, and leaves the outside untouched', async () => {
    writeFileSync(join(jail, 'victim.txt'), 'victim\n');
    expect(
      await ops(
        'write',
        '/jail/link-sibling/created.txt',
        'write',
        '/jail/link-up/created.txt',
        'write',
        '/jail/link-dangling',
        'mkdir',
        '/jail/link-sibling/made',
        'rename',
        '/jail/victim.txt,/jail/link-sibling/moved.txt',
        'link',
        '/jail/victim.txt,/jail/link-sibling/hard.txt',
        'rename',
        '/jail/link-sibling/secret.txt,/jail/stolen.txt',
        'unlink',
        '/jail/link-sibling/secret.txt',
      ),
    ).toEqual([
      `write /jail/link-sibling/created.txt: errno ${ENOTCAPABLE}`,
      `write /jail/link-up/created.txt: errno ${ENOTCAPABLE}`,
      `write /jail/link-dangling: errno ${ENOTCAPABLE}`,
      `mkdir /jail/link-sibling/made: errno ${ENOTCAPABLE}`,
      `rename /jail/victim.txt,/jail/link-sibling/moved.txt: errno ${ENOTCAPABLE}`,
      `link /jail/victim.txt,/jail/link-sibling/hard.txt: errno ${ENOTCAPABLE}`,
      `rename /jail/link-sibling/secret.txt,/jail/stolen.txt: errno ${ENOTCAPABLE}`,
      `unlink /jail/link-sibling/secret.txt: errno ${ENOTCAPABLE}`,
    ]);
    expect([readdirSync(outside), readdirSync(root).sort(), readdirSync(join(root, 'a'))]).toEqual([
      ['secret.txt'],
      ['a', 'fsops.c', 'fsops.wasm', 'outside'],
      ['b'],
    ]);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret\n');
    expect([existsSync(join(jail, 'victim.txt')), existsSync(join(jail, 'stolen.txt'))]).toEqual([true, false]);
  });

  it('refuses paths relative to a directory fd through a link out; node:wasi refuses links out that the guest makes', async () => {
    expect(
      await ops(
        'symlink',
        '/jail/made-abs,/etc',
        'symlink',
        '/jail/made-up,../../../outside',
        'read',
        '/jail/made-abs/hostname',
        'read',
        '/jail/made-up/secret.txt',
        'openat',
        '/jail/sub,../link-sibling/secret.txt',
        'openat',
        '/jail,link-sibling/secret.txt',
        'openat',
        '/jail/link-in,s.txt',
        'openat',
        '/jail,link-in-abs/s.txt',
      ),
    ).toEqual([
      'symlink /jail/made-abs,/etc: errno 63',
      `symlink /jail/made-up,../../../outside: errno ${ENOTCAPABLE}`,
      'read /jail/made-abs/hostname: errno 44',
      'read /jail/made-up/secret.txt: errno 44',
      `openat /jail/sub,../link-sibling/secret.txt: errno ${ENOTCAPABLE}`,
      `openat /jail,link-sibling/secret.txt: errno ${ENOTCAPABLE}`,
      'openat /jail/link-in,s.txt: ok in sub',
      'openat /jail,link-in-abs/s.txt: ok in sub',
    ]);
  });

  it('follows links that stay inside: relative, absolute to the directory, to a file', async () => {
    expect(
      await ops(
        'read',
        '/jail/link-in/s.txt',
        'read',
        '/jail/link-in-abs/s.txt',
        'read',
        '/jail/link-file',
        'write',
        '/jail/link-in/new.txt',
        'rename',
        '/jail/link-in/new.txt,/jail/link-in-abs/renamed.txt',
        'read',
        '/jail/sub/renamed.txt',
        'stat',
        '/jail/link-in',
      ),
    ).toEqual([
      'read /jail/link-in/s.txt: ok in sub',
      'read /jail/link-in-abs/s.txt: ok in sub',
      'read /jail/link-file: ok inside',
      'write /jail/link-in/new.txt: ok',
      'rename /jail/link-in/new.txt,/jail/link-in-abs/renamed.txt: ok',
      'read /jail/sub/renamed.txt: ok written',
      'stat /jail/link-in: ok dir',
    ]);
    // Two directories: each fd is checked against its own, even where a link leads into the other.
    const two = await collect({
      module: fsops,
      name: 'fsops',
      args: ['read', '/out/secret.txt', 'read', '/jail/link-in/s.txt', 'read', '/jail/link-sibling/secret.txt'],
      objects: 'any',
      preopens: [
        { host: outside, guest: '/out' },
        { host: jail, guest: '/jail' },
      ],
    });
    expect(two.stdout).toEqual([
      'read /out/secret.txt: ok secret',
      'read /jail/link-in/s.txt: ok in sub',
      `read /jail/link-sibling/secret.txt: errno ${ENOTCAPABLE}`,
    ]);
    // The guest path as the user may spell it, with a trailing slash.
    const slash = await collect({
      module: fsops,
      name: 'fsops',
      args: ['read', '/jail/link-in/s.txt', 'read', '/jail/link-sibling/secret.txt'],
      objects: 'any',
      preopens: [{ host: jail, guest: '/jail/' }],
    });
    expect(slash.stdout).toEqual(['read /jail/link-in/s.txt: ok in sub', `read /jail/link-sibling/secret.txt: errno ${ENOTCAPABLE}`]);
  });

  it('refuses /, /proc, /sys and /dev as --dir unless allowSystem grants them', async () => {
    const quiet = { onStdout: () => {}, onStderr: () => {} };
    for (const [host, what] of [
      ['/', 'the whole host file system'],
      ['/proc', "the host's processes, their memory and environment"],
      ['/proc/self', "the host's processes, their memory and environment"],
      ['/sys/kernel', "the kernel's settings"],
      ['/dev', "the host's devices"],
    ] as const) {
      await expect(runWasm({ ...quiet, module: fsops, name: 'fsops', objects: 'any', preopens: [{ host, guest: '/p' }] })).rejects.toMatchObject({
        code: 'USAGE',
        message: `wasm guest fsops: --dir ${host}:/p: would show the program ${what}`,
        hint: 'pass a directory of its own, or add --allow-system-dir to grant exactly that',
      });
    }
    // A link to /proc is judged by where it leads.
    symlinkSync('/proc', join(root, 'procs'));
    await expect(runWasm({ ...quiet, module: fsops, name: 'fsops', objects: 'any', preopens: [{ host: join(root, 'procs') }] })).rejects.toMatchObject({
      code: 'USAGE',
    });
    const granted = await collect({
      module: fsops,
      name: 'fsops',
      args: ['stat', '/p/self'],
      objects: 'any',
      preopens: [{ host: '/proc', guest: '/p', allowSystem: true }],
    });
    expect(granted.stdout).toEqual(['stat /p/self: ok dir']);
  });
});
