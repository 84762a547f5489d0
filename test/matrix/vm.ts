/**
 * Runs a shell script on another kernel: qemu-system-x86_64 (TCG, no KVM needed) boots one of
 * the matrix's kernels with an initramfs of busybox-static whose init loads the virtio, 9p and
 * overlay modules, mounts this machine's root read-only over virtio-9p with a tmpfs overlay on
 * top (so Node, the built CLI and the packages are all there, and writes stay in the VM),
 * mounts proc, sys, devtmpfs, tracefs, debugfs and bpffs, and runs the script as root in a
 * chroot. The script's output goes to the serial console between two marker lines, the second
 * carrying its exit code; then the VM powers off.
 *
 *   const r = await runInVm(kernel, 'uname -r'); // { code: 0, stdout: '5.10.0-46-amd64\n', bootMs, runMs }
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxDir } from '../helpers/cli.js';
import { type CpioEntry, newc } from './cpio.js';
import { type Kernel, loadOrder, VM_MODULES } from './kernels.js';

const BEGIN = '---- ebpm-vm: script begins ----';
const END = /^---- ebpm-vm: script ended with exit code (\d+) ----$/m;
/** How many console lines an error about a VM that did not finish shows. */
const TAIL_LINES = 40;

export interface VmOptions {
  readonly memoryMiB?: number;
  readonly cpus?: number;
  /**
   * A kill switch, not a timing assertion: a VM still running after this long is stopped and
   * reported with its last console lines, so that a hung boot fails instead of hanging the suite.
   */
  readonly limitMs?: number;
}

export interface VmRun {
  /** The script's exit code. */
  readonly code: number;
  /** What the script printed (stdout and stderr, as the console shows them), `\n` line ends. */
  readonly stdout: string;
  /** From starting qemu to the script's first line, and from there to its end (for reports only). */
  readonly bootMs: number;
  readonly runMs: number;
}

/**
 * `parseConsole` finds the script's output and exit code in a console transcript (`\r\n` or `\n`
 * line ends), or returns undefined if the script did not end.
 */
export function parseConsole(text: string): { code: number; stdout: string } | undefined {
  const lines = text.replaceAll('\r\n', '\n');
  const begin = lines.indexOf(`${BEGIN}\n`);
  if (begin < 0) return undefined;
  const body = lines.slice(begin + BEGIN.length + 1);
  const end = END.exec(body);
  if (end === null) return undefined;
  return { code: Number(end[1]), stdout: body.slice(0, end.index) };
}

/** The init script: PID 1 in the initramfs. `modules` are the files under /modules, in load order. */
function initScript(modules: readonly string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "ebpm-vm: $*"; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
${modules.map((m) => `insmod /modules/${m} || fail "insmod ${m}"`).join('\n')}
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || fail "mount the host's root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
mkdir /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /root || fail "mount overlay"
mount -t proc proc /root/proc
mount -t sysfs sysfs /root/sys
mount -t devtmpfs devtmpfs /root/dev
mount -t tracefs tracefs /root/sys/kernel/tracing || fail "mount tracefs"
mount -t debugfs debugfs /root/sys/kernel/debug || fail "mount debugfs"
mount -t bpf bpf /root/sys/fs/bpf || fail "mount bpffs"
mkdir -p /root/run/ebpm-vm
cp /job.sh /root/run/ebpm-vm/job.sh
# From here on only emergencies reach the console, so no kernel line splits the script's output.
echo 1 > /proc/sys/kernel/printk
echo '${BEGIN}'
chroot /root /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/bash /run/ebpm-vm/job.sh 2>&1
echo "---- ebpm-vm: script ended with exit code $? ----"
poweroff -f
`;
}

/** The module files `kernel` needs, decompressed here when xz-compressed (busybox insmod takes plain .ko). */
function moduleFiles(kernel: Kernel): { name: string; data: Uint8Array }[] {
  const read = (f: string) => readFileSync(join(kernel.modules, f), 'utf8');
  let builtin = '';
  try {
    builtin = read('modules.builtin');
  } catch {
    // a kernel without built-in modules
  }
  return loadOrder(read('modules.dep'), builtin, VM_MODULES).map((path) => {
    const file = join(kernel.modules, path);
    const name = path.slice(path.lastIndexOf('/') + 1).replace(/\.xz$/, '');
    const data = path.endsWith('.xz') ? execFileSync('xz', ['-dc', file], { maxBuffer: 64 << 20 }) : readFileSync(file);
    return { name, data: new Uint8Array(data) };
  });
}

/** `initramfs` is the VM's initramfs for `kernel`, running `script`. */
export function initramfs(kernel: Kernel, script: string): Uint8Array {
  const modules = moduleFiles(kernel);
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'lower', 'rw', 'root', 'modules'].map((d) => ({ kind: 'dir' as const, path: d })),
    { kind: 'char', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    { kind: 'file', path: 'init', data: new TextEncoder().encode(initScript(modules.map((m) => m.name))), mode: 0o755 },
    { kind: 'file', path: 'job.sh', data: new TextEncoder().encode(script), mode: 0o755 },
    ...modules.map((m) => ({ kind: 'file' as const, path: `modules/${m.name}`, data: m.data })),
  ];
  return newc(entries);
}

/** `runInVm` boots `kernel`, runs `script` (bash) in it and resolves with its exit code and output. */
export async function runInVm(kernel: Kernel, script: string, opts: VmOptions = {}): Promise<VmRun> {
  const dir = sandboxDir('vm-');
  const initrd = join(dir, 'initramfs.cpio');
  writeFileSync(initrd, initramfs(kernel, script));
  const started = performance.now();
  let begun = 0;
  let out = '';
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      ...['-accel', 'tcg', '-cpu', 'max', '-smp', String(opts.cpus ?? 2), '-m', String(opts.memoryMiB ?? 2048)],
      ...['-nographic', '-no-reboot', '-nic', 'none'],
      ...['-kernel', kernel.vmlinux, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1'],
      ...['-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  qemu.stdout.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    if (begun === 0 && out.includes(BEGIN)) begun = performance.now();
  });
  qemu.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
  let killed = false;
  const limit = setTimeout(() => {
    killed = true;
    qemu.kill('SIGKILL');
  }, opts.limitMs ?? 600_000);
  const exit = await new Promise<number | null>((resolve, reject) => {
    qemu.on('error', reject);
    qemu.on('close', resolve);
  }).finally(() => {
    clearTimeout(limit);
    rmSync(dir, { recursive: true, force: true });
  });
  const ended = performance.now();
  const parsed = parseConsole(out);
  if (parsed === undefined) {
    const tail = out.replaceAll('\r\n', '\n').trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
    const why = killed ? `still running after ${(opts.limitMs ?? 600_000) / 1000} s, stopped` : `qemu exited (${exit}) before the script ended`;
    throw new Error(`VM ${kernel.release}: ${why}; the last console lines:\n${tail}`);
  }
  return { ...parsed, bootMs: begun - started, runMs: ended - begun };
}
