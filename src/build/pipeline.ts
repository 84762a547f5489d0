/**
 * `buildPackage`: a package source directory in, an ebpm package (manifest, config, layers) out,
 * in memory; `buildPlatforms` makes one per architecture. Stages: read sources → compile BPF
 * objects → compile or read the Wasm module → parse everything → metadata → pack
 * (registry-spec/package-v1.md §2–§4, §"Platforms").
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { parseObject, type ObjectSpec } from '../bpf/object.js';
import { ociArch } from '../core/arch.js';
import { sha256Digest } from '../core/digest.js';
import { EbpmError, withContext } from '../core/errors.js';
import type { Env } from '../core/paths.js';
import { packPackage, type PackageFile, type PackedPackage } from '../package/artifact.js';
import { parseDocComments, type DocComment } from '../package/doc-comments.js';
import { assembleMetadata, embeddedName } from '../package/extract.js';
import { EBPM_BPF_OBJECT, EBPM_BTF, EBPM_README, EBPM_SOURCE, EBPM_WASM_MODULE } from '../package/media-types.js';
import { btfTitle, type KernelBtfMeta, type PackageMetadata } from '../package/metadata.js';
import { compact } from '../core/json.js';
import { embeddedObjects, parseWasm } from '../wasm/module.js';
import { headerStructs } from './header.js';
import { minimizeBtf, readKernelBtf, type KernelBtf, type KernelInput } from './kernel-btf.js';
import { objectName, readSources, rfc3339, type PackageSources } from './sources.js';
import { sourceTarball } from './source-tar.js';
import { skeletonFile, skeletonHeader } from './skeleton.js';
import { compileBpf, compileWasm, sdkOverlay } from './toolchain.js';

export interface BuildOptions {
  readonly env: Env;
  /** A private scratch directory for compiler outputs. */
  readonly workDir: string;
  /** `--btf-for`: kernels to carry minimized BTF for. */
  readonly btfFor?: readonly KernelInput[];
}

export interface BuiltPackage {
  readonly sources: PackageSources;
  readonly metadata: PackageMetadata;
  readonly packed: PackedPackage;
  /** `org.opencontainers.image.created`. */
  readonly created: string;
  /** What the build ignored in the sources (unknown doc tags), each once, for the user to see. */
  readonly warnings: readonly string[];
}

/** `SOURCE_TARBALL` is the title of the sources layer. */
export const SOURCE_TARBALL = 'source.tar.gz';

interface Compiled {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly spec: ObjectSpec;
  readonly docs: ReadonlyMap<string, DocComment>;
}

/**
 * `buildPackage` builds the package for one architecture (OCI name; this machine's by default).
 */
export async function buildPackage(dir: string, opts: BuildOptions & { architecture?: string }): Promise<BuiltPackage> {
  return (await buildPlatforms(dir, { ...opts, architectures: [opts.architecture ?? ociArch()] }))[0]!;
}

/**
 * `buildPlatforms` builds one package per architecture from one reading of the sources: each
 * architecture's objects are compiled against its own kernel types and `__TARGET_ARCH_*`. The
 * Wasm module is compiled once and shared when it embeds no object (its bytes do not depend on
 * the architecture); a module that embeds objects (`#include "x.bpf.o.h"`) carries each
 * architecture's own, so it is compiled once per architecture.
 */
