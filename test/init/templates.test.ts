// What `ebpm init` writes builds and runs unchanged: each template is initialised into a temp
// directory, built with the real clang through the build service, and run on the real kernel.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { eventFormat } from '../../src/package/decode.js';
import { assignments, flagSpecs } from '../../src/package/params.js';
import { packageFlagValues } from '../../src/cli/commands/run-args.js';
import { build, type BuildResult } from '../../src/services/build.js';
import { openContext } from '../../src/services/context.js';
import { loadEnvPolicy } from '../../src/sign/policy-file.js';
import { init, type TemplateName } from '../../src/services/init.js';
import { localSource, resolvePackage, type ResolvedPackage } from '../../src/services/run-source.js';
import { planRun, runPackage } from '../../src/services/run.js';
import { runWasmPackage } from '../../src/services/run-wasm.js';
import { describeWith } from '../helpers/prereq.js';

const NAME = 'my-tool';
const ENV = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };

/** Each template initialised and built once per file, shared by both suites. */
const built = new Map<TemplateName, Promise<BuildResult>>();
function initAndBuild(template: TemplateName): Promise<BuildResult> {
  let b = built.get(template);
  if (!b) {
    const dir = join(mkdtempSync(join(process.env.EBPM_TEST_ROOT!, `init-${template}-`)), NAME);
    b = init({ name: NAME, template, dir }).then(() => build({ dir, env: ENV }));
    built.set(template, b);
  }
  return b;
}

/** The package as `ebpm run <dir>/out` resolves it. */
async function resolved(template: TemplateName): Promise<ResolvedPackage> {
  const r = await initAndBuild(template);
  return resolvePackage(r.out, [localSource()], {
    pull: 'never',
    env: ENV,
    cwd: r.dir,
    context: () => openContext({ HOME: dirname(r.dir) }),
    trustPolicy: () => loadEnvPolicy({ HOME: dirname(r.dir) }),
  });
}

const int = (name: string) => ({ kind: 'int', size: 4, name, signed: true });
const EVENT: TypeLayout = {
  kind: 'struct',
  size: 152,
  name: 'event',
  fields: [
    { name: 'pid', offset: 0, layout: int('int') },
    { name: 'ppid', offset: 4, layout: int('int') },
    { name: 'comm', offset: 8, layout: { kind: 'string', size: 16 } },
    { name: 'filename', offset: 24, layout: { kind: 'string', size: 127 } },
  ],
} as TypeLayout;

/** What both templates' BPF object declares. */
const OBJECT = {
  name: 'my-tool.bpf.o',
  license: 'Dual BSD/GPL',
  programs: [{ name: 'handle_exec', section: 'tracepoint/sched/sched_process_exec', type: 'tracepoint', attach: 'sched/sched_process_exec' }],
  maps: [{ name: 'events', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 262144, flags: 0, description: 'Exec events, one per successful execve(2)' }],
  parameters: [
    {
      name: 'targ_ppid',
      section: '.rodata',
      offset: 0,
      size: 4,
      type: 'pid_t',
      kind: 'int',
      default: 0,
      description: 'Trace only processes started by this parent process ID (0: every process)',
      flag: { long: 'ppid', short: 'p' },
    },
  ],
  exports: [{ map: 'events', type: EVENT }],
};

const REQUIREMENTS = {
  programTypes: ['tracepoint'],
  mapTypes: ['ringbuf'],
  helpers: [
    'bpf_get_current_comm',
    'bpf_get_current_pid_tgid',
    'bpf_get_current_task',
    'bpf_probe_read_kernel',
    'bpf_probe_read_kernel_str',
    'bpf_ringbuf_reserve',
    'bpf_ringbuf_submit',
  ],
  kernelTypes: ['task_struct', 'trace_event_raw_sched_process_exec'],
  kernelBtf: true,
};

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'ebpm init templates build', () => {
  it('bpf: one object with the tracepoint program, the ppid parameter and the exported event', async () => {
    const { metadata: m } = await initAndBuild('bpf');
    expect(m).toMatchObject({
      name: NAME,
      version: '0.1.0',
      description: 'Trace process executions: process ID, parent, command and file name',
      requirements: REQUIREMENTS,
    });
    expect(m.objects).toHaveLength(1);
    expect(m.objects[0]).toMatchObject({ ...OBJECT, layer: true, embedded: false });
    expect(m.wasm).toBeUndefined();
  });

  it('wasm-c: the same object, embedded in a Wasm module that imports the wasm_bpf functions it uses', async () => {
    const [bpf, { metadata: m }] = await Promise.all([initAndBuild('bpf'), initAndBuild('wasm-c')]);
    expect(m.objects).toHaveLength(1);
    // Same sources, same bytes: the digest the module's data declares is the bpf template's.
    expect(m.objects[0]).toMatchObject({ ...OBJECT, layer: true, embedded: true, digest: bpf.metadata.objects[0]!.digest });
    expect(m.requirements).toEqual(REQUIREMENTS);
    expect(m.wasm!.name).toBe('main.wasm');
    expect(
      m
        .wasm!.imports.filter((i) => i.module === 'wasm_bpf')
        .map((i) => `${i.name}:${i.kind}`)
        .sort(),
    ).toEqual([
      'wasm_attach_bpf_program:function',
      'wasm_bpf_buffer_poll:function',
      'wasm_bpf_map_fd_by_name:function',
      'wasm_close_bpf_object:function',
      'wasm_load_bpf_object:function',
    ]);
    expect([...m.wasm!.exports].sort()).toEqual(['__indirect_function_table', '_start', 'memory']);
  });
});

