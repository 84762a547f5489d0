// Kernels without BTF, on the real kernel: a package built with `--btf-for` this kernel runs
// with `--btf <its minimized BTF>`, and, where /sys/kernel/btf is hidden (an empty tmpfs mounted
// over it in a mount namespace of the run's own), from the BTF it carries — through ebpm's loader
// and through the Wasm runtime's; a package carrying none for this release is refused.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findType, parseBtf } from '../../src/bpf/btf.js';
import { REPO } from '../helpers/objects.js';
import { onOneCpu } from '../helpers/cpu.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, jsonLines, ownCopy, programsOf, tempDir, untimed } from './spawn.js';

const KERNEL_BTF = '/sys/kernel/btf/vmlinux';
const HOST = release();

/** Runs the CLI in a mount namespace of its own whose /sys/kernel/btf is an empty tmpfs: a kernel without BTF, as ebpm and libbpf see it. */
const WITHOUT_BTF = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /sys/kernel/btf && exec "$0" "$@"'];

let dir = '';
const layout: Record<string, string> = {};

describeWith(['root', 'btf', 'clang', 'native', 'bpftool', 'wasi'], 'kernels without BTF', () => {
  beforeAll(() => {
    dir = tempDir();
    // Program names of their own (`kb_…`): other test files load execsnoop at the same time.
    const execsnoop = ownCopy('execsnoop', dir, 'tracepoint__syscalls__sys_', 'kb_');
    expect(ebpmSync(['build', execsnoop, '--btf-for', `${HOST}=${KERNEL_BTF}`]).code).toBe(0);
    layout.carrying = join(execsnoop, 'out');
    const other = ownCopy('execsnoop', join(dir, 'other'), 'tracepoint__syscalls__sys_', 'kb_');
    expect(ebpmSync(['build', other, '--btf-for', `5.10.0-46-amd64=${KERNEL_BTF}`, '--btf-for', `6.1.0-57-amd64=${KERNEL_BTF}`]).code).toBe(0);
    layout.other = join(other, 'out');
    const sigsnoop = join(dir, 'sigsnoop');
    cpSync(join(REPO, 'examples', 'sigsnoop'), sigsnoop, { recursive: true, filter: (src) => !src.endsWith('/out') });
    expect(ebpmSync(['build', sigsnoop, '--btf-for', `${HOST}=${KERNEL_BTF}`]).code).toBe(0);
    layout.wasm = join(sigsnoop, 'out');
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The BTF layer the layout carries for `rel`, written to a file. */
  function carried(out: string, rel: string): string {
    const blob = (d: string) => readFileSync(join(out, 'blobs', 'sha256', d.slice('sha256:'.length)));
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { layers: { digest: string; annotations: Record<string, string> }[] };
    const layer = manifest.layers.find((l) => l.annotations['org.opencontainers.image.title'] === `btf/${rel}.btf`)!;
    const file = join(dir, `${rel}.btf`);
    writeFileSync(file, blob(layer.digest));
    return file;
  }

  /** execsnoop until it is attached, one exec of /bin/true by this process, then SIGINT: the events of that exec. */
  async function execOfTrue(args: readonly string[], prefix?: readonly string[], source = layout.carrying!) {
    const run = ebpm(['run', source, '--json', ...args], prefix ? { prefix } : {});
    await run.waitFor(/attached 2 programs/);
    expect(programsOf(run.child.pid!)).toHaveLength(2);
    expect(spawnSync('/bin/true').status).toBe(0);
    run.child.kill('SIGINT');
    const r = await run.exited();
    // The parent's pid is read with CO-RE (task->real_parent->tgid): right only if relocated right.
    return {
      code: r.code,
      mine: jsonLines(r.stdout)
        .filter((e) => e.ppid === process.pid)
        .map(({ pid: _, ...e }) => e),
      stderr: r.stderr,
    };
  }
  const trueEvent = { ppid: process.pid, uid: 0, retval: 0, comm: 'true', filename: '/bin/true' };

  it('run --btf <the minimized BTF> relocates against it on this kernel and decodes the events', async () => {
    expect(await execOfTrue(['--btf', carried(layout.carrying!, HOST)])).toMatchObject({ code: 130, mine: [trueEvent] });
  }, 60_000);

  it('without /sys/kernel/btf, ebpm loads the BTF the package carries for this release', async () => {
    const r = await execOfTrue(['--verbose'], WITHOUT_BTF);
    expect(r).toMatchObject({ code: 130, mine: [trueEvent] });
    // libbpf found task_struct under its id in the carried BTF, not in a kernel's 5 MiB one.
    const id = findType(parseBtf(readFileSync(carried(layout.carrying!, HOST))), 'struct', 'task_struct')!.id;
    expect(r.stderr).toMatch(
      new RegExp(`^libbpf: CO-RE relocating \\[\\d+\\] struct task_struct: found target candidate \\[${id}\\] struct task_struct in \\[vmlinux\\]$`, 'm'),
    );
  }, 60_000);

  it('push, pull and the store keep the BTF: a pulled package runs from it without kernel BTF', async () => {
    expect(ebpmSync(['push', layout.carrying!]).code).toBe(0);
    expect(ebpmSync(['pull', 'execsnoop@1.0']).code).toBe(0);
    expect(ebpmSync(['inspect', 'execsnoop@1.0']).stdout).toContain(`\n  BTF carried for kernels: ${HOST}\n`);
    expect(await execOfTrue(['--pull', 'never'], WITHOUT_BTF, 'execsnoop@1.0')).toMatchObject({ code: 130, mine: [trueEvent] });
  }, 60_000);

  it('the Wasm runtime opens the objects with the carried BTF too', async () => {
    const child = spawn(...onOneCpu('/bin/sh', ['-c', 'trap ":" USR1; read go; kill -USR1 $$; read done']), { stdio: ['pipe', 'ignore', 'ignore'] });
    const run = ebpm(['run', layout.wasm!, '--', '-p', String(child.pid)], { prefix: WITHOUT_BTF });
    await run.waitFor(/running and waiting/);
    child.stdin!.write('go\n');
    // The guest's first line, or the run's end if it never comes.
    await run.untilStdout(/\n/);
    run.child.kill('SIGINT');
    const r = await run.exited();
    child.stdin!.end('done\n');
    expect(r.code).toBe(130);
    expect(r.stdout.split('\n')[0]).toBe(`{"pid":${child.pid},"tpid":${child.pid},"sig":10,"ret":0,"comm":"sh","sig_name":"SIGUSR1"}`);
  }, 60_000);

  it('refuses a package that carries no BTF for this release, naming it and those it carries (exit 4)', () => {
    const r = ebpmSync(['run', layout.other!, '--duration', '1'], { prefix: WITHOUT_BTF });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `error: run execsnoop: kernel ${HOST} has no BTF (/sys/kernel/btf/vmlinux), which the package needs for CO-RE, and the package carries BTF only for 5.10.0-46-amd64, 6.1.0-57-amd64\n` +
        `hint: rebuild the package with \`ebpm build --btf-for <vmlinux, BTF file or linux-image .deb of ${HOST}>\`, or pass this kernel's BTF with \`ebpm run --btf <file>\`\n`,
    );
    // --btf overrides: the same package runs from the file given.
    const given = ebpmSync(['run', layout.other!, '--json', '--duration', '0', '--btf', carried(layout.carrying!, HOST)], { prefix: WITHOUT_BTF });
    expect(given.code).toBe(0);
    // Other work on the machine may exec meanwhile: the count is what was printed.
    const printed = jsonLines(given.stdout).length;
    expect(given.stderr.split('\n').slice(-2)).toEqual([`execsnoop: ${printed} events, 0 lost (stopped: duration)`, '']);
  }, 60_000);

  it("test/matrix/no-btf.sh, the kernel matrix's proof, passes on this kernel", () => {
    const r = spawnSync('bash', [join(REPO, 'test', 'matrix', 'no-btf.sh'), layout.carrying!, layout.other!], { encoding: 'utf8' });
    const lines = r.stdout.split('\n');
    // A failure says why on its last line (`no-btf: FAILED: …`): compared first, it is the message.
    expect([r.status, r.stderr, lines.at(-2)]).toEqual([0, '', 'no-btf: ok']);
    const parent = /parent (\d+)$/.exec(lines[4] ?? '')?.[1];
    const event = (l: string) => {
      const { pid: _, ...e } = untimed(JSON.parse(l) as Record<string, unknown>);
      return e;
    };
    const exec = { ppid: Number(parent), uid: 0, retval: 0, comm: 'true', filename: '/bin/true' };
    expect({ code: r.status, stderr: r.stderr, events: lines.slice(1, 4).map(event) }).toEqual({ code: 0, stderr: '', events: [exec, exec, exec] });
    expect([lines[0], ...lines.slice(4)]).toEqual([
      `no-btf: kernel ${HOST}, /sys/kernel/btf hidden`,
      `no-btf: CARRYING ran from its BTF for ${HOST}: 3 execs of /bin/true, parent ${parent}`,
      `error: run execsnoop: kernel ${HOST} has no BTF (/sys/kernel/btf/vmlinux), which the package needs for CO-RE, and the package carries BTF only for 5.10.0-46-amd64, 6.1.0-57-amd64`,
      `hint: rebuild the package with \`ebpm build --btf-for <vmlinux, BTF file or linux-image .deb of ${HOST}>\`, or pass this kernel's BTF with \`ebpm run --btf <file>\``,
      'no-btf: OTHER refused (exit 4)',
      'no-btf: ok',
      '',
    ]);
    // The tmpfs was the script's own: this machine still has its BTF.
    expect(existsSync(KERNEL_BTF)).toBe(true);
  }, 60_000);
});
