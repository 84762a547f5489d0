// `ebpm build --btf-for`: this machine's BTF given three ways — raw as <release>=<file>, inside a
// vmlinux ELF made here with llvm-objcopy, and inside a Debian kernel package made with dpkg-deb
// around an xz-compressed vmlinux — minimized with the real bpftool and stored in the layout.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { parseBtf } from '../../src/bpf/btf.js';
import { isRawBtf } from '../../src/bpf/vmlinux.js';
import { cliEnv, runEbpm } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

const KERNEL_BTF = '/sys/kernel/btf/vmlinux';
const HOST = release();

/** A vmlinux as far as `--btf-for` reads one: an x86-64 ELF with `.BTF` and a `linux_banner`. */
function makeVmlinux(dir: string, btf: string, rel: string): string {
  const empty = join(dir, 'empty.o');
  execFileSync('clang', ['-c', '-x', 'c', '-', '-o', empty], { input: '' });
  // A format string first, as the kernel has ("Linux version %s"): not a release.
  const banner = join(dir, `banner-${rel}`);
  writeFileSync(banner, `Linux version %s\0Linux version ${rel} (builder@example) (gcc 12) #1 SMP\n\0`);
  const out = join(dir, `vmlinux-${rel}`);
  execFileSync('llvm-objcopy', ['--add-section', `.BTF=${btf}`, '--add-section', `.rodata.banner=${banner}`, empty, out]);
  return out;
}

/**
 * A linux-image package whose `boot/vmlinuz-<rel>` is a setup stub (with a false gzip magic in it,
 * which extraction must get past) and the vmlinux compressed with xz, as a bzImage holds it.
 */
