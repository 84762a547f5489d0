import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'vitest';
import { kernels } from '../matrix/kernels.js';

/** What a test file may need from the machine. */
export type Prereq =
  | 'root'
  | 'btf'
  | 'clang'
  | 'bpftool'
  | 'registry'
  | 'skopeo'
  | 'wasi'
  | 'wat2wasm'
  | 'native'
  | 'libbpf-tools'
  | 'arm64-types'
  | 'qemu-arm64'
  | 'qemu'
  | 'kernels'
  | 'man'
  | 'zsh'
  | 'fish';

/** A static executable has no PT_INTERP program header (ELF64): it runs in an initramfs with no libc. */
function isStatic(path: string): boolean {
  if (!existsSync(path)) return false;
  const b = readFileSync(path);
  const phoff = Number(b.readBigUInt64LE(32));
  const [size, count] = [b.readUInt16LE(54), b.readUInt16LE(56)];
  for (let i = 0; i < count; i++) if (b.readUInt32LE(phoff + i * size) === 3) return false;
  return true;
}

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const CHECKS: Record<Prereq, () => boolean> = {
  root: () => process.getuid?.() === 0,
  btf: () => existsSync('/sys/kernel/btf/vmlinux'),
  clang: () => onPath('clang') && onPath('llvm-strip'),
  bpftool: () => onPath('bpftool'),
  registry: () => onPath('docker-registry'),
  skopeo: () => onPath('skopeo'),
  wasi: () => existsSync('/usr/lib/wasm32-wasi/libc.a') || existsSync('/usr/lib/wasm32-wasip1/libc.a'),
  wat2wasm: () => onPath('wat2wasm'),
  // Debian's arm64 kernel BTF and uapi headers, as scripts/foreign-arch.sh fetches them.
  'arm64-types': () =>
    existsSync(new URL('../../.cache/platforms/arm64/vmlinux.btf', import.meta.url)) &&
    existsSync(new URL('../../.cache/platforms/arm64/include', import.meta.url)),
  // qemu-system-aarch64, and Debian's arm64 kernel, busybox and bpftool unpacked by scripts/foreign-arch.sh.
  'qemu-arm64': () =>
    onPath('qemu-system-aarch64') &&
    existsSync(new URL('../../.cache/platforms/arm64/root/usr/sbin/bpftool', import.meta.url)) &&
    existsSync(new URL('../../.cache/platforms/arm64/root/bin/busybox', import.meta.url)),
  'libbpf-tools': () => existsSync('/usr/sbin/execsnoop') && existsSync('/usr/sbin/runqlat'),
  qemu: () => onPath('qemu-system-x86_64') && isStatic('/bin/busybox'),
  kernels: () => 'kernels' in kernels(),
  // man-db's man and its groff, which render the man page.
  man: () => onPath('man') && onPath('groff'),
  zsh: () => onPath('zsh'),
  fish: () => onPath('fish'),
  native: () => {
    try {
      accessSync(new URL('../../native/build/Release/ebpm_native.node', import.meta.url), constants.R_OK);
      return true;
    } catch {
      return false;
    }
  },
};

/** `missing` lists the prerequisites this machine lacks. */
export function missing(reqs: readonly Prereq[]): Prereq[] {
  return reqs.filter((r) => !CHECKS[r]());
}

/**
 * `describeWith` runs a suite that needs the kernel, root, clang or the registry. Outside CI a
 * missing prerequisite skips it with a message; under CI (CI=true) it is a failure, never a skip.
 */
export function describeWith(reqs: readonly Prereq[], name: string, fn: () => void): void {
  const lacks = missing(reqs);
  if (lacks.length === 0) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it('has its prerequisites', () => {
        throw new Error(`missing under CI: ${lacks.join(', ')} (run scripts/bootstrap.sh as root)`);
      });
    });
    return;
  }
  process.stderr.write(`skipping "${name}": missing ${lacks.join(', ')}\n`);
  describe.skip(name, fn);
}
