// `ebpm run` on packages with a Wasm program, through the CLI bundle on the real kernel: the
// sigsnoop guest's lines, --duration and signals with nothing left loaded, --env/--dir
// isolation, --max-memory, bad flag values, the trust warning, and the mode of a built out/.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileWasm } from '../../src/build/toolchain.js';
import { parseSize, takeWasmFlags } from '../../src/cli/commands/run-wasm-flags.js';
import { ociArch } from '../../src/core/arch.js';
import { looseModuleMetadata } from '../../src/package/loose.js';
import { runWasmPackage } from '../../src/services/run-wasm.js';
import { resolveSource } from '../../src/api/sources.js';
import { loadEnvPolicy } from '../../src/sign/policy-file.js';
import { REPO, exampleObject } from '../helpers/objects.js';
import { onOneCpu } from '../helpers/cpu.js';
import { describeWith } from '../helpers/prereq.js';
import { wasiCommand, xxdHeader } from '../runtime/helpers.js';
import { cliEnv, defaultCliEnv, sandboxDir } from '../helpers/cli.js';
import { ebpm, ebpmSync, programIds, programsOf, released, tempDir } from './spawn.js';

/**
 * A test guest: prints its environment and the first line of each file named in argv, exits 7;
 * `--hog N` allocates N blocks of 60 KB one by one (memory grows page by page, as a guest
 * gathering data does) and aborts when one fails. It embeds sigsnoop's object only so
 * that a bare .wasm is a package (ebpm declares the objects a module embeds).
 */
