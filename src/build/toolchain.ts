import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import { lstat, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { bpfTargetArch, multiarchTuple, nodeArch, ociArch } from '../core/arch.js';
import { unresolvedExterns } from '../bpf/externs.js';
import { EbpmError } from '../core/errors.js';
import { cacheDir, type Env } from '../core/paths.js';

const run = promisify(execFile);

/** `KERNEL_BTF` is where kernels built with CONFIG_DEBUG_INFO_BTF (5.4+) expose their types. */
export const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

/** `INCLUDE_DIR` holds ebpm's own headers (`<ebpm/ebpm.h>`, the Wasm guest SDK). */
export const INCLUDE_DIR = new URL('../../include', import.meta.url).pathname;

/**
 * `vmlinuxHeader` returns the directory holding a `vmlinux.h` generated from `btfPath` with
 * bpftool, cached under the cache dir by the BTF's size and mtime (the file is 5+ MiB and
 * changes only with the kernel).
 */
export async function vmlinuxHeader(env: Env, btfPath = KERNEL_BTF): Promise<string> {
  let st: Stats;
  try {
    st = await stat(btfPath);
  } catch (e) {
    throw new EbpmError('KERNEL_NO_BTF', `read kernel BTF: ${btfPath}: not found`, {
      cause: e,
      hint: 'build on a kernel with CONFIG_DEBUG_INFO_BTF=y, or pass --btf <file> with the vmlinux BTF of the target kernel',
    });
  }
  const dir = join(cacheDir(env), 'vmlinux', `${st.size}-${Math.floor(st.mtimeMs)}`);
  const header = join(dir, 'vmlinux.h');
  try {
    await stat(header);
    return dir;
  } catch {
    // not cached yet
  }
  await mkdir(dir, { recursive: true });
  const { stdout } = await tool('bpftool', ['btf', 'dump', 'file', btfPath, 'format', 'c'], { maxBuffer: 256 << 20 });
  const tmp = `${header}.${process.pid}.tmp`;
  await writeFile(tmp, stdout);
  await rename(tmp, header);
  return dir;
}

/**
 * `PLATFORMS_DIR` holds the kernel types of architectures other than this machine's, one
 * directory each (`arm64/vmlinux.btf`, `arm64/include/asm/…`), as scripts/foreign-arch.sh
 * fetches them from Debian's kernel and linux-libc-dev packages; `EBPM_PLATFORMS_DIR` overrides.
 */
export const PLATFORMS_DIR = new URL('../../.cache/platforms', import.meta.url).pathname;
/** The script that fills `PLATFORMS_DIR`, shipped in the npm package too. */
const FOREIGN_ARCH = new URL('../../scripts/foreign-arch.sh', import.meta.url).pathname;

/** What clang compiles an object for one architecture against. */
export interface KernelTypes {
  /** The `__TARGET_ARCH_*` suffix bpf_tracing.h selects the pt_regs layout by (`x86`, `arm64`). */
  readonly target: string;
  /** The directory holding that architecture's `vmlinux.h`. */
  readonly vmlinuxDir: string;
  /** Its architecture-dependent uapi headers (`<asm/types.h>`). */
  readonly sysInclude: string;
}

/**
 * `kernelTypes` finds the types to compile for `architecture` (OCI name): this machine's own
 * kernel BTF and system headers, or for another architecture those scripts/foreign-arch.sh
 * fetched (`PLATFORM_UNAVAILABLE` when it has not run).
 */
export async function kernelTypes(env: Env, architecture: string = ociArch()): Promise<KernelTypes> {
  const node = nodeArch(architecture);
  const target = bpfTargetArch(node);
  if (architecture === ociArch()) return { target, vmlinuxDir: await vmlinuxHeader(env), sysInclude: `/usr/include/${multiarchTuple(node)}` };
  const dir = join(env.EBPM_PLATFORMS_DIR ?? PLATFORMS_DIR, architecture);
  const btf = join(dir, 'vmlinux.btf');
  const sysInclude = join(dir, 'include');
  for (const need of [btf, sysInclude]) {
    if (!(await stat(need).catch(() => undefined))) {
      throw new EbpmError('PLATFORM_UNAVAILABLE', `no linux/${architecture} kernel types: ${need}: not found`, {
        hint: `run ${FOREIGN_ARCH} ${architecture} (a checkout's scripts/bootstrap.sh does), which fetches Debian's ${architecture} kernel BTF and headers`,
        data: { architecture, missing: need },
      });
    }
  }
  return { target, vmlinuxDir: await vmlinuxHeader(env, btf), sysInclude };
}

export interface CompileBpfOptions {
  /** OCI architecture to compile for (`arm64`); this machine's by default. */
  architecture?: string;
  /** Extra include directories, searched before vmlinux.h's. */
  includes?: string[];
  /** Extra clang flags from the package manifest. */
  cflags?: string[];
  /**
   * Structs to keep in the object's BTF as ecc does (`__eunomia_dummy_<struct>_ptr` globals
   * appended to the source), for the records of its ring buffers and perf event arrays.
   */
  exportStructs?: readonly string[];
  /** Environment for the cache location. */
  env: Env;
  /** Gets what clang printed about a source it compiled (its warnings), when it printed anything. */
  onWarning?: (text: string) => void;
}

/**
 * `compileBpf` compiles one `*.bpf.c` with the system clang (`-target bpf -g -O2`) and strips
 * DWARF (`llvm-strip -g`, keeping BTF), as libbpf-bootstrap does. Returns the object bytes.
 * clang runs in the source's directory on its bare file name with `-fdebug-compilation-dir=.`,
 * so the file names BTF line info records (`./sigsnoop.bpf.c`) do not depend on where the
 * package sits: the same sources give the same object bytes anywhere.
 * With `exportStructs`, clang reads the source and the appended globals from stdin, with a
 * `#line` naming the source, so diagnostics and line info still say `sigsnoop.bpf.c`.
 * A compiler error becomes `COMPILE_FAILED` carrying the command and clang's own output, as
 * does an object calling what nothing resolves (`unresolvedExterns`), which libbpf would refuse.
 */
export async function compileBpf(source: string, output: string, opts: CompileBpfOptions): Promise<Uint8Array> {
  const name = basename(source);
  const exports = opts.exportStructs ?? [];
  const input =
    exports.length === 0
      ? undefined
      : `#line 1 "${name}"\n${await readFile(source, 'utf8')}\n#line 1 "<ebpm: ecc exports>"\n${exports
          .map((s) => `const volatile struct ${s} *__eunomia_dummy_${s}_ptr __attribute__((unused));\n`)
          .join('')}`;
  const types = await kernelTypes(opts.env, opts.architecture);
  const args = [
    '-target',
    'bpf',
    '-g',
    '-O2',
    '-fdebug-compilation-dir=.',
    `-D__TARGET_ARCH_${types.target}`,
    ...(opts.includes ?? []).flatMap((d) => ['-I', d]),
    '-I',
    types.vmlinuxDir,
    '-I',
    INCLUDE_DIR,
    // The target's architecture-dependent system headers (`<asm/types.h>`), searched last, as
    // ecc and libbpf-tools' Makefile add them: `-target bpf` knows no multiarch directory.
    '-idirafter',
    types.sysInclude,
    ...(opts.cflags ?? []),
    ...(input === undefined ? ['-c', name] : ['-x', 'c', '-c', '-']),
    '-o',
    output,
  ];
  const { stderr } = await tool('clang', args, { cwd: dirname(source), ...(input === undefined ? {} : { input }) });
  const printed = stderr.trimEnd();
  await tool('llvm-strip', ['-g', output]);
  const bytes = new Uint8Array(await readFile(output));
  const unresolved = unresolvedExterns(bytes);
  if (unresolved.length > 0) {
    const list = unresolved.join(', ');
    throw new EbpmError('COMPILE_FAILED', `clang: ${name}: undefined reference to ${list}${printed === '' ? '' : `\n${printed}`}`, {
      hint: 'define it, or declare a kernel function or variable with __ksym (a kernel config value with __kconfig)',
      data: { command: ['clang', ...args], output: printed, unresolved },
    });
  }
  if (printed !== '') opts.onWarning?.(printed);
  return bytes;
}

/** `WASI_SYSROOT` is where Debian's wasi-libc installs (`/usr/lib/wasm32-wasi/libc.a`). */
export const WASI_SYSROOT = '/usr';

export interface CompileWasmOptions {
  /** Extra include directories (the build directory with the generated `*.bpf.o.h` and `*.skel.h`). */
  includes?: string[];
  /** Extra clang flags from the package manifest (`wasmCflags`). */
  cflags?: string[];
  /** Gets what clang printed about a program it compiled and linked (its warnings), when it printed anything. */
  onWarning?: (text: string) => void;
}

/**
 * `compileWasm` compiles a C user-space program to a `wasm32-wasi` command module with clang
 * and wasi-libc. `--export-table` exports `__indirect_function_table`, through which the host
 * calls the guest's ring-buffer callback (wasm-bpf ABI); the `wasm_bpf` host functions are
 * imports by their declarations' `import_module`, so any other undefined function fails the
 * link, naming it, instead of becoming an import the run refuses; `--strip-debug` drops
 * wasi-libc's DWARF (about 100 KiB). `include/wasm-bpf` is on the path for wasm-bpf guests,
 * which include the SDK as "libbpf-wasm.h".
 */
export async function compileWasm(source: string, output: string, opts: CompileWasmOptions = {}): Promise<Uint8Array> {
  const args = [
    '--target=wasm32-wasi',
    `--sysroot=${WASI_SYSROOT}`,
    '-O2',
    '-Wl,--export-table',
    '-Wl,--strip-debug',
    ...(opts.includes ?? []).flatMap((d) => ['-I', d]),
    '-I',
    INCLUDE_DIR,
    '-I',
    join(INCLUDE_DIR, 'wasm-bpf'),
    ...(opts.cflags ?? []),
    basename(source),
    '-o',
    output,
  ];
  const printed = (await tool('clang', args, { cwd: dirname(source) })).stderr.trimEnd();
  if (printed !== '') opts.onWarning?.(printed);
  return new Uint8Array(await readFile(output));
}

/** `SDK_HEADER` is ebpm's guest SDK, which Wasm guests include as "libbpf-wasm.h" or <wasm-bpf/libbpf-wasm.h>. */
export const SDK_HEADER = join(INCLUDE_DIR, 'wasm-bpf', 'libbpf-wasm.h');

/**
 * `sdkOverlay` handles a guest directory with a `libbpf-wasm.h` of its own, as wasm-bpf's
 * example directories have (a link to wasm-bpf's SDK): it writes, in `workDir`, a clang VFS
 * overlay that puts `SDK_HEADER` in that file's place, for `-ivfsoverlay`, and returns its
 * path; undefined when the directory has none. The generated skeleton needs ebpm's SDK, and a
 * guest including either header then gets the same one.
 */
export async function sdkOverlay(source: string, workDir: string): Promise<string | undefined> {
  const dir = dirname(source);
  if ((await lstat(join(dir, 'libbpf-wasm.h')).catch(() => undefined)) === undefined) return undefined;
  const overlay = join(workDir, 'sdk-overlay.json');
  const file = { type: 'file', name: 'libbpf-wasm.h', 'external-contents': SDK_HEADER };
  await writeFile(overlay, JSON.stringify({ version: 0, roots: [{ type: 'directory', name: dir, contents: [file] }] }));
  return overlay;
}

/** `tool` runs a toolchain program; failures keep the command line and its output. */
export async function tool(cmd: string, args: string[], opts: { maxBuffer?: number; cwd?: string; input?: string } = {}) {
  try {
    const p = run(cmd, args, { maxBuffer: opts.maxBuffer ?? 64 << 20, cwd: opts.cwd, encoding: 'utf8' });
    if (opts.input !== undefined) p.child.stdin?.end(opts.input);
    return await p;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (err.code === 'ENOENT') {
      throw new EbpmError('TOOL_MISSING', `${cmd}: not found`, { cause: e, hint: 'run scripts/bootstrap.sh to install the toolchain' });
    }
    const output = `${err.stderr ?? ''}${err.stdout ?? ''}`.trimEnd();
    throw new EbpmError('COMPILE_FAILED', `${cmd} failed:\n$ ${[cmd, ...args].join(' ')}\n${output}`, {
      cause: e,
      hint: 'fix the error above, which the compiler printed as is',
      data: { command: [cmd, ...args], output },
    });
  }
}
