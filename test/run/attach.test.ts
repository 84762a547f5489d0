// `ebpm run --attach <program>=<target>` on the real kernel: an xdp program on the loopback
// interface and a uprobe on a function of a test binary attach where they are told (bpftool
// lists their links), the uprobe's events arrive, and nothing stays attached after the run;
// the target forms are parsed per kind of program, and bad ones refused before anything loads.
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTarget } from '../../src/kernel/loader-targets.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { parseRunLine } from '../../src/cli/commands/run-args.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, jsonLines, programIds, released, tempDir } from './spawn.js';

const SOURCES = {
  sockops: `SEC("sockops")
int count_ops(struct bpf_sock_ops *skops)
{
	return 1;
}`,
  xdp: `SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}`,
  uprobe: `struct call {
	int arg;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} calls SEC(".maps");

EBPM_EXPORT(calls, struct call);

SEC("uprobe")
int BPF_KPROBE(on_call, int arg)
{
	struct call *c = bpf_ringbuf_reserve(&calls, sizeof(*c), 0);

	if (!c)
		return 0;
	c->arg = arg;
	bpf_ringbuf_submit(c, 0);
	return 0;
}`,
};

/** The test binary: calls ebpm_probe_target with each number read from stdin. */
const TARGET = `#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int ebpm_probe_target(int x)
{
	__asm__ volatile("");
	return x + 1;
}
int main(void)
{
	char line[32];
	while (fgets(line, sizeof(line), stdin))
		printf("%d\\n", ebpm_probe_target(atoi(line)));
	return 0;
}
`;

interface Link {
  readonly id: number;
  readonly type: string;
  readonly prog_id: number;
}

function links(progIds: readonly number[]): Link[] {
  return (JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as Link[]).filter((l) => progIds.includes(l.prog_id));
}

