// Shared by the runtime tests: WAT assembly with the real wat2wasm, the examples' Wasm guests
// built with the real clang and wasi-libc, and a collector around runWasm.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileWasm } from '../../src/build/toolchain.js';
import { runWasm, type RunWasmOptions, type WasmRunResult } from '../../src/runtime/run.js';
import { exampleObject, REPO } from '../helpers/objects.js';

/** `wat` assembles a WAT guest with wabt's wat2wasm (`features`: e.g. `--enable-threads`). */
export function wat(source: string, features: readonly string[] = []): Uint8Array {
  const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'wat-'));
  writeFileSync(join(dir, 'g.wat'), source);
  execFileSync('wat2wasm', [...features, join(dir, 'g.wat'), '-o', join(dir, 'g.wasm')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Uint8Array(readFileSync(join(dir, 'g.wasm')));
}

/**
 * `wasiCommand` writes `source` to `<dir>/<name>.c` and compiles it with the real clang and
 * wasi-libc into a plain WASI command, `<dir>/<name>.wasm`, whose path it returns.
 */
export function wasiCommand(dir: string, name: string, source: string): string {
  const c = join(dir, `${name}.c`);
  const out = join(dir, `${name}.wasm`);
  writeFileSync(c, source);
  execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-Wall', '-Werror', c, '-o', out]);
  return out;
}

/** `watBytes` writes bytes as a WAT data string ("\7f\45…"). */
export function watBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
}

/** WASI imports and helpers most WAT guests share: `$print(ptr, len)` to stdout. */
export const WASI_PRELUDE = `
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))`;

/** `xxdHeader` is the header the build generates per object (`xxd -i` naming). */
export function xxdHeader(file: string, bytes: Uint8Array): string {
  const id = file.replace(/[^A-Za-z0-9]/g, '_');
  const rows: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) rows.push(`  ${Array.from(bytes.subarray(i, i + 16), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')}`);
  return `unsigned char ${id}[] = {\n${rows.join(',\n')}\n};\nunsigned int ${id}_len = ${bytes.length};\n`;
}

export type WasmExample = 'sigsnoop' | 'runqlat' | 'bootstrap';

/**
 * `exampleGuest` builds `examples/<name>/main.c` as `ebpm build` does: the BPF object first,
 * its `<name>.bpf.o.h` in a build directory, then clang for wasm32-wasi (cached per run).
 */
const guests = new Map<WasmExample, Uint8Array>();
export async function exampleGuest(name: WasmExample): Promise<{ module: Uint8Array; object: Uint8Array }> {
  const object = await exampleObject(name);
  let module = guests.get(name);
  if (!module) {
    const dir = join(REPO, '.cache', 'test', 'wasm', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.bpf.o.h`), xxdHeader(`${name}.bpf.o`, object));
    module = await compileWasm(join(REPO, 'examples', name, 'main.c'), join(dir, `${name}.wasm`), { includes: [dir], cflags: ['-Wall', '-Werror'] });
    guests.set(name, module);
  }
  return { module, object };
}

export interface Collected extends WasmRunResult {
  readonly stdout: string[];
  readonly stderr: string[];
  readonly log: string[];
}

/** `collect` runs a guest and gathers its output lines. */
export async function collect(
  o: Omit<RunWasmOptions, 'onStdout' | 'onStderr' | 'onLog'> & { onStdout?: (line: string) => void; onStderr?: (line: string) => void },
): Promise<Collected> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log: string[] = [];
  const result = await runWasm({
    ...o,
    onStdout: (l) => {
      stdout.push(l);
      o.onStdout?.(l);
    },
    onStderr: (l) => {
      stderr.push(l);
      o.onStderr?.(l);
    },
    onLog: (l) => log.push(l),
  });
  return { ...result, stdout, stderr, log };
}

/** `loadedPrograms` lists the names of BPF programs in the kernel (`bpftool prog show -j`). */
export function loadedPrograms(): string[] {
  const out = execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return (JSON.parse(out) as { name?: string }[]).map((p) => p.name ?? '');
}