export async function buildPlatforms(dir: string, opts: BuildOptions & { architectures: readonly string[] }): Promise<BuiltPackage[]> {
  const sources = await readSources(dir, opts.env);
  // Read first: a bad kernel input costs no compilation.
  const kernels = await kernelInputs(opts.btfFor ?? [], opts.workDir);
  const warnings = new Set<string>();
  const texts = new Map<string, string>();
  for (const src of sources.bpf) texts.set(src, await readFile(join(dir, src), 'utf8'));
  const docs = new Map([...texts].map(([src, text]) => [src, parseDocComments(text, src, (w) => warnings.add(w))]));
  const files: PackageFile[] = [];
  if (sources.readme) files.push({ title: basename(sources.readme), mediaType: EBPM_README, bytes: new Uint8Array(await readFile(join(dir, sources.readme))) });
  if (sources.manifest.source) {
    const tarFiles = await Promise.all(sources.files.map(async (p) => ({ path: p, bytes: new Uint8Array(await readFile(join(dir, p))) })));
    files.push({ title: SOURCE_TARBALL, mediaType: EBPM_SOURCE, bytes: await sourceTarball(tarFiles, sources.created) });
  }
  const created = rfc3339(sources.created);
  let shared: { name: string; bytes: Uint8Array } | undefined;
  const built: BuiltPackage[] = [];
  for (const architecture of opts.architectures) {
    const workDir = join(opts.workDir, architecture);
    await mkdir(workDir, { recursive: true });
    const compiled: Compiled[] = [];
    for (const src of sources.bpf) {
      const name = objectName(src);
      const exportStructs = await toolStructs(join(dir, src), texts.get(src)!);
      const bytes = await compileBpf(join(dir, src), join(workDir, name), {
        cflags: [...sources.manifest.cflags],
        exportStructs,
        env: opts.env,
        architecture,
        onWarning: (w) => warnings.add(w),
      });
      const spec = parse(name, bytes);
      compiled.push({ name, bytes, spec, docs: docs.get(src)! });
      // What a Wasm guest includes: the bytes (`x.bpf.o.h`) and a wasm-bpf skeleton over them (`x.skel.h`).
      await writeFile(join(workDir, `${name}.h`), cArray(name, bytes));
      await writeFile(join(workDir, skeletonFile(name)), skeletonHeader(name, spec));
    }
    const wasm = shared ?? (await buildWasm(dir, sources, workDir, (w) => warnings.add(w)));
    const assembled = packageMetadata(sources, architecture, compiled, wasm);
    const btf = await carriedBtf(kernels, assembled.objectBytes, workDir);
    const metadata: PackageMetadata = btf.length === 0 ? assembled.metadata : { ...assembled.metadata, btf: btf.map((b) => b.meta) };
    if (wasm !== undefined && metadata.objects.every((o) => !o.embedded)) shared = wasm;
    const layers: PackageFile[] = compiled.map((c) => ({ title: c.name, mediaType: EBPM_BPF_OBJECT, bytes: c.bytes }));
    if (wasm) layers.push({ title: wasm.name, mediaType: EBPM_WASM_MODULE, bytes: wasm.bytes });
    for (const b of btf) layers.push({ title: btfTitle(b.meta.release), mediaType: EBPM_BTF, bytes: b.bytes });
    built.push({ sources, metadata, packed: packPackage(metadata, [...layers, ...files], created), created, warnings: [...warnings] });
  }
  return built;
}

/**
 * The Wasm module: compiled against the `*.bpf.o.h` and `*.skel.h` headers in `workDir` and
 * ebpm's libbpf-wasm.h (which takes the place of a copy beside the program, with a warning),
 * or read as shipped.
 */
async function buildWasm(
  dir: string,
  sources: PackageSources,
  workDir: string,
  warn: (w: string) => void,
): Promise<{ name: string; bytes: Uint8Array } | undefined> {
  const w = sources.wasm;
  if (w === undefined) return undefined;
  const name = basename(w.path).replace(/\.c$/, '.wasm');
  if (w.prebuilt) return { name, bytes: new Uint8Array(await readFile(join(dir, w.path))) };
  const overlay = await sdkOverlay(join(dir, w.path), workDir);
  if (overlay) warn(`${posix.join(posix.dirname(w.path), 'libbpf-wasm.h')}: not used: ${w.path} is compiled against ebpm's libbpf-wasm.h`);
  const cflags = [...(overlay ? ['-ivfsoverlay', overlay] : []), ...sources.manifest.wasmCflags];
  return { name, bytes: await compileWasm(join(dir, w.path), join(workDir, name), { includes: [workDir], cflags, onWarning: warn }) };
}

/**
 * The metadata of one architecture's build: its objects, those the Wasm module embeds, the
 * module; and the bytes of every object it declares, for `--btf-for`.
 */
function packageMetadata(
  sources: PackageSources,
  architecture: string,
  compiled: readonly Compiled[],
  wasm: { name: string; bytes: Uint8Array } | undefined,
): { metadata: PackageMetadata; objectBytes: Uint8Array[] } {
  const { manifest } = sources;
  const module = wasm ? wrap(wasm.name, () => parseWasm(wasm.bytes)) : undefined;
  const embedded = module ? embeddedObjects(module).map((e) => ({ ...e, digest: sha256Digest(e.bytes) })) : [];
  const embeddedDigests = new Set(embedded.map((e) => e.digest));

  const objects = compiled.map((c) => {
    const digest = sha256Digest(c.bytes);
    return {
      spec: c.spec,
      bytes: c.bytes,
      facts: { name: c.name, digest, size: c.bytes.length, layer: true, embedded: embeddedDigests.has(digest), docs: c.docs },
    };
  });
  const seen = new Set(objects.map((o) => o.facts.digest));
  for (const e of embedded) {
    if (seen.has(e.digest)) continue;
    seen.add(e.digest);
    const name = embeddedName(e.address);
    objects.push({
      spec: parse(`${wasm!.name}: ${name}`, e.bytes),
      bytes: e.bytes,
      facts: { name, digest: e.digest, size: e.bytes.length, layer: false, embedded: true, docs: new Map() },
    });
  }
  const metadata = assembleMetadata(
    compact({
      name: manifest.name,
      version: manifest.version,
      description: manifest.description,
      license: manifest.license,
      keywords: manifest.keywords,
      authors: manifest.authors,
      homepage: manifest.homepage,
      repository: manifest.repository,
      architecture,
    }),
    objects,
    wasm && module ? { name: wasm.name, digest: sha256Digest(wasm.bytes), size: wasm.bytes.length, module } : undefined,
  );
  return { metadata, objectBytes: objects.map((o) => o.bytes) };
}