describeWith(['root', 'btf', 'clang', 'bpftool', 'native'], 'ebpm init bpf template on the kernel', () => {
  it('reports the exec of /bin/true by this process, filtered by --ppid', async () => {
    const pkg = await resolved('bpf');
    const specs = flagSpecs(pkg.metadata.objects);
    const values = packageFlagValues(['--ppid', String(process.pid)], specs);
    const plan = planRun(pkg.metadata);
    const records: Uint8Array[] = [];
    let child: number | undefined;
    // Stopped at the first event; the stop drains what is left, so an extra event would count too.
    const ac = new AbortController();
    const r = await runPackage({
      package: pkg,
      plan,
      assignments: assignments(values),
      signal: ac.signal,
      hooks: {
        onAttached: () => (child = spawnSync('/bin/true').pid),
        onEvents: (batch) => {
          records.push(...batch.map((b) => b.slice()));
          ac.abort('SIGINT');
        },
      },
    });
    expect(r).toMatchObject({ stop: { kind: 'signal', signal: 'SIGINT' }, events: 1, lost: 0 });
    expect(r.programs).toEqual([{ object: 'my-tool.bpf.o', program: 'handle_exec', section: 'tracepoint/sched/sched_process_exec', type: 'tracepoint' }]);
    expect(plan.events).toEqual({ object: 'my-tool.bpf.o', map: 'events', layout: EVENT, why: 'declared' });
    const rec = records[0]!;
    const json = eventFormat(plan.events!.layout!).json(new DataView(rec.buffer, rec.byteOffset, rec.byteLength), 0, rec.byteLength);
    expect(JSON.parse(json)).toEqual({ pid: child, ppid: process.pid, comm: 'true', filename: '/bin/true' });
  });
});

describeWith(['root', 'btf', 'clang', 'bpftool', 'native', 'wasi'], 'ebpm init wasm-c template on the kernel', () => {
  it('main.c sets -p before load and prints the exec of /bin/true as JSON', async () => {
    const pkg = await resolved('wasm-c');
    const ac = new AbortController();
    const stdout: string[] = [];
    const stderr: string[] = [];
    let child: number | undefined;
    const r = await runWasmPackage({
      package: { ...pkg, wasm: pkg.wasm! },
      args: ['-p', String(process.pid)],
      signal: ac.signal,
      onStderr: (line) => {
        stderr.push(line);
        if (line === 'my-tool: tracing process executions, Ctrl-C to end') child = spawnSync('/bin/true').pid;
      },
      onStdout: (line) => {
        stdout.push(line);
        ac.abort();
      },
    });
    expect(r.reason).toBe('signal');
    expect(stderr[0]).toBe('my-tool: tracing process executions, Ctrl-C to end');
    expect(stdout.map((l) => JSON.parse(l))).toEqual([{ pid: child, ppid: process.pid, comm: 'true', filename: '/bin/true' }]);
  });

  it('main.c rejects a bad -p with its usage exit code', async () => {
    const pkg = await resolved('wasm-c');
    const stderr: string[] = [];
    const r = await runWasmPackage({ package: { ...pkg, wasm: pkg.wasm! }, args: ['-p', 'x'], onStdout: () => undefined, onStderr: (l) => stderr.push(l) });
    expect(r).toEqual({ exitCode: 2, reason: 'exit' });
    expect(stderr).toEqual(['my-tool: invalid PPID: x']);
  });
});