const GUEST = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sigsnoop.bpf.o.h"
extern char **environ;
int main(int argc, char **argv)
{
	if (argc > 99)
		return sigsnoop_bpf_o[0];
	if (argc == 3 && !strcmp(argv[1], "--hog")) {
		for (int i = atoi(argv[2]); i > 0; i--) {
			volatile char *p = malloc(60000);
			if (!p)
				abort();
			p[0] = 1;
		}
		return 0;
	}
	for (char **e = environ; *e; e++)
		printf("env %s\\n", *e);
	for (int i = 1; i < argc; i++) {
		char line[128];
		FILE *f = fopen(argv[i], "r");
		if (!f) {
			printf("open %s: errno %d\\n", argv[i], errno);
			continue;
		}
		if (fgets(line, sizeof(line), f))
			printf("read %s: %s", argv[i], line);
		fclose(f);
	}
	return 7;
}
`;

/** A plain WASI command: no wasm_bpf import, no BPF object; prints its arguments and exits 7. */
const PLAIN = `
#include <stdio.h>
int main(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		printf("%d:%s\\n", i, argv[i]);
	return 7;
}
`;

/**
 * A plain WASI command that prints a line every 10 ms until its sleep is interrupted (ebpm's
 * stop), then says goodbye on both streams and exits 0.
 */
const LOOP = `
#include <stdio.h>
#include <unistd.h>
int main(void)
{
	for (int i = 0;; i++) {
		printf("line %d \\"q\\"\\n", i);
		fflush(stdout);
		if (usleep(10000) != 0)
			break;
	}
	printf("summary\\n");
	fprintf(stderr, "bye\\n");
	return 0;
}
`;

/**
 * A plain WASI command that goes on after ebpm's stop: it sleeps until interrupted, says so,
 * then sleeps on for ever (each sleep returning at once, interrupted).
 */
const STUBBORN = `
#include <stdio.h>
#include <unistd.h>
int main(void)
{
	printf("ready\\n");
	while (sleep(100) == 0)
		;
	printf("interrupted\\n");
	for (;;)
		sleep(100);
}
`;

/** A guest that says it is ready, then runs without ever calling ebpm again. */
const SPIN = `
#include <stdio.h>
int main(void)
{
	volatile unsigned n = 0;
	printf("ready\\n");
	fflush(stdout);
	for (;;)
		n++;
}
`;

/** WASI errno ENOTCAPABLE (wasi-libc's errno values are WASI's): a path outside every preopen. */
const ENOTCAPABLE = 76;

let dir = '';
let guest = '';
let layout = '';
let host = '';
let plain = '';
let loop = '';
let stubborn = '';
let spin = '';
const sigsnoop = join(REPO, 'examples', 'sigsnoop');

/** A child that traps USR1/USR2, sends both to itself once told, then waits to be let go. */
function selfSignaller() {
  return spawn(...onOneCpu('/bin/sh', ['-c', 'trap ":" USR1 USR2; read go; kill -USR1 $$; kill -USR2 $$; read done']), { stdio: ['pipe', 'ignore', 'ignore'] });
}

/**
 * The sig_trace programs process `pid` holds (`prog_id` in the fdinfo of its BPF fds): other
 * work on the machine may run sigsnoop at the same time, so bpftool's list alone cannot tell.
 */
function sigTraceOf(pid: number): number[] {
  const named = programIds('sig_trace');
  return programsOf(pid).filter((id) => named.includes(id));
}

/** Resolves once `text()`, the output `child` wrote to stdout so far, has `n` lines; rejects if it ends first. */
function lines(child: ChildProcess, text: () => string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ready = () =>
      text()
        .split('\n')
        .filter((l) => l !== '');
    const check = () => {
      if (ready().length < n) return;
      child.stdout!.off('data', check);
      child.off('close', ended);
      resolve(ready());
    };
    const ended = () => reject(new Error(`ended with fewer than ${n} lines: ${text()}`));
    // After spawnEbpm's own listener, which adds the chunk to `text()`.
    child.stdout!.on('data', check);
    child.once('close', ended);
    check();
  });
}

it('parseSize reads --max-memory in bytes, K, M and G, from one Wasm page to 4 GiB', () => {
  const sizes = ['65536', '64K', '64KiB', '64kb', '1M', '1.5M', '64M', '1G', '4G', '4097M', '63K', '0', 'M', '', '1T', ' 1M'].map((t) => [t, parseSize(t)]);
  expect(sizes).toEqual([
    ['65536', 65536],
    ['64K', 65536],
    ['64KiB', 65536],
    ['64kb', 65536],
    ['1M', 1 << 20],
    ['1.5M', undefined],
    ['64M', 64 << 20],
    ['1G', 1 << 30],
    ['4G', 4 * 1024 ** 3],
    ['4097M', undefined],
    ['63K', undefined],
    ['0', undefined],
    ['M', undefined],
    ['', undefined],
    ['1T', undefined],
    [' 1M', undefined],
  ]);
});

it('takeWasmFlags takes the Wasm flags before -- only, and resolves a relative --dir', () => {
  const r = takeWasmFlags(
    ['pkg', '--env', 'A=1', '-p', '5', '--dir=data', '--allow-attach', 'eth0', '--allow-undeclared-bpf', '--', '--env', 'B=2'],
    '/srv',
    'usage',
  );
  expect(r).toEqual({
    args: ['pkg', '-p', '5', '--', '--env', 'B=2'],
    flags: {
      env: { A: '1' },
      preopens: [{ host: '/srv/data', guest: '/srv/data', allowSystem: false }],
      allowAttach: ['eth0'],
      allowUndeclared: true,
      given: ['--env', '--dir', '--allow-attach', '--allow-undeclared-bpf'],
    },
  });
  expect(() => takeWasmFlags(['pkg', '--dir', 'a:/x', '--dir', 'b:/x'], '/srv', 'usage')).toThrowWithCode('USAGE', 'run: --dir: /x given twice');
});

/** A copy of the sigsnoop layout whose module blob has one byte changed: its path, the module's digest and what its bytes hash to now. */
function damagedLayout(): { damaged: string; wasm: string; got: string } {
  const damaged = join(dir, 'damaged');
  const blob = (digest: string) => join(damaged, 'blobs', 'sha256', digest.slice('sha256:'.length));
  cpSync(layout, damaged, { recursive: true, force: true });
  const index = JSON.parse(readFileSync(join(damaged, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { mediaType: string; digest: string }[] };
  const wasm = manifest.layers.find((l) => l.mediaType.includes('wasm'))!.digest;
  const bytes = readFileSync(join(layout, 'blobs', 'sha256', wasm.slice('sha256:'.length)));
  bytes[100]! ^= 0xff;
  rmSync(blob(wasm));
  writeFileSync(blob(wasm), bytes);
  return { damaged, wasm, got: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

describeWith(['root', 'btf', 'clang', 'native', 'wasi', 'bpftool'], 'ebpm run with a Wasm program', () => {
  beforeAll(async () => {
    dir = tempDir();
    const object = await exampleObject('sigsnoop');
    writeFileSync(join(dir, 'sigsnoop.bpf.o.h'), xxdHeader('sigsnoop.bpf.o', object));
    writeFileSync(join(dir, 'sigsnoop.bpf.o'), object);
    writeFileSync(join(dir, 'guest.c'), GUEST);
    guest = join(dir, 'guest.wasm');
    await compileWasm(join(dir, 'guest.c'), guest, { cflags: ['-Wall', '-Werror'] });
    plain = wasiCommand(dir, 'plain', PLAIN);
    loop = wasiCommand(dir, 'loop', LOOP);
    stubborn = wasiCommand(dir, 'stubborn', STUBBORN);
    spin = wasiCommand(dir, 'spin', SPIN);
    host = join(dir, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'f.txt'), 'granted\n');
    const pkg = join(dir, 'sigsnoop');
    cpSync(sigsnoop, pkg, { recursive: true, filter: (src) => !src.endsWith('/out') });
    expect(ebpmSync(['build', pkg]).code).toBe(0);
    layout = join(pkg, 'out');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs examples/sigsnoop with the arguments after --: the guest prints each signal with its name; SIGINT ends it with 130', async () => {
    const child = selfSignaller();
    // Under --json the JSON objects the guest prints pass as they are.
    const run = ebpm(['run', sigsnoop, '--json', '--', '-p', String(child.pid)]);
    await run.waitFor(/running and waiting/);
    const during = sigTraceOf(run.child.pid!);
    expect(during).toHaveLength(1);
    child.stdin!.write('go\n');
    const out = await lines(run.child, run.stdout, 2);
    run.child.kill('SIGINT');
    const r = await run.exited();
    child.stdin!.end('done\n');
    expect(out).toEqual([
      `{"pid":${child.pid},"tpid":${child.pid},"sig":10,"ret":0,"comm":"sh","sig_name":"SIGUSR1"}`,
      `{"pid":${child.pid},"tpid":${child.pid},"sig":12,"ret":0,"comm":"sh","sig_name":"SIGUSR2"}`,
    ]);
    expect(r.code).toBe(130);
    expect(r.stderr).toBe(
      'sigsnoop 1.2.0: started its Wasm program\nrunning and waiting for the ebpf events from perf event...\nsigsnoop: Wasm program ended (signal, exit code 130)\n',
    );
    expect(released(() => programIds('sig_trace').filter((id) => during.includes(id)))).toEqual([]);
  });

  it('--duration ends the guest with 0 and SIGTERM with 143, each time with none of its programs left loaded', async () => {
    const timed = ebpm(['run', layout, '--duration', '1', '--', '-p', '1']);
    await timed.waitFor(/running and waiting/);
    const during = sigTraceOf(timed.child.pid!);
    expect(during).toHaveLength(1);
    const r = await timed.exited();
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(r.stderr.endsWith('\nsigsnoop: Wasm program ended (duration, exit code 0)\n')).toBe(true);
    expect(released(() => programIds('sig_trace').filter((id) => during.includes(id)))).toEqual([]);

    const term = ebpm(['run', layout, '--', '-p', '1']);
    await term.waitFor(/running and waiting/);
    const termed = sigTraceOf(term.child.pid!);
    expect(termed).toHaveLength(1);
    term.child.kill('SIGTERM');
    const t = await term.exited();
    expect(t.code).toBe(143);
    expect(t.stderr.endsWith('\nsigsnoop: Wasm program ended (signal, exit code 143)\n')).toBe(true);
    expect(released(() => programIds('sig_trace').filter((id) => termed.includes(id)))).toEqual([]);
  });

  it('gives the guest only the --env variables and the --dir directories, and its exit code', () => {
    const granted = ebpmSync(['run', guest, '--env', 'A=1', '--env=B=x=y', '--dir', `${host}:/data`, '--', '/data/f.txt', join(host, 'f.txt')]);
    expect(granted).toEqual({
      code: 7,
      stdout: `env A=1\nenv B=x=y\nread /data/f.txt: granted\nopen ${join(host, 'f.txt')}: errno ${ENOTCAPABLE}\n`,
      stderr: 'guest 0.0.0: started its Wasm program\nguest: Wasm program ended (exit, exit code 7)\n',
    });
    // A relative --dir is the host directory at its own absolute path.
    const same = ebpmSync(['run', 'guest.wasm', '--dir', 'host', '--', join(host, 'f.txt')], { cwd: dir });
    expect([same.code, same.stdout]).toEqual([7, `read ${join(host, 'f.txt')}: granted\n`]);
    // Nothing given: no variable (ebpm's own environment stays out) and no file.
    const bare = ebpmSync(['run', guest, '--', '/data/f.txt', '/etc/hostname']);
    expect([bare.code, bare.stdout]).toEqual([7, `open /data/f.txt: errno ${ENOTCAPABLE}\nopen /etc/hostname: errno ${ENOTCAPABLE}\n`]);
  });

  it('runs a plain WASI command, with no BPF object and no wasm_bpf import, without asking for BPF capabilities', async () => {
    expect(ebpmSync(['run', plain, '--', 'a', 'b c'])).toEqual({
      code: 7,
      stdout: '0:plain\n1:a\n2:b c\n',
      stderr: 'plain 0.0.0: started its Wasm program\nplain: Wasm program ended (exit, exit code 7)\n',
    });
    // inspect reads it as run does: a module with no object, importing WASI only.
    const inspected = ebpmSync(['inspect', plain, '--json']);
    const meta = JSON.parse(inspected.stdout) as { format: string; metadata: { objects: unknown[]; wasm: { imports: { module: string }[] } } };
    expect([inspected.code, meta.format, meta.metadata.objects, [...new Set(meta.metadata.wasm.imports.map((i) => i.module))]]).toEqual([
      0,
      'wasm-module',
      [],
      ['wasi_snapshot_preview1'],
    ]);
    // Without CAP_BPF and CAP_PERFMON the plain command still runs; a module embedding an object does not.
    const machine = { architecture: ociArch(), procStatus: 'CapEff:\t0000000000000000\n', kernelBtf: true, release: '6.1.0-57-amd64' };
    const run = (file: string) => {
      const wasm = new Uint8Array(readFileSync(file));
      const metadata = looseModuleMetadata({ name: 'm', architecture: ociArch() }, 'm.wasm', wasm);
      const out: string[] = [];
      return runWasmPackage({
        package: { source: file, format: 'wasm-module', metadata, objects: new Map(), wasm },
        args: ['x'],
        machine,
        onStdout: (l) => out.push(l),
        onStderr: () => {},
      }).then(
        (r) => ({ ...r, out, objects: metadata.objects.length }),
        (e: unknown) => e,
      );
    };
    expect(await run(plain)).toEqual({ exitCode: 7, reason: 'exit', out: ['0:m', '1:x'], objects: 0 });
    expect(await run(guest)).toMatchObject({ code: 'PERMISSION_DENIED', message: 'run m: missing CAP_BPF and CAP_PERFMON' });
  });

  it("traces a Wasm run's start-up steps with EBPM_TRACE_STARTUP=1, on the main thread's clock, in the order they happen", () => {
    const traced = (flags: string[]) => {
      const r = ebpmSync(['run', plain, ...flags], { env: { ...defaultCliEnv(), EBPM_TRACE_STARTUP: '1' } });
      expect([r.code, r.stdout]).toEqual([7, '0:plain\n']);
      const phases = [...r.stderr.matchAll(/^phase (\S+) (\d+\.\d)$/gm)].map((m) => [m[1]!, Number(m[2])] as const);
      // Every phase once, in the order they ended.
      expect(phases.map(([, ms]) => ms)).toEqual(phases.map(([, ms]) => ms).sort((a, b) => a - b));
      return phases.map(([name]) => name);
    };
    // On the main thread, --duration's too (the addon's timer ends it): the addon (for the
    // guest's signals) is loaded once the package shows a Wasm module. A guest in a thread of its
    // own (--follow) is traced in follow-wasm.test.ts.
    for (const flags of [[], ['--duration', '60']]) expect(traced(flags)).toEqual(['node', 'bundle', 'command', 'addon', 'resolve', 'instance', 'event']);
  });

  it("refuses a damaged module after its guest's thread started, exiting with the refusal's code and message and leaving no thread behind", () => {
    // The thread starts once the manifest names a Wasm layer; the module's bytes are checked after.
    const { damaged, wasm, got } = damagedLayout();
    // The process ends with the thread it started: a thread left running would keep it from exiting.
    expect(ebpmSync(['run', damaged, '--', '-p', '1'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: ${damaged}: ${wasm}: content hashes to ${got}\nhint: the content was corrupted or replaced; nothing of it was kept\n`,
    });
  });

  it('tells the resolve hook of a Wasm module once, as soon as the manifest or the file shows one, and of nothing else', async () => {
    const env = defaultCliEnv();
    const told: string[] = [];
    const resolve = (path: string) =>
      resolveSource(path, {
        pull: 'never',
        env,
        cwd: dir,
        context: () => Promise.reject(new Error('a local path needs no context')),
        trustPolicy: () => loadEnvPolicy(env),
        onWasm: () => told.push(path),
      }).then(
        (pkg) => pkg.wasm !== undefined,
        (e: unknown) => (e as { code?: string }).code,
      );
    const { damaged } = damagedLayout();
    expect([await resolve(layout), await resolve(plain), await resolve(join(dir, 'sigsnoop.bpf.o')), await resolve(damaged)]).toEqual([
      true,
      true,
      false,
      'DIGEST_MISMATCH',
    ]);
    expect(told).toEqual([layout, plain, damaged]);
  });

  it('unwinds a guest that goes on after SIGTERM or --duration once the grace is over, and ends one that goes on after SIGINT at the second', async () => {
    const started = async (flags: string[] = []) => {
      const run = ebpm(['run', stubborn, ...flags]);
      await run.untilStdout(/^ready\n/);
      return run;
    };
    // The deadline stops the guest as a first signal would; a Ctrl-C in its grace is the user's first, not a second.
    const timed = await started(['--duration', '0.2']);
    await timed.untilStdout(/interrupted\n/);
    timed.child.kill('SIGINT');
    const d = await timed.exited();
    expect([d.code, d.stdout, d.stderr]).toEqual([
      0,
      'ready\ninterrupted\n',
      'stubborn 0.0.0: started its Wasm program\nstubborn: Wasm program ended (duration, exit code 0)\n',
    ]);
    const term = await started();
    term.child.kill('SIGTERM');
    const t = await term.exited();
    expect([t.code, t.stdout, t.stderr]).toEqual([
      143,
      'ready\ninterrupted\n',
      'stubborn 0.0.0: started its Wasm program\nstubborn: Wasm program ended (signal, exit code 143)\n',
    ]);
    const int = await started();
    int.child.kill('SIGINT');
    await int.untilStdout(/interrupted\n/);
    int.child.kill('SIGINT');
    const i = await int.exited();
    expect([i.code, i.signal, i.stdout, i.stderr]).toEqual([null, 'SIGINT', 'ready\ninterrupted\n', 'stubborn 0.0.0: started its Wasm program\n']);
  });

  it('ends the process by SIGALRM, saying why, when a guest makes no call to ebpm through the grace after --duration and five seconds more', async () => {
    const r = await ebpm(['run', spin, '--duration', '0.1']).exited();
    expect([r.code, r.signal, r.stdout, r.stderr]).toEqual([
      null,
      'SIGALRM',
      'ready\n',
      "spin 0.0.0: started its Wasm program\nebpm: the Wasm program still runs after its stop's grace, making no call to ebpm: it ends with the process\n",
    ]);
  });

  it('stops the guest once nobody reads its output: its exit path runs and ebpm exits with 0', async () => {
    const run = ebpm(['run', loop]);
    await run.untilStdout(/line 0/);
    run.child.stdout!.destroy();
    const r = await run.exited();
    expect([r.code, r.stderr]).toEqual([0, 'loop 0.0.0: started its Wasm program\nbye\nloop: Wasm program ended (output-closed, exit code 0)\n']);
  });

  it("--max-events counts the Wasm program's lines and stops it as --duration does; --json prints each as a JSON string", () => {
    expect(ebpmSync(['run', loop, '--max-events', '3'])).toEqual({
      code: 0,
      stdout: 'line 0 "q"\nline 1 "q"\nline 2 "q"\n',
      stderr: 'loop 0.0.0: started its Wasm program\nbye\nloop: Wasm program ended (max-events, exit code 0)\n',
    });
    expect(ebpmSync(['run', loop, '--json', '--max-events', '2'])).toEqual({
      code: 0,
      stdout: '"line 0 \\"q\\""\n"line 1 \\"q\\""\n',
      stderr: 'loop 0.0.0: started its Wasm program\nbye\nloop: Wasm program ended (max-events, exit code 0)\n',
    });
    // A program that ends by itself keeps its exit code; its lines are JSON strings all the same.
    expect(ebpmSync(['run', plain, '--json', '--', 'a', 'b "c"'])).toEqual({
      code: 7,
      stdout: '"0:plain"\n"1:a"\n"2:b \\"c\\""\n',
      stderr: 'plain 0.0.0: started its Wasm program\nplain: Wasm program ended (exit, exit code 7)\n',
    });
  });

  it("ends a guest that needs more than --max-memory with WASM_MEMORY_LIMIT's one-line error", () => {
    const r = ebpmSync(['run', guest, '--max-memory', '1M', '--', '--hog', '40']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').slice(0, 2)).toEqual([
      'guest 0.0.0: started its Wasm program',
      'error: run guest: wasm guest guest: exceeded the memory limit of 1048576 bytes (unreachable)',
    ]);
    expect(ebpmSync(['run', guest, '--max-memory', '16MiB', '--', '--hog', '40']).code).toBe(0);
  });

  it('refuses bad Wasm flag values with exit 2 before the package is even looked up', () => {
    const nowhere = join(dir, 'nowhere');
    const cases: [string[], string][] = [
      [['--max-memory', 'lots'], 'error: run: --max-memory "lots": not a size from 64K to 4G'],
      [['--max-memory', '32K'], 'error: run: --max-memory "32K": not a size from 64K to 4G'],
      [['--max-memory', '5G'], 'error: run: --max-memory "5G": not a size from 64K to 4G'],
      [['--max-memory', '1M', '--max-memory=2M'], 'error: run: --max-memory given twice'],
      [['--env', 'NOVALUE'], 'error: run: --env "NOVALUE": not KEY=VALUE'],
      [['--env', 'A=1', '--env', 'A=2'], 'error: run: --env A given twice'],
      [['--dir', `${host}:data`], `error: run: --dir "${host}:data": not host[:guest] with an absolute guest path`],
      [['--allow-attach'], 'error: run: --allow-attach needs a value'],
      [['--allow-undeclared-bpf=yes'], 'error: run: --allow-undeclared-bpf takes no value'],
    ];
    for (const [flags, line] of cases) {
      const r = ebpmSync(['run', nowhere, ...flags]);
      expect([r.code, r.stderr.split('\n')[0]], flags.join(' ')).toEqual([2, line]);
    }
    const bpf = ebpmSync(['run', join(dir, 'sigsnoop.bpf.o'), '--env', 'A=1', '--allow-undeclared-bpf']);
    expect([bpf.code, bpf.stderr.split('\n')[0]]).toEqual([
      2,
      'error: run: --env, --allow-undeclared-bpf apply only to packages with a Wasm program, and sigsnoop has none',
    ]);
  });

  it('lists the Wasm flags in ebpm run --help', () => {
    const r = ebpmSync(['run', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.split('\n');
    for (const flag of ['--env KEY=VALUE', '--dir host[:guest]', '--max-memory <size>', '--allow-attach <target>', '--allow-undeclared-bpf']) {
      expect(
        help.filter((l) => l.startsWith(`  ${flag} `)),
        flag,
      ).toHaveLength(1);
    }
    const at = help.findIndex((l) => l.startsWith('  --max-memory '));
    expect(help.slice(at, at + 2)).toEqual([
      '  --max-memory <size>      cap its memory: bytes, or K, M, G (powers of 1024), 64K to 4G (default',
      '                           128M)',
    ]);
  });

  it('builds out/ with mode 0755, so that another user can read the package', () => {
    expect(statSync(layout).mode & 0o777).toBe(0o755);
    // A sandbox the test user can read: the suite's temp root is private to root.
    const r = ebpmSync(['inspect', layout, '--json'], { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], env: cliEnv(dir) });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout)).toMatchObject({ metadata: { name: 'sigsnoop', wasm: { name: 'main.wasm' } } });
  });

  it("prints the trust policy's warning once for a Wasm package pulled unsigned", async () => {
    const env = cliEnv(sandboxDir('wasm-trust-'));
    // In host/, where no path is named sigsnoop: the argument is a reference.
    const cli = (args: string[]) => ebpmSync(args, { env, cwd: host });
    expect(cli(['push', layout]).code).toBe(0);
    const r = cli(['run', 'sigsnoop:1.2.0', '--duration', '0.5', '--', '-p', '1']);
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: local\.invalid\/sigsnoop@sha256:[0-9a-f]{64}: not signed \(warn by the built-in default policy\)$/);
    expect(r.stderr.endsWith('sigsnoop: Wasm program ended (duration, exit code 0)\n')).toBe(true);
  });
});
