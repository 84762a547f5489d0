// The pure parts of the kernel matrix, without a VM: the initramfs archive as busybox's cpio
// reads it, the module load order from modules.dep, and the console and job transcripts read back.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sandboxDir } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { newc } from './cpio.js';
import { parseJob } from './job.js';
import { loadOrder } from './kernels.js';
import { parseConsole } from './vm.js';

describeWith(['qemu'], 'an initramfs in cpio newc', () => {
  it('is read back by busybox cpio: names, kinds, modes, sizes and a link target', () => {
    const file = join(sandboxDir('cpio-'), 'initramfs.cpio');
    const archive = newc([
      { kind: 'dir', path: '/bin' },
      { kind: 'file', path: 'bin/tool', data: new TextEncoder().encode('#!/bin/sh\n'), mode: 0o755 },
      { kind: 'symlink', path: 'bin/sh', target: 'tool' },
      { kind: 'char', path: 'console', major: 5, minor: 1 },
      { kind: 'file', path: 'odd', data: new Uint8Array(5) },
    ]);
    // Every header and every piece of data starts on a 4-byte boundary.
    expect(archive.length % 4).toBe(0);
    writeFileSync(file, archive);
    // mtime 0, owner root: the same bytes on every build.
    expect(execFileSync('busybox', ['cpio', '-t', '-v', '-F', file], { encoding: 'utf8' }).split('\n')).toEqual([
      'drwxr-xr-x 0/0         0 1970-01-01 00:00:00 bin',
      '-rwxr-xr-x 0/0        10 1970-01-01 00:00:00 bin/tool',
      'lrwxrwxrwx 0/0         0 1970-01-01 00:00:00 bin/sh -> tool',
      'crw------- 0/0         0 1970-01-01 00:00:00 console',
      '-rw-r--r-- 0/0         5 1970-01-01 00:00:00 odd',
      '',
    ]);
  });
});

it('orders modules after what they need, once each, without the built-in ones', () => {
  const dep = [
    'kernel/fs/netfs/netfs.ko.xz:',
    'kernel/net/9p/9pnet.ko.xz: kernel/fs/netfs/netfs.ko.xz',
    'kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz',
    'kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz',
    'kernel/fs/overlayfs/overlay.ko.xz:',
    '',
  ].join('\n');
  const builtin = 'kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n';
  expect(loadOrder(dep, builtin, ['virtio_pci', '9pnet_virtio', '9p', 'overlay'])).toEqual([
    'kernel/fs/netfs/netfs.ko.xz',
    'kernel/net/9p/9pnet.ko.xz',
    'kernel/net/9p/9pnet_virtio.ko.xz',
    'kernel/fs/9p/9p.ko.xz',
    'kernel/fs/overlayfs/overlay.ko.xz',
  ]);
  expect(() => loadOrder(dep, builtin, ['virtiofs'])).toThrow('module virtiofs: neither in modules.dep nor built in');
});

it("reads the script's output and exit code from a console transcript, and nothing from one that did not finish", () => {
  const boot = '[    0.000000] Linux version 5.10.0\r\nRun /init as init process\r\n';
  const script = '---- ebpm-vm: script begins ----\r\nhello\r\n\r\nworld\r\n---- ebpm-vm: script ended with exit code 3 ----\r\n';
  expect(parseConsole(`${boot}${script}[   9.1] reboot: Power down\r\n`)).toEqual({ code: 3, stdout: 'hello\n\nworld\n' });
  expect(parseConsole(`${boot}---- ebpm-vm: script begins ----\r\nhello\r\n`)).toBeUndefined();
  expect(parseConsole(`${boot}Kernel panic - not syncing: VFS: Unable to mount root fs\r\n`)).toBeUndefined();
});

it("reads the job's cases back by name, with their trigger, exit code, stdout and stderr", () => {
  const job = parseJob(
    [
      '@@@ job uname=5.10.0-46-amd64 target=120 dir=/tmp/ebpm-matrix-x',
      '@@@ case sigsnoop trigger 130 exit 0 ms 812',
      '{"pid":130}',
      '@@@ stderr',
      'sigsnoop: 1 events',
      '@@@ end',
      '@@@ case runqlat-wasm trigger 140 exit 125 ms 90',
      '@@@ stderr',
      '@@@ end',
      '',
    ].join('\n'),
  );
  expect(job).toEqual({
    uname: '5.10.0-46-amd64',
    target: 120,
    dir: '/tmp/ebpm-matrix-x',
    cases: new Map([
      ['sigsnoop', { trigger: 130, code: 0, ms: 812, stdout: '{"pid":130}\n', stderr: 'sigsnoop: 1 events\n' }],
      ['runqlat-wasm', { trigger: 140, code: 125, ms: 90, stdout: '', stderr: '' }],
    ]),
  });
  expect(() => parseJob('bash: node: command not found\n')).toThrow('the job did not start; it printed:\nbash: node: command not found\n');
});
