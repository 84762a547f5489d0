// An arm64 object on an arm64 kernel: `ebpm build --platform linux/amd64,linux/arm64` here
// (amd64), then Debian's arm64 kernel booted under qemu-system-aarch64 (TCG, no KVM) with a
// busybox initramfs holding Debian's arm64 bpftool, which loads each object with libbpf (there
// is no arm64 Node to run ebpm itself). The arm64 build loads, CO-RE resolving its
// `user_pt_regs.regs[0]` against the arm64 kernel's BTF; the amd64 build of the same source is
// refused there, its `pt_regs.di` not being an arm64 field.
import { spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { REPO } from '../helpers/objects.js';
import { cliEnv, runEbpm, sandboxDir } from '../helpers/cli.js';
import { initramfs } from '../helpers/initramfs.js';
import { describeWith } from '../helpers/prereq.js';

const ARM64 = join(REPO, '.cache', 'platforms', 'arm64');

/** What the guest's /init does: mount what bpftool needs, load each object, list what is loaded, power off. */
const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t devtmpfs dev /dev
exec 0</dev/console 1>/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t bpf bpf /sys/fs/bpf
echo "EBPM-UNAME $(/bin/busybox uname -m) $(/bin/busybox uname -r)"
for o in /objects/*.o; do
  n=$(/bin/busybox basename $o .o)
  /usr/sbin/bpftool prog loadall $o /sys/fs/bpf/$n
  echo "EBPM-LOAD $n $?"
done
echo "EBPM-PROGS $(/usr/sbin/bpftool -j prog show)"
/bin/busybox poweroff -f
`;

/** The bytes of the layer titled `title` in each platform's manifest of a built layout, by architecture. */
function objectsOf(out: string, title: string): Record<string, Uint8Array> {
  const blob = (d: string) => readFileSync(join(out, 'blobs', 'sha256', d.slice('sha256:'.length)));
  const json = <T>(d: string) => JSON.parse(blob(d).toString()) as T;
  type Desc = { digest: string; platform?: { architecture: string }; annotations?: Record<string, string> };
  const root = (JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: Desc[] }).manifests[0]!;
  return Object.fromEntries(
    json<{ manifests: Desc[] }>(root.digest).manifests.map((m) => {
      const layer = json<{ layers: Desc[] }>(m.digest).layers.find((l) => l.annotations?.['org.opencontainers.image.title'] === title)!;
      return [m.platform!.architecture, new Uint8Array(blob(layer.digest))];
    }),
  );
}

/** Boots the arm64 kernel on `initrd` and returns its console output; qemu exits when the guest powers off. */
async function boot(kernel: string, initrd: string): Promise<string> {
  const args = ['-M', 'virt', '-cpu', 'max,pauth-impdef=on', '-m', '512', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd];
  // panic=-1: a guest that fails reboots at once, which -no-reboot turns into qemu's exit.
  const child = spawn('qemu-system-aarch64', [...args, '-append', 'console=ttyAMA0 rdinit=/init panic=-1 loglevel=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  expect(code).toBe(0);
  return out.replaceAll('\r', '');
}

describeWith(['clang', 'btf', 'wasi', 'arm64-types', 'qemu-arm64'], 'arm64 objects on an arm64 kernel under qemu-system-aarch64', () => {
  let guest = '';
  let release = '';

  beforeAll(async () => {
    const dir = sandboxDir('arm64-');
    const env = cliEnv(join(dir, 'home'));
    const objects = new Map<string, { bytes: Uint8Array; mode: number }>();
    for (const [name, from] of [
      ['ptregs', join(REPO, 'test', 'build', 'fixtures', 'ptregs')],
      ['sigsnoop', join(REPO, 'examples', 'sigsnoop')],
    ] as const) {
      cpSync(from, join(dir, name), { recursive: true, filter: (s) => !s.endsWith('/out') });
      const r = await runEbpm(['build', join(dir, name), '--platform', 'linux/amd64,linux/arm64'], { env });
      expect(r.code).toBe(0);
      const built = objectsOf(join(dir, name, 'out'), `${name}.bpf.o`);
      objects.set(`objects/${name}-arm64.o`, { bytes: built.arm64!, mode: 0o644 });
      if (name === 'ptregs') objects.set('objects/ptregs-amd64.o', { bytes: built.amd64!, mode: 0o644 });
    }
    objects.set('init', { bytes: Buffer.from(INIT), mode: 0o755 });
    const initrd = join(dir, 'initrd.gz');
    writeFileSync(initrd, initramfs(join(ARM64, 'root'), objects));
    const vmlinuz = readdirSync(join(ARM64, 'kernel', 'boot')).find((f) => f.startsWith('vmlinuz-'))!;
    release = vmlinuz.slice('vmlinuz-'.length);
    guest = await boot(join(ARM64, 'kernel', 'boot', vmlinuz), initrd);
  }, 300_000);

  it("boots Debian's arm64 kernel", () => {
    expect(guest).toContain(`EBPM-UNAME aarch64 ${release}\n`);
  });

  it('loads the arm64 objects, and refuses the amd64 build whose pt_regs has no arm64 layout', () => {
    const loads = [...guest.matchAll(/^EBPM-LOAD (\S+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]);
    expect(loads).toEqual([
      ['ptregs-amd64', 255],
      ['ptregs-arm64', 0],
      ['sigsnoop-arm64', 0],
    ]);
    expect(guest).toMatch(/failed to resolve CO-RE relocation <byte_off> \[\d+\] struct pt_regs\.di /);
    const progs = JSON.parse(/^EBPM-PROGS (.*)$/m.exec(guest)![1]!) as { name: string; type: string; jited: boolean }[];
    expect(progs.map((p) => [p.name, p.type])).toEqual([
      ['ptregs_first_arg', 'kprobe'],
      ['sig_trace', 'tracepoint'],
    ]);
  });
});