describe('--attach targets', () => {
  const program = (section: string, type: string) => ({ name: 'p', section, type });

  it("reads each kind of program's form", () => {
    expect(parseTarget(program('uprobe', 'kprobe'), '/usr/bin/bash:readline')).toEqual({
      kind: 'uprobe',
      binary: '/usr/bin/bash',
      symbol: 'readline',
      retprobe: false,
    });
    expect(parseTarget(program('uretprobe', 'kprobe'), './a.out:f+0x10')).toEqual({
      kind: 'uprobe',
      binary: './a.out',
      symbol: 'f',
      offset: 16,
      retprobe: true,
    });
    expect(parseTarget(program('uprobe', 'kprobe'), '/lib/x.so:4096')).toEqual({ kind: 'uprobe', binary: '/lib/x.so', offset: 4096, retprobe: false });
    expect(parseTarget(program('kretprobe/x', 'kprobe'), 'do_sys_openat2')).toEqual({ kind: 'kprobe', function: 'do_sys_openat2', retprobe: true });
    expect(parseTarget(program('tracepoint/a/b', 'tracepoint'), 'syscalls/sys_enter_openat')).toEqual({
      kind: 'tracepoint',
      category: 'syscalls',
      name: 'sys_enter_openat',
    });
    expect(parseTarget(program('xdp', 'xdp'), 'lo')).toEqual({ kind: 'xdp', interface: 'lo' });
    expect(parseTarget(program('tc', 'sched_cls'), 'eth0:egress')).toEqual({ kind: 'tc', interface: 'eth0', direction: 'egress' });
    expect(parseTarget(program('cgroup_skb/ingress', 'cgroup_skb'), '/sys/fs/cgroup')).toEqual({ kind: 'cgroup', path: '/sys/fs/cgroup' });
    expect(parseTarget(program('sockops', 'sock_ops'), '/sys/fs/cgroup')).toEqual({ kind: 'cgroup', path: '/sys/fs/cgroup' });
  });

  it('refuses a malformed target, naming the form the program takes', () => {
    expect(() => parseTarget(program('xdp', 'xdp'), 'lo:ingress')).toThrowWithCode('USAGE', {
      message: 'run: --attach p=lo:ingress: not an interface name',
      hint: 'a xdp program (xdp) takes INTERFACE',
    });
    expect(() => parseTarget(program('tc', 'sched_cls'), 'eth0')).toThrow(
      expect.objectContaining({ message: 'run: --attach p=eth0: not INTERFACE:ingress or INTERFACE:egress' }),
    );
    expect(() => parseTarget(program('uprobe', 'kprobe'), '/bin/true')).toThrow(
      expect.objectContaining({
        message: 'run: --attach p=/bin/true: not BINARY:SYMBOL',
        hint: 'a kprobe program (uprobe) takes BINARY:SYMBOL[+OFFSET] or BINARY:OFFSET',
      }),
    );
    expect(() => parseTarget(program('xdp/../../x', 'xdp'), '../eth0')).toThrowWithCode('USAGE');
    // A program ebpm attaches by its section only takes no target; one it cannot attach at all is
    // refused as it is without --attach, never as "needs a target" there and "takes no target" here.
    expect(() => parseTarget(program('tp_btf/sched_switch', 'tracing'), 'x')).toThrowWithCode('USAGE', {
      message: 'run: --attach p=x: this kind of program is attached by its section only',
      hint: 'a tracing program (tp_btf/sched_switch) takes no target',
    });
    for (const [section, type, kind] of [
      ['socket', 'socket_filter', 'socket_filter'],
      ['perf_event', 'perf_event', 'perf_event'],
      ['usdt', 'kprobe', 'usdt'],
    ] as const) {
      expect(() => parseTarget(program(section, type), 'x')).toThrowWithCode(
        'ATTACH_UNSUPPORTED',
        `run: --attach p=x: ebpm does not attach ${kind} programs yet`,
      );
    }
  });

  it('takes --attach anywhere before --, repeatable, once per program', () => {
    const line = parseRunLine(['--attach', 'a=lo', 'pkg', '--attach=b=/x:f', '-p', '1', '--', '--attach', 'c=d'], '/');
    expect([line.attach, line.flags, line.afterDashes]).toEqual([
      new Map([
        ['a', 'lo'],
        ['b', '/x:f'],
      ]),
      ['-p', '1'],
      ['--attach', 'c=d'],
    ]);
    expect(() => parseRunLine(['pkg', '--attach', 'a=lo', '--attach', 'a=eth0'], '/')).toThrow(
      expect.objectContaining({ code: 'USAGE', message: 'run: --attach a given twice' }),
    );
    expect(() => parseRunLine(['pkg', '--attach', 'lo'], '/')).toThrow(expect.objectContaining({ message: 'run: --attach "lo": not <program>=<target>' }));
  });
});

let dir = '';
const objects: Record<string, string> = {};
let target = '';