function makeDeb(dir: string, vmlinux: string, rel: string): string {
  const root = join(dir, `deb-${rel}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(join(root, 'boot'));
  writeFileSync(
    join(root, 'DEBIAN', 'control'),
    `Package: linux-image-${rel}\nVersion: 1\nArchitecture: amd64\nMaintainer: ebpm tests <t@example>\nDescription: test kernel\n`,
  );
  const stub = Buffer.alloc(1024, 0x90);
  Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]).copy(stub, 100);
  const xz = execFileSync('xz', ['--check=crc32', '-c', vmlinux], { maxBuffer: 1 << 30 });
  writeFileSync(join(root, 'boot', `vmlinuz-${rel}`), Buffer.concat([stub, xz, Buffer.from([1, 2, 3, 4])]));
  const out = join(dir, `linux-image-${rel}_1_amd64.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { stdio: 'ignore' });
  return out;
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Layer {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

describeWith(['clang', 'btf', 'bpftool'], 'ebpm build --btf-for', () => {
  let dir = '';
  let env: Record<string, string> = {};
  let pkg = '';
  let vmlinux = '';
  let deb = '';
  beforeAll(() => {
    dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'btf-for-'));
    env = cliEnv(dir, { SOURCE_DATE_EPOCH: '1700000000' });
    pkg = join(dir, 'execsnoop');
    cpSync(join(REPO, 'examples', 'execsnoop'), pkg, { recursive: true, filter: (src) => !src.endsWith('/out') });
    const raw = join(dir, 'host.btf');
    writeFileSync(raw, readFileSync(KERNEL_BTF));
    vmlinux = makeVmlinux(dir, raw, '9.8.7-elf');
    deb = makeDeb(dir, makeVmlinux(dir, raw, '9.8.6-ignored'), '9.8.6-deb');
  }, 120_000);

  it('stores one minimized BTF layer per kernel and lists them in the metadata', async () => {
    const r = await runEbpm(['build', pkg, '--json', '--btf-for', `${HOST}=${KERNEL_BTF}`, '--btf-for', vmlinux, '--btf-for', deb], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const built = JSON.parse(r.stdout) as { metadata: { btf: { release: string; digest: string; size: number }[]; requirements: { kernelTypes: string[] } } };
    const out = join(pkg, 'out');
    const blob = (digest: string) => new Uint8Array(readFileSync(join(out, 'blobs', 'sha256', digest.slice('sha256:'.length))));
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const layers = (JSON.parse(new TextDecoder().decode(blob(index.manifests[0]!.digest))) as { layers: Layer[] }).layers;
    const btfLayers = layers.filter((l) => l.mediaType === 'application/vnd.ebpm.btf.v1');
    const releases = [HOST, '9.8.7-elf', '9.8.6-deb'];
    expect(btfLayers.map((l) => l.annotations['org.opencontainers.image.title'])).toEqual(releases.map((rel) => `btf/${rel}.btf`));
    expect(layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.ebpm.bpf.object.v1+elf',
      'application/vnd.ebpm.btf.v1',
      'application/vnd.ebpm.btf.v1',
      'application/vnd.ebpm.btf.v1',
      'application/vnd.ebpm.source.v1.tar+gzip',
    ]);
    const bytes = btfLayers.map((l) => blob(l.digest));
    expect(built.metadata.btf).toEqual(releases.map((rel, i) => ({ release: rel, digest: sha256(bytes[i]!), size: bytes[i]!.length })));
    expect(btfLayers.map((l) => [l.digest, l.size])).toEqual(built.metadata.btf.map((b) => [b.digest, b.size]));
    // One kernel's BTF three ways: the same minimized bytes, far smaller than the 5 MiB input.
    expect(bytes[1]).toEqual(bytes[0]);
    expect(bytes[2]).toEqual(bytes[0]);
    expect(isRawBtf(bytes[0]!)).toBe(true);
    expect(bytes[0]!.length).toBeLessThan(readFileSync(KERNEL_BTF).length / 1000);
    // What is left is what execsnoop relocates against: its kernel types, with no other struct.
    const structs = parseBtf(bytes[0]!)
      .types.filter((t) => t.kind === 'struct' && t.name !== '')
      .map((t) => t.name);
    expect(structs.sort()).toEqual(built.metadata.requirements.kernelTypes);

    const text = await runEbpm(['inspect', out], { env });
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n').slice(-3)).toEqual(['  kernel BTF: required', `  BTF carried for kernels: ${HOST}, 9.8.7-elf, 9.8.6-deb`, '']);
  }, 120_000);

  it('refuses what is no kernel BTF, raw BTF without a release, and one release twice, leaving out/ as it was', async () => {
    const before = readFileSync(join(pkg, 'out', 'index.json'), 'utf8');
    const notKernel = join(dir, 'ebpm.json');
    writeFileSync(notKernel, '{}');
    const build = (...btfFor: string[]) => runEbpm(['build', pkg, ...btfFor.flatMap((b) => ['--btf-for', b])], { env });
    const hint = 'hint: give a vmlinux with a .BTF section, a raw BTF file as <release>=<file>, or a Debian linux-image-*.deb\n';
    expect(await build(notKernel)).toMatchObject({
      code: 1,
      stderr: `error: build ${pkg}: --btf-for ${notKernel}: neither BTF, an ELF vmlinux nor a Debian package\n${hint}`,
    });
    const truncated = join(dir, 'truncated.deb');
    writeFileSync(truncated, readFileSync(deb).subarray(0, 40));
    expect(await build(truncated)).toMatchObject({
      code: 1,
      stderr: `error: build ${pkg}: --btf-for ${truncated}: dpkg-deb: error: unexpected end of file in archive member header in ${truncated}\n${hint}`,
    });
    const notKernelDeb = join(dir, 'docs.deb');
    mkdirSync(join(dir, 'docs', 'DEBIAN'), { recursive: true });
    writeFileSync(join(dir, 'docs', 'DEBIAN', 'control'), 'Package: docs\nVersion: 1\nArchitecture: all\nMaintainer: t <t@example>\nDescription: d\n');
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', join(dir, 'docs'), notKernelDeb], { stdio: 'ignore' });
    expect(await build(notKernelDeb)).toMatchObject({
      code: 1,
      stderr: `error: build ${pkg}: --btf-for ${notKernelDeb}: the package has no boot/vmlinuz-*: not a kernel image package\n${hint}`,
    });
    expect(await build(join(dir, 'missing.btf'))).toMatchObject({
      code: 1,
      stderr: `error: build ${pkg}: --btf-for ${join(dir, 'missing.btf')}: no such file\n${hint}`,
    });
    expect(await build(KERNEL_BTF)).toMatchObject({
      code: 2,
      stderr: `error: build ${pkg}: --btf-for ${KERNEL_BTF}: raw BTF names no kernel release\nhint: write --btf-for <release>=${KERNEL_BTF}, the release as \`uname -r\` prints it on that kernel\n`,
    });
    expect(await build(vmlinux, `9.8.7-elf=${KERNEL_BTF}`)).toMatchObject({
      code: 2,
      stderr: `error: build ${pkg}: --btf-for ${KERNEL_BTF}: kernel 9.8.7-elf given twice\nhint: give each kernel release once\n`,
    });
    expect(await build(`bad release=${KERNEL_BTF}`)).toMatchObject({
      code: 2,
      stderr: `error: --btf-for bad release=${KERNEL_BTF}: "bad release" is not a kernel release\nhint: write --btf-for <release>=<file>, the release as \`uname -r\` prints it on that kernel\n`,
    });
    expect(readFileSync(join(pkg, 'out', 'index.json'), 'utf8')).toBe(before);
  }, 120_000);
});
