// `ebpm init` without the toolchain: template rendering, name checks, what lands on disk, what
// bad input leaves behind (nothing), and the command's plain and --json output.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parseSourceManifest } from '../../src/package/source-manifest.js';
import { init, nextSteps, readTemplate, renderTemplate, templateVars, TEMPLATES } from '../../src/services/init.js';
import { cliEnv } from '../helpers/cli.js';

const root = () => mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'init-'));

async function failure(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'expected a failure').toBeDefined();
  const { code, message, hint } = e as { code: string; message: string; hint: string };
  return { code, message, hint };
}

function cli(cwd: string) {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  return { run: (...args: string[]) => main(['init', ...args], { stdout: out, stderr: err, env: cliEnv(cwd), cwd }), out: () => o, err: () => e };
}

describe('templates', () => {
  it('derive the C identifiers from the name as the build names the embedded object', () => {
    expect(templateVars('my-tool', 'wasm-c')).toEqual({ name: 'my-tool', ident: 'my_tool', IDENT: 'MY_TOOL' });
    expect(templateVars('a.b__c--d', 'bpf')).toEqual({ name: 'a.b__c--d', ident: 'a_b__c__d', IDENT: 'A_B__C__D' });
    expect(templateVars('1tool', 'bpf').ident).toBe('1tool');
  });

  it('substitute placeholders in file names and contents, and refuse unknown ones', () => {
    const vars = templateVars('my-tool', 'bpf');
    expect(renderTemplate([{ path: '{{name}}.h', text: '#ifndef __{{IDENT}}_H /* {{ident}}_bpf_o */' }], vars)).toEqual([
      { path: 'my-tool.h', text: '#ifndef __MY_TOOL_H /* my_tool_bpf_o */' },
    ]);
    expect(() => renderTemplate([{ path: 'x.c', text: '{{nmae}}' }], vars)).toThrowWithCode('INTERNAL', 'template x.c: unknown placeholder {{nmae}}');
    expect(() => renderTemplate([{ path: 'x.c', text: '{{toString}}' }], vars)).toThrowWithCode('INTERNAL');
  });

  it.each([
    ['bpf', ['README.md', 'ebpm.json', 'my-tool.bpf.c', 'my-tool.h']],
    ['wasm-c', ['README.md', 'ebpm.json', 'main.c', 'my-tool.bpf.c', 'my-tool.h']],
  ] as const)('%s renders every placeholder into a valid ebpm.json', async (template, files) => {
    const out = renderTemplate(await readTemplate(template), templateVars('my-tool', template));
    expect(out.map((f) => f.path)).toEqual(files);
    for (const f of out) expect(f.text, f.path).not.toMatch(/\{\{|\}\}/);
    const manifest = parseSourceManifest(out.find((f) => f.path === 'ebpm.json')!.text);
    expect(manifest).toMatchObject({ name: 'my-tool', version: '0.1.0', license: 'Dual BSD/GPL', cflags: [], source: true });
    expect(manifest.wasm).toBe(template === 'wasm-c' ? 'main.c' : undefined);
    expect(out.find((f) => f.path === 'my-tool.bpf.c')!.text).toContain('#include "my-tool.h"');
    if (template === 'wasm-c') expect(out.find((f) => f.path === 'main.c')!.text).toContain('#include "my-tool.bpf.o.h"');
  });

  it('offer exactly the directories under templates/', () => {
    expect(readdirSync(new URL('../../templates', import.meta.url)).sort()).toEqual([...TEMPLATES]);
  });
});

