import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { build } from '../../src/services/build.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

function pkg(files: Record<string, string>, from = 'sigsnoop'): string {
  const dir = join(mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'bad-')), from);
  // A local build's out/ is not part of the sources (fresh clones have none).
  cpSync(join(REPO, 'examples', from), dir, { recursive: true, filter: (p) => !p.endsWith(`/${from}/out`) });
  for (const [name, text] of Object.entries(files)) {
    if (text === '') rmSync(join(dir, name));
    else writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function failure(dir: string) {
  try {
    await build({ dir, env: process.env });
  } catch (e) {
    return e as { code: string; message: string; hint?: string; data?: Record<string, unknown> };
  }
  throw new Error('build succeeded');
}

/** Nothing is left behind: no out/, no staging directory. */
function clean(dir: string) {
  expect(readdirSync(dir).filter((f) => f === 'out' || f.startsWith('.out'))).toEqual([]);
}

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'ebpm build on bad input', () => {
  it('SOURCE_MANIFEST_NOT_FOUND for an ebpm.json it cannot read', async () => {
    const dir = pkg({ 'ebpm.json': '' });
    mkdirSync(join(dir, 'ebpm.json'));
    const e = await failure(dir);
    expect(e).toMatchObject({
      code: 'SOURCE_MANIFEST_NOT_FOUND',
      message: `build ${dir}: ${dir}/ebpm.json: EISDIR: illegal operation on a directory, read`,
    });
    clean(dir);
  });

  it('MANIFEST_INVALID listing every bad field', async () => {
    const dir = pkg({ 'ebpm.json': JSON.stringify({ name: 'Sig Snoop', version: 'one', wasm: 'main.rs', extra: 1 }) });
    const e = await failure(dir);
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.data!.problems).toEqual([
      'extra: unknown field',
      'name: must be lower-case letters and digits with single . _ - separators',
      'version: "one" is not a semantic version (like 1.2.0)',
      'wasm: must name a C source (.c) or a prebuilt module (.wasm)',
    ]);
    clean(dir);
  });

  it('NO_BPF_SOURCES when there is no *.bpf.c', async () => {
    const dir = pkg({ 'sigsnoop.bpf.c': '' });
    expect(await failure(dir)).toMatchObject({ code: 'NO_BPF_SOURCES', message: `build ${dir}: ${dir}: no *.bpf.c to build` });
    clean(dir);
  });

  it("COMPILE_FAILED shows the command and clang's own error line", async () => {
    const src = readFileSync(join(REPO, 'examples/sigsnoop/sigsnoop.bpf.c'), 'utf8').replace('pid_t tpid = ctx->pid;', 'pid_t tpid = ctx->pid');
    const dir = pkg({ 'sigsnoop.bpf.c': src });
    const e = await failure(dir);
    expect(e.code).toBe('COMPILE_FAILED');
    expect(e.message).toContain(`build ${dir}: clang failed:\n$ clang -target bpf -g -O2 -fdebug-compilation-dir=. `);
    expect(e.message).toContain(' -c sigsnoop.bpf.c -o ');
    expect(e.message).toMatch(/sigsnoop\.bpf\.c:33:23: error: expected ';' at end of declaration/);
    clean(dir);
  });

  it('COMPILE_FAILED for a broken Wasm C program', async () => {
    const dir = pkg({ 'main.c': 'int main(void) { return }\n' });
    const e = await failure(dir);
    expect(e.code).toBe('COMPILE_FAILED');
    expect(e.message).toContain('$ clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--export-table -Wl,--strip-debug');
    expect(e.message).toContain('main.c:1:25: error: expected expression');
    clean(dir);
  });

  it('WASM_INVALID for a corrupt prebuilt .wasm, keeping an earlier out/ intact', async () => {
    const dir = pkg({});
    const good = await build({ dir, env: process.env });
    const before = readFileSync(join(dir, 'out', 'index.json'), 'utf8');
    writeFileSync(join(dir, 'app.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x7f]));
    const manifest = JSON.parse(readFileSync(join(dir, 'ebpm.json'), 'utf8'));
    writeFileSync(join(dir, 'ebpm.json'), JSON.stringify({ ...manifest, wasm: 'app.wasm' }));
    const e = await failure(dir);
    expect(e).toMatchObject({ code: 'WASM_INVALID', message: `build ${dir}: app.wasm: parse wasm module: length 127 runs past the end at offset 10` });
    expect(readFileSync(join(dir, 'out', 'index.json'), 'utf8')).toBe(before);
    expect(good.tags).toEqual(['1.2.0', 'latest']);
    expect(readdirSync(dir).filter((f) => f.startsWith('.out'))).toEqual([]);
  });

  it('a typo in a doc tag is a warning, and the build goes on', async () => {
    const src = readFileSync(join(REPO, 'examples/sigsnoop/sigsnoop.bpf.c'), 'utf8').replace('/// @cmdarg {"short": "s"', '/// @cmdargs {"short": "s"');
    const dir = pkg({ 'sigsnoop.bpf.c': src });
    const r = await build({ dir, env: process.env });
    expect(r.notices).toEqual([{ level: 'warning', message: 'sigsnoop.bpf.c:13: unknown doc tag @cmdargs: ignored' }]);
  });

  it('SOURCE_NOT_FOUND when ebpm.json names a missing file', async () => {
    const dir = pkg({ 'ebpm.json': JSON.stringify({ name: 'x', version: '1.0.0', objects: ['nope.bpf.c'] }) });
    expect(await failure(dir)).toMatchObject({ code: 'SOURCE_NOT_FOUND', message: `build ${dir}: ${dir}: nope.bpf.c: not found` });
    mkdirSync(join(dir, 'sub'));
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});