describeWith(['root', 'btf', 'clang', 'native', 'bpftool'], 'ebpm run --attach on the kernel', () => {
  beforeAll(async () => {
    dir = tempDir();
    for (const [name, body] of Object.entries(SOURCES)) {
      const source = join(dir, `${name}.bpf.c`);
      writeFileSync(
        source,
        `#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n#include <ebpm/ebpm.h>\n${body}\nchar LICENSE[] SEC("license") = "GPL";\n`,
      );
      objects[name] = join(dir, `${name}.bpf.o`);
      await compileBpf(source, objects[name], { env: process.env });
    }
    writeFileSync(join(dir, 'target.c'), TARGET);
    target = join(dir, 'ebpm-target');
    execFileSync('clang', ['-O1', '-o', target, join(dir, 'target.c')]);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('attaches an xdp program to lo, as bpftool shows, and detaches it on SIGINT', async () => {
    const before = programIds('xdp_pass');
    const run = ebpm(['run', objects.xdp!, '--attach', 'xdp_pass=lo']);
    await run.waitFor(/attached/);
    const during = programIds('xdp_pass').filter((id) => !before.includes(id));
    expect(during).toHaveLength(1);
    expect(links(during).map((l) => l.type)).toEqual(['xdp']);
    expect(execFileSync('bpftool', ['net', 'show', 'dev', 'lo'], { encoding: 'utf8' })).toMatch(new RegExp(`lo\\(1\\) generic id ${during[0]}`));
    run.child.kill('SIGINT');
    const r = await run.exited();
    expect([r.code, r.stderr]).toEqual([130, 'xdp 0.0.0: attached xdp_pass (xdp on lo)\nxdp: 0 events, 0 lost (stopped: SIGINT)\n']);
    expect(released(() => programIds('xdp_pass').filter((id) => during.includes(id)))).toEqual([]);
    expect(links(during)).toEqual([]);
    expect(execFileSync('bpftool', ['net', 'show', 'dev', 'lo'], { encoding: 'utf8' })).not.toContain('lo(1)');
  });

  it('attaches a uprobe to a function of a test binary and decodes its calls, then detaches', async () => {
    const before = programIds('on_call');
    const run = ebpm(['run', objects.uprobe!, '--attach', `on_call=${target}:ebpm_probe_target`, '--json', '--max-events', '1']);
    await run.waitFor(/attached/);
    const during = programIds('on_call').filter((id) => !before.includes(id));
    expect(during).toHaveLength(1);
    expect(links(during).map((l) => l.type)).toEqual(['perf_event']);
    expect(spawnSync(target, [], { input: '41\n', encoding: 'utf8' }).stdout).toBe('42\n');
    const r = await run.exited();
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([{ arg: 41 }]);
    expect(r.stderr).toBe(`uprobe 0.0.0: attached on_call (uprobe on ${target}:ebpm_probe_target)\nuprobe: 1 events, 0 lost (stopped: max-events)\n`);
    expect(released(() => programIds('on_call').filter((id) => during.includes(id)))).toEqual([]);
    expect(links(during)).toEqual([]);
  });

  it('says which program needs a target, and refuses an unknown program or interface', () => {
    const none = ebpmSync(['run', objects.xdp!]);
    expect([none.code, none.stderr]).toEqual([
      4,
      'error: run xdp: attach xdp_pass: section xdp needs a target: --attach xdp_pass=INTERFACE\nhint: for example --attach xdp_pass=lo (ebpm run --help lists the forms)\n',
    ]);
    const unknown = ebpmSync(['run', objects.xdp!, '--attach', 'nope=lo']);
    expect([unknown.code, unknown.stderr.split('\n')[0]]).toEqual([2, 'error: run: --attach nope=lo: xdp has no program nope (its programs: xdp_pass)']);
    const missing = ebpmSync(['run', objects.xdp!, '--attach', 'xdp_pass=ebpmnosuch0']);
    expect([missing.code, missing.stderr]).toEqual([
      4,
      'error: run xdp: attach xdp_pass: interface ebpmnosuch0 does not exist\nhint: `ip link` lists the interfaces of this network namespace\n',
    ]);
    expect(ebpmSync(['run', '--help']).stdout).toContain('\n  xdp                  INTERFACE                                 lo\n');
  });

  it('attaches a sock_ops program to the cgroup --attach names, as the form in run --help says', () => {
    expect(ebpmSync(['run', objects.sockops!, '--max-events', '0'])).toEqual({
      code: 4,
      stdout: '',
      stderr:
        'error: run sockops: attach count_ops: section sockops needs a target: --attach count_ops=CGROUP_DIRECTORY\n' +
        'hint: for example --attach count_ops=/sys/fs/cgroup/user.slice (ebpm run --help lists the forms)\n',
    });
    expect(ebpmSync(['run', '--help']).stdout).toContain('\n  cgroup_*, sock_ops   CGROUP_DIRECTORY                          /sys/fs/cgroup/user.slice\n');
    const r = ebpmSync(['run', objects.sockops!, '--attach', 'count_ops=/sys/fs/cgroup/unified', '--max-events', '0']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([0, 'sockops 0.0.0: attached count_ops (sockops on /sys/fs/cgroup/unified)']);
    expect(released(() => programIds('count_ops'))).toEqual([]);
  });
});