describe('init', () => {
  it('writes the package directory, staging nothing beside it', async () => {
    const r0 = root();
    const dir = join(r0, 'my-tool');
    const r = await init({ name: 'my-tool', template: 'wasm-c', dir });
    expect(r).toEqual({ name: 'my-tool', template: 'wasm-c', dir, files: ['README.md', 'ebpm.json', 'main.c', 'my-tool.bpf.c', 'my-tool.h'] });
    expect(readdirSync(r0)).toEqual(['my-tool']);
    expect(readdirSync(dir).sort()).toEqual(r.files);
    expect(JSON.parse(readFileSync(join(dir, 'ebpm.json'), 'utf8'))).toMatchObject({ name: 'my-tool', wasm: 'main.c' });
    expect(readFileSync(join(dir, 'my-tool.h'), 'utf8')).toContain('#ifndef __MY_TOOL_H');
    expect(readFileSync(join(dir, 'main.c'), 'utf8')).toContain('bpf_object__open_mem(my_tool_bpf_o, my_tool_bpf_o_len)');
  });

  it('defaults to the bpf template and creates missing parents', async () => {
    const dir = join(root(), 'a', 'b', 'tool');
    const r = await init({ name: 'tool', dir });
    expect(r.template).toBe('bpf');
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'ebpm.json', 'tool.bpf.c', 'tool.h']);
  });

  it('fills an existing empty directory in place, keeping the directory itself', async () => {
    const dir = join(root(), 'here');
    mkdirSync(dir);
    const ino = statSync(dir).ino;
    await init({ name: 'here', template: 'bpf', dir });
    expect(statSync(dir).ino).toBe(ino);
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'ebpm.json', 'here.bpf.c', 'here.h']);
  });

  it.each([['My-Tool'], ['my tool'], ['-tool'], ['tool-'], ['a..b'], ['a___b'], ['a/b'], [''], ['x'.repeat(129)]])(
    'refuses the name %j, creating nothing',
    async (name) => {
      const r0 = root();
      expect(await failure(init({ name, dir: join(r0, 'p', 'x') }))).toEqual({
        code: 'USAGE',
        message: `init ${name}: not a package name`,
        hint: 'use lower-case letters and digits with single . _ - separators, at most 128 characters (like my-tool)',
      });
      expect(readdirSync(r0)).toEqual([]);
    },
  );

  it('refuses a wasm-c name starting with a digit, which C cannot name', async () => {
    const r0 = root();
    expect(await failure(init({ name: '1tool', template: 'wasm-c', dir: join(r0, '1tool') }))).toEqual({
      code: 'USAGE',
      message: 'init 1tool: template wasm-c needs a name starting with a letter',
      hint: 'main.c refers to the embedded object as 1tool_bpf_o, which C does not allow; prefix the name with a letter',
    });
    expect(readdirSync(r0)).toEqual([]);
  });

  it('refuses an unknown template, listing the templates', async () => {
    const r0 = root();
    expect(await failure(init({ name: 'tool', template: 'rust', dir: join(r0, 'tool') }))).toEqual({
      code: 'USAGE',
      message: 'init tool: unknown template "rust"',
      hint: 'templates: bpf, wasm-c',
    });
    expect(readdirSync(r0)).toEqual([]);
  });

  it('refuses a directory that is not empty, or a file, leaving it as it was', async () => {
    const r0 = root();
    const dir = join(r0, 'tool');
    mkdirSync(dir);
    writeFileSync(join(dir, '.keep'), 'mine');
    const hint = 'choose another directory with --dir, or remove this one first';
    expect(await failure(init({ name: 'tool', dir }))).toEqual({ code: 'INIT_EXISTS', message: `init tool: ${dir}: already exists and is not empty`, hint });
    expect(readdirSync(dir)).toEqual(['.keep']);
    expect(readFileSync(join(dir, '.keep'), 'utf8')).toBe('mine');
    const file = join(r0, 'file');
    writeFileSync(file, 'x');
    expect(await failure(init({ name: 'tool', dir: file }))).toEqual({
      code: 'INIT_EXISTS',
      message: `init tool: ${file}: already exists and is not a directory`,
      hint,
    });
    expect(readdirSync(r0).sort()).toEqual(['file', 'tool']);
  });

  it('removes the parents it created when writing fails', async () => {
    const r0 = root();
    // A 256-byte file name: the final rename fails with ENAMETOOLONG after everything is staged.
    const dir = join(r0, 'new', 'x'.repeat(256));
    expect(await failure(init({ name: 'tool', dir }))).toEqual({
      code: 'INIT_WRITE_FAILED',
      message: `init tool: ${dir}: ENAMETOOLONG: name too long`,
      hint: 'check that the path is writable, its names short enough and the disk not full',
    });
    expect(readdirSync(r0)).toEqual([]);
  });

  it('reports a path through a file as INIT_WRITE_FAILED', async () => {
    const r0 = root();
    writeFileSync(join(r0, 'file'), 'x');
    const dir = join(r0, 'file', 'tool');
    expect(await failure(init({ name: 'tool', dir }))).toMatchObject({ code: 'INIT_WRITE_FAILED', message: `init tool: ${dir}: ENOTDIR: not a directory` });
    expect(readdirSync(r0)).toEqual(['file']);
  });
});

