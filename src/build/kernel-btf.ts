/**
 * `ebpm build --btf-for`: the BTF of a kernel other than this one, read from a vmlinux, a raw
 * BTF file or a Debian kernel package, and minimized to what the package's objects relocate
 * against (`bpftool gen min_core_btf`, bpftool 7.0+), to be carried in the package for kernels
 * without /sys/kernel/btf/vmlinux (registry-spec/package-v1.md §3.8).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { compressedPayloads, isRawBtf, vmlinuxBtf, type KernelCompression } from '../bpf/vmlinux.js';
import { EbpmError, withContext } from '../core/errors.js';
import { KERNEL_RELEASE } from '../package/metadata.js';
import { tool } from './toolchain.js';

const run = promisify(execFile);

/** A kernel's full BTF and its release. */
export interface KernelBtf {
  readonly release: string;
  readonly btf: Uint8Array;
}

/** A decompressed vmlinux is some 60 MiB; no kernel comes near this. */
const MAX_VMLINUX_BYTES = 1 << 30;

const DEB_MAGIC = '!<arch>\ndebian-binary';

/** What `--btf-for` names: a file, and the release when given. */
export interface KernelInput {
  readonly release?: string;
  readonly path: string;
}

/** `parseBtfFor` reads `--btf-for [<release>=]<path>`, the path resolved against `cwd`. A release has no `/`. */
export function parseBtfFor(arg: string, cwd: string): KernelInput {
  const m = /^([^=/]+)=(.+)$/.exec(arg);
  if (m === null) return { path: resolve(cwd, arg) };
  if (!KERNEL_RELEASE.test(m[1]!)) {
    throw new EbpmError('USAGE', `--btf-for ${arg}: ${JSON.stringify(m[1])} is not a kernel release`, {
      hint: 'write --btf-for <release>=<file>, the release as `uname -r` prints it on that kernel',
    });
  }
  return { release: m[1]!, path: resolve(cwd, m[2]!) };
}

/**
 * `readKernelBtf` reads the kernel BTF `input` names: raw BTF, which needs
 * the release, a vmlinux ELF, whose banner names it, or a Debian kernel package (`linux-image-*.deb`),
 * whose `boot/vmlinuz-<release>` does. A release given overrides what the file says.
 * `workDir` is private scratch space. Failures are `BTF_INPUT_INVALID`, with the path.
 */
export async function readKernelBtf(input: KernelInput, workDir: string): Promise<KernelBtf> {
  const { release: given, path } = input;
  try {
    const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
      throw invalid(e.code === 'ENOENT' ? 'no such file' : e.message, e);
    });
    let found: { btf: Uint8Array; release: string | undefined };
    if (isRawBtf(bytes)) found = { btf: bytes, release: undefined };
    else if (bytes.subarray(0, DEB_MAGIC.length).toString('latin1') === DEB_MAGIC) found = await debBtf(path, workDir);
    else found = fromVmlinux(bytes, 'a vmlinux');
    const release = given ?? found.release;
    if (release === undefined) {
      throw new EbpmError('USAGE', 'raw BTF names no kernel release', {
        hint: `write --btf-for <release>=${path}, the release as \`uname -r\` prints it on that kernel`,
      });
    }
    if (!KERNEL_RELEASE.test(release)) throw invalid(`${JSON.stringify(release)} is not a kernel release`);
    return { release, btf: found.btf };
  } catch (e) {
    throw withContext(`--btf-for ${given === undefined ? '' : `${given}=`}${path}`, e);
  }
}

function invalid(message: string, cause?: unknown): EbpmError {
  return new EbpmError('BTF_INPUT_INVALID', message, {
    ...(cause === undefined ? {} : { cause }),
    hint: 'give a vmlinux with a .BTF section, a raw BTF file as <release>=<file>, or a Debian linux-image-*.deb',
  });
}

function fromVmlinux(bytes: Uint8Array, what: string): { btf: Uint8Array; release: string | undefined } {
  try {
    return vmlinuxBtf(bytes);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'BPF_NOT_ELF') throw invalid('neither BTF, an ELF vmlinux nor a Debian package');
    throw invalid(`${what}: ${(e as Error).message}`, e);
  }
}

/**
 * The BTF inside a Debian kernel package: its one `boot/vmlinuz-<release>` unpacked (`unpackBoot`)
 * and decompressed, the `.BTF` of the vmlinux within read.
 */