/** The kernels of `--btf-for`, read in turn, each in a scratch directory of its own; one release twice is `USAGE`. */
async function kernelInputs(inputs: readonly KernelInput[], workDir: string): Promise<KernelBtf[]> {
  const out: KernelBtf[] = [];
  for (const [i, input] of inputs.entries()) {
    const k = await readKernelBtf(input, await mkdtemp(join(workDir, `kernel-${i}-`)));
    if (out.some((o) => o.release === k.release)) {
      throw new EbpmError('USAGE', `--btf-for ${input.path}: kernel ${k.release} given twice`, { hint: 'give each kernel release once' });
    }
    out.push(k);
  }
  return out;
}

/**
 * The minimized BTF of each kernel for every object the package declares, those embedded in the
 * Wasm module too: each written to the scratch directory for bpftool.
 */
async function carriedBtf(
  kernels: readonly KernelBtf[],
  objects: readonly Uint8Array[],
  workDir: string,
): Promise<{ meta: KernelBtfMeta; bytes: Uint8Array }[]> {
  if (kernels.length === 0) return [];
  const dir = await mkdtemp(join(workDir, 'btf-objects-'));
  const paths = await Promise.all(
    objects.map(async (bytes, i) => {
      const p = join(dir, `${i}.bpf.o`);
      await writeFile(p, bytes);
      return p;
    }),
  );
  const out: { meta: KernelBtfMeta; bytes: Uint8Array }[] = [];
  for (const k of kernels) {
    let bytes: Uint8Array;
    try {
      bytes = await minimizeBtf(k, paths, workDir);
    } catch (e) {
      throw withContext(`--btf-for: kernel ${k.release}`, e);
    }
    out.push({ meta: { release: k.release, digest: sha256Digest(bytes), size: bytes.length }, bytes });
  }
  return out;
}

/**
 * `toolStructs` applies ecc's header convention (`ecc foo.bpf.c foo.h`): the structs declared
 * in the tool's header, `foo.h` beside `foo.bpf.c`, in the order declared, are kept in the
 * object's BTF, to be bound to its ring buffers and perf event arrays (package/extract.ts).
 * Only a source that declares a ring buffer or perf event array needs it, and one that says
 * what it exports with `EBPM_EXPORT` opts out.
 */
async function toolStructs(source: string, text: string): Promise<string[]> {
  if (text.includes('EBPM_EXPORT(') || !/BPF_MAP_TYPE_(RINGBUF|PERF_EVENT_ARRAY)\b/.test(text)) return [];
  const header = await readFile(source.replace(/\.bpf\.c$/, '.h'), 'utf8').catch(() => undefined);
  return header === undefined ? [] : headerStructs(header);
}

function wrap<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw withContext(what, e);
  }
}

function parse(name: string, bytes: Uint8Array): ObjectSpec {
  return wrap(name, () => parseObject(bytes));
}

/**
 * `cArray` renders an object as a C header, as `xxd -i` names it (`sigsnoop.bpf.o` →
 * `sigsnoop_bpf_o[]`, `sigsnoop_bpf_o_len`), for the Wasm program to embed; guarded, as the
 * skeleton includes it too.
 */
export function cArray(name: string, bytes: Uint8Array): string {
  const id = name.replace(/[^A-Za-z0-9_]/g, '_');
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16)
    lines.push('  ' + Array.from(bytes.subarray(i, i + 16), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ') + ',');
  const guard = `__${id.toUpperCase()}_H`;
  return `/* ${name}: generated by ebpm build */\n#ifndef ${guard}\n#define ${guard}\nstatic const unsigned char ${id}[] __attribute__((aligned(8))) = {\n${lines.join('\n')}\n};\nstatic const unsigned int ${id}_len = ${bytes.length};\n#endif\n`;
}