describe('nextSteps', () => {
  it('names the directory as typed from the working directory, quoted when the shell needs it', () => {
    expect(nextSteps('/w/my-tool', '/w')).toEqual(['ebpm build my-tool', 'sudo ebpm run my-tool']);
    expect(nextSteps('/w/a/b', '/w')).toEqual(['ebpm build a/b', 'sudo ebpm run a/b']);
    expect(nextSteps('/w', '/w')).toEqual(['ebpm build .', 'sudo ebpm run .']);
    expect(nextSteps('/elsewhere/t', '/w')).toEqual(['ebpm build /elsewhere/t', 'sudo ebpm run /elsewhere/t']);
    expect(nextSteps("/w/it's here", '/w')).toEqual([`ebpm build 'it'\\''s here'`, `sudo ebpm run 'it'\\''s here'`]);
  });
});

describe('ebpm init', () => {
  it('prints what it created and the commands to run next', async () => {
    const cwd = root();
    const t = cli(cwd);
    expect(await t.run('my-tool')).toBe(0);
    expect(t.out()).toBe(
      [
        `created my-tool (template bpf) in ${join(cwd, 'my-tool')}`,
        '  README.md',
        '  ebpm.json',
        '  my-tool.bpf.c',
        '  my-tool.h',
        '',
        'next:',
        '  ebpm build my-tool',
        '  sudo ebpm run my-tool',
        '',
      ].join('\n'),
    );
    expect(t.err()).toBe('');
  });

  it('--json gives the same as one object', async () => {
    const cwd = root();
    const t = cli(cwd);
    expect(await t.run('probe', '--template', 'wasm-c', '--dir', 'src/probe', '--json')).toBe(0);
    expect(JSON.parse(t.out())).toEqual({
      name: 'probe',
      template: 'wasm-c',
      dir: join(cwd, 'src', 'probe'),
      files: ['README.md', 'ebpm.json', 'main.c', 'probe.bpf.c', 'probe.h'],
      next: ['ebpm build src/probe', 'sudo ebpm run src/probe'],
    });
  });

  it.each([
    [[], 2, 'error: init: no package name given\nhint: usage: ebpm init <name> [--template bpf | wasm-c] [--dir <path>] [--json]\n'],
    [['a', 'b'], 2, 'error: init: unexpected argument "b"\nhint: usage: ebpm init <name> [--template bpf | wasm-c] [--dir <path>] [--json]\n'],
    [['tool', '--template', 'go'], 2, 'error: init tool: unknown template "go"\nhint: templates: bpf, wasm-c\n'],
    [
      ['Tool'],
      2,
      'error: init Tool: not a package name\nhint: use lower-case letters and digits with single . _ - separators, at most 128 characters (like my-tool)\n',
    ],
  ])('ebpm init %j exits %i with one line and a hint', async (args, code, stderr) => {
    const cwd = root();
    const t = cli(cwd);
    expect(await t.run(...args)).toBe(code);
    expect(t.err()).toBe(stderr);
    expect(t.out()).toBe('');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('refuses a non-empty --dir with INIT_EXISTS', async () => {
    const cwd = root();
    writeFileSync(join(cwd, 'x'), '');
    const t = cli(cwd);
    expect(await t.run('tool', '--dir', '.')).toBe(1);
    expect(t.err()).toBe(`error: init tool: ${cwd}: already exists and is not empty\nhint: choose another directory with --dir, or remove this one first\n`);
    expect(readdirSync(cwd)).toEqual(['x']);
  });
});
