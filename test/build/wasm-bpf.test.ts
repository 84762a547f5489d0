/**
 * wasm-bpf C example directories (a guest `x.c` over `x.skel.h`, an `x.bpf.c`, an `x.h`, no
 * ebpm.json) build and run as they are. fixtures/execguest is this project's own, written in
 * wasm-bpf's style.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { parseObject } from '../../src/bpf/object.js';
import { inferredManifest } from '../../src/build/sources.js';
import { cDeclaration, skeletonFile, skeletonHeader, skeletonName } from '../../src/build/skeleton.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { cliEnv, runEbpm, sandboxDir, spawnEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';

const FIXTURES = new URL('fixtures', import.meta.url).pathname;

const note = (dir: string) =>
  `note: no ebpm.json in ${dir}: built as execguest@0.0.0; add an ebpm.json with {"name": …, "version": …} to name and version it\n`;

describe('wasm-bpf skeletons, pure', () => {
  it('names the skeleton and its header after the object, as bpftool does', () => {
    expect([skeletonName('execguest.bpf.o'), skeletonFile('execguest.bpf.o')]).toEqual(['execguest_bpf', 'execguest.skel.h']);
    expect([skeletonName('my-tool.bpf.o'), skeletonFile('my-tool.bpf.o')]).toEqual(['my_tool_bpf', 'my-tool.skel.h']);
  });

  it('the guest beside the one BPF source is the Wasm program of a directory without ebpm.json', () => {
    expect(inferredManifest('/x/execguest', ['execguest.bpf.c', 'execguest.c', 'execguest.h'])).toMatchObject({ name: 'execguest', wasm: 'execguest.c' });
    expect(inferredManifest('/x/execwatch', ['execwatch.bpf.c', 'execwatch.h']).wasm).toBeUndefined();
    // A .c named after no BPF source, or two BPF sources: no guest is guessed.
    expect(inferredManifest('/x/t', ['t.bpf.c', 'target.c']).wasm).toBeUndefined();
    expect(inferredManifest('/x/t', ['a.bpf.c', 'b.bpf.c', 'a.c']).wasm).toBeUndefined();
  });

  it('declares each C type with its BPF size and layout on wasm32', () => {
    const int = (size: number, signed: boolean): TypeLayout => ({ kind: 'int', size, signed });
    expect(cDeclaration(int(8, false), 'ns')).toBe('uint64_t ns');
    expect(cDeclaration(int(4, true), 'pid')).toBe('int32_t pid');
    expect(cDeclaration({ kind: 'int', size: 1, signed: false, bool: true }, 'on')).toBe('_Bool on');
    expect(cDeclaration({ kind: 'enum', size: 4, signed: false, values: [] }, 'mode')).toBe('uint32_t mode');
    expect(cDeclaration({ kind: 'pointer', size: 8 }, 'p')).toBe('uint64_t p');
    expect(cDeclaration({ kind: 'array', size: 32, count: 2, element: { kind: 'string', size: 16 } }, 'names')).toBe('char names[2][16]');
    expect(
      cDeclaration(
        {
          kind: 'struct',
          size: 16,
          fields: [
            { name: 'a', offset: 0, layout: int(1, false) },
            { name: 'b', offset: 8, layout: int(4, true) },
          ],
        },
        'cfg',
        1,
      ),
    ).toBe('struct {\n\t\tuint8_t a;\n\t\tchar __pad0[7];\n\t\tint32_t b;\n\t\tchar __pad1[4];\n\t} cfg');
    // What C cannot spell member by member stays bytes of the same size.
    const bits: TypeLayout = { kind: 'struct', size: 4, fields: [{ name: 'f', offset: 0, bitOffset: 0, bitSize: 3, layout: int(4, false) }] };
    expect(cDeclaration(bits, 'flags')).toBe('unsigned char flags[4]');
    expect(cDeclaration({ kind: 'float', size: 2 }, 'h')).toBe('unsigned char h[2]');
  });
});

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'wasm-bpf C directories', () => {
  let root: string;
  let env: Record<string, string>;
  const copy = () => {
    const dir = mkdtempSync(join(root, 'execguest-'));
    cpSync(join(FIXTURES, 'execguest'), dir, { recursive: true });
    return dir;
  };
  beforeAll(() => {
    root = sandboxDir('wasm-bpf-');
    env = cliEnv(root);
  });

  it('the skeleton of the fixture: maps, programs and .rodata at the offsets BTF gives', async () => {
    const obj = await compileBpf(join(FIXTURES, 'execguest', 'execguest.bpf.c'), join(mkdtempSync(join(root, 'obj-')), 'execguest.bpf.o'), { env });
    const header = skeletonHeader('execguest.bpf.o', parseObject(obj));
    expect(header).toContain(
      [
        '#include <wasm-bpf/libbpf-wasm.h>',
        '#include "execguest.bpf.o.h"',
        '',
        'struct execguest_bpf {',
        '\tstruct bpf_object *obj;',
        '\tstruct {',
        '\t\tstruct bpf_map *seen;',
        '\t} maps;',
        '\tstruct {',
        '\t\tstruct bpf_program *on_exec;',
        '\t} progs;',
        '\tstruct execguest_bpf__rodata {',
        '\t\tint32_t parent_tgid;',
        '\t\tchar __pad0[4];',
        '\t\tuint64_t not_before_ns;',
        '\t} *rodata;',
        '};',
      ].join('\n'),
    );
    for (const f of ['__open(void)', '__open_opts(', '__load(', '__open_and_load(void)', '__attach(', '__destroy(', '__elf_bytes(']) {
      expect(header).toContain(`execguest_bpf${f}`);
    }
  });

  it('build without ebpm.json compiles the guest beside the BPF source against its skeleton', async () => {
    const dir = copy();
    const r = await runEbpm(['build', dir, '--json'], { env, cwd: root });
    expect(r.stderr).toBe(note(dir));
    expect(r.code).toBe(0);
    const { metadata } = JSON.parse(r.stdout);
    expect(metadata.name).toBe('execguest');
    expect(metadata.wasm.name).toBe('execguest.wasm');
    // The object the skeleton embeds is the object the package declares.
    expect(metadata.objects.map((o: { name: string; layer: boolean; embedded: boolean }) => [o.name, o.layer, o.embedded])).toEqual([
      ['execguest.bpf.o', true, true],
    ]);
  });

  it("the directory's own libbpf-wasm.h, as wasm-bpf's examples carry, gives way to ebpm's, with a warning", async () => {
    const dir = copy();
    writeFileSync(join(dir, 'libbpf-wasm.h'), "#error wasm-bpf's own SDK\n");
    const r = await runEbpm(['build', dir], { env, cwd: root });
    expect(r.stderr).toBe(`warning: libbpf-wasm.h: not used: execguest.c is compiled against ebpm's libbpf-wasm.h\n${note(dir)}`);
    expect(r.code).toBe(0);
    // A link into a wasm-bpf checkout that is not there, as a copied example has, too.
    const linked = copy();
    symlinkSync('../../wasm-sdk/c/libbpf-wasm.h', join(linked, 'libbpf-wasm.h'));
    expect((await runEbpm(['build', linked], { env, cwd: root })).code).toBe(0);
  });

  it('a guest calling what the SDK does not provide fails the build with the linker naming it', async () => {
    const dir = copy();
    const guest = join(dir, 'execguest.c');
    writeFileSync(guest, readFileSync(guest, 'utf8').replace('"attached %s\\n", bpf_program__name(', '"attached %d\\n", bpf_program__fd('));
    const r = await runEbpm(['build', dir, '--json'], { env, cwd: root });
    expect(r.code).toBe(1);
    const { error } = JSON.parse(r.stdout);
    expect(error.code).toBe('COMPILE_FAILED');
    expect(error.message).toMatch(/^wasm-ld(-\d+)?: error: \S+\.o: undefined symbol: bpf_program__fd$/m);
    expect(error.message).toContain(
      "\nexecguest.c:53:35: warning: implicit declaration of function 'bpf_program__fd' is invalid in C99 [-Wimplicit-function-declaration]\n",
    );
  });

  it('a guest touching .bss, which a skeleton does not map, fails to compile naming the member', async () => {
    const dir = copy();
    writeFileSync(
      join(dir, 'execguest.c'),
      readFileSync(join(dir, 'execguest.c'), 'utf8').replace('skel->rodata->not_before_ns = 1;', 'skel->bss->not_before_ns = 1;'),
    );
    const r = await runEbpm(['build', dir, '--json'], { env, cwd: root });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.message).toContain("execguest.c:43:8: error: no member named 'bss' in 'struct execguest_bpf'");
  });
});

describeWith(['root', 'btf', 'clang', 'bpftool', 'wasi', 'native'], 'wasm-bpf C directories on the kernel', () => {
  let root: string;
  let env: Record<string, string>;
  beforeAll(() => {
    root = sandboxDir('wasm-bpf-run-');
    env = cliEnv(root);
  });

  it('run: the guest sets .rodata through its skeleton, attaches, and prints the exec of a child of this test', async () => {
    const dir = join(root, 'execguest');
    cpSync(join(FIXTURES, 'execguest'), dir, { recursive: true });
    const run = spawnEbpm(['run', dir, '--', String(process.pid), '1'], { env, cwd: root });
    await run.waitFor(/attached on_exec/);
    const child: ChildProcess = spawn('/bin/true');
    await new Promise((resolve) => child.on('exit', resolve));
    const r = await run.exited();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`exec true pid ${child.pid} ppid ${process.pid}\n`);
    expect(r.stderr).toBe(`${note(dir)}execguest 0.0.0: started its Wasm program\nattached on_exec\nexecguest: Wasm program ended (exit, exit code 0)\n`);
  });
});