async function debBtf(path: string, workDir: string): Promise<{ btf: Uint8Array; release: string }> {
  const root = join(workDir, 'deb');
  await mkdir(root, { recursive: true });
  await unpackBoot(path, root);
  const images = (await readdir(join(root, 'boot')).catch(() => [])).filter((f) => f.startsWith('vmlinuz-'));
  if (images.length !== 1) {
    throw invalid(images.length === 0 ? 'the package has no boot/vmlinuz-*: not a kernel image package' : `the package has ${images.length} kernel images`);
  }
  const image = images[0]!;
  const vmlinux = await decompressKernel(new Uint8Array(await readFile(join(root, 'boot', image))), workDir);
  return { btf: fromVmlinux(vmlinux, `boot/${image}`).btf, release: image.slice('vmlinuz-'.length) };
}

/**
 * `unpackBoot` unpacks the package's `./boot/` into `root`, as `dpkg -x` would unpack all of it:
 * `dpkg-deb --fsys-tarfile` piped into tar, so the hundreds of MiB of modules are never written.
 */
async function unpackBoot(deb: string, root: string): Promise<void> {
  const tar = spawn('tar', ['-x', '-C', root, '--wildcards', './boot/*'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const dpkg = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', tar.stdin, 'pipe'] });
  // dpkg-deb holds the pipe now: tar sees its end when dpkg-deb exits, however early.
  tar.stdin!.destroy();
  const ended = (p: ChildProcess, what: string) =>
    new Promise<string>((resolve, reject) => {
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'ENOENT'
            ? new EbpmError('TOOL_MISSING', `${what}: not found`, { cause: e, hint: 'run scripts/bootstrap.sh to install the toolchain' })
            : e,
        ),
      );
      p.on('close', (code) => resolve(code === 0 ? '' : err.trim().split('\n')[0] || `${what}: exit code ${code}`));
    });
  // A package without ./boot/ makes tar fail too: what it unpacked is judged by the caller.
  const [problem] = await Promise.all([ended(dpkg, 'dpkg-deb'), ended(tar, 'tar')]);
  if (problem) throw invalid(problem);
}

/** `-dc` writes the stream to stdout for each of these; lzma is xz's legacy format. */
const DECOMPRESS: Record<KernelCompression, readonly string[]> = {
  gzip: ['gzip', '-dc'],
  xz: ['xz', '-dc'],
  bzip2: ['bzip2', '-dc'],
  lzma: ['xz', '--format=lzma', '-dc'],
  lzop: ['lzop', '-dc'],
  lz4: ['lz4', '-dc'],
  zstd: ['zstd', '-dcq'],
};

/**
 * `decompressKernel` finds the vmlinux inside a kernel image as the kernel's
 * scripts/extract-vmlinux does: each candidate payload is decompressed with the system's tool,
 * trailing bytes and the tool's complaints about them ignored, and the first output that is an
 * ELF file wins.
 */
async function decompressKernel(image: Uint8Array, workDir: string): Promise<Uint8Array> {
  const payload = join(workDir, 'payload');
  for (const c of compressedPayloads(image)) {
    await writeFile(payload, image.subarray(c.offset));
    const [cmd, ...args] = DECOMPRESS[c.compression];
    const out = await run(cmd!, [...args, payload], { encoding: 'buffer', maxBuffer: MAX_VMLINUX_BYTES }).then(
      (r) => r.stdout,
      (e: { stdout?: Buffer }) => e.stdout,
    );
    if (out !== undefined && out.length > 4 && out.readUInt32BE(0) === 0x7f454c46) return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
  throw invalid('no compressed vmlinux found in the kernel image (gzip, xz, bzip2, lzma, lzo, lz4, zstd)');
}

/**
 * `minimizeBtf` writes `kernel`'s BTF to `workDir` and keeps of it what `objects` (paths of BPF
 * objects) relocate against, with `bpftool gen min_core_btf`.
 */
export async function minimizeBtf(kernel: KernelBtf, objects: readonly string[], workDir: string): Promise<Uint8Array> {
  const full = join(workDir, `${kernel.release}.full.btf`);
  const out = join(workDir, `${kernel.release}.btf`);
  await writeFile(full, kernel.btf);
  await tool('bpftool', ['gen', 'min_core_btf', full, out, ...objects]);
  return new Uint8Array(await readFile(out));
}
