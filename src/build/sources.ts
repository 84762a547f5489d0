import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { EbpmError } from '../core/errors.js';
import type { Env } from '../core/paths.js';
import { PACKAGE_NAME, parseSourceManifest, SOURCE_MANIFEST, validateSourceManifest, type SourceManifest } from '../package/source-manifest.js';

/** The directory `ebpm build` writes its OCI layout to, inside the package directory. */
export const OUT_DIR = 'out';
/** Sources carried in the tarball are capped: a package is programs, not data sets. */
export const MAX_SOURCE_BYTES = 32 * 1024 * 1024;

/** `PackageSources` is what a package directory holds, read and checked before anything runs. */
export interface PackageSources {
  readonly dir: string;
  readonly manifest: SourceManifest;
  /** The BPF sources, relative to `dir`, in build order. */
  readonly bpf: readonly string[];
  /** The Wasm program, relative to `dir`: a C source to compile or a prebuilt module. */
  readonly wasm?: { readonly path: string; readonly prebuilt: boolean };
  readonly readme?: string;
  /** Every file of the source tarball, relative, `/`-separated, sorted. */
  readonly files: readonly string[];
  /** The package's creation time, whole seconds (registry-spec §"Reproducibility"). */
  readonly created: Date;
  /** Set when the directory has no `ebpm.json` and the manifest was made up (`inferredManifest`). */
  readonly inferred: boolean;
}

/** `INFERRED_VERSION` is the version of a package built without an `ebpm.json`. */
export const INFERRED_VERSION = '0.0.0';

/**
 * `readSources` reads `ebpm.json` (without one, `inferredManifest`) and lists the package's files: every regular file below
 * `dir` except `out/`, dot-files and `*.o`. The creation time is `SOURCE_DATE_EPOCH` when set,
 * else the newest modification time among those files.
 */
export async function readSources(dir: string, env: Env): Promise<PackageSources> {
  let text: string | undefined;
  try {
    text = await readFile(join(dir, SOURCE_MANIFEST), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      throw new EbpmError('SOURCE_MANIFEST_NOT_FOUND', `${join(dir, SOURCE_MANIFEST)}: ${(e as Error).message}`, {
        cause: e,
        hint: 'a package directory needs a readable ebpm.json, or none at all',
      });
    }
  }
  const files = await listFiles(dir);
  const top = files.map((f) => f.path).filter((p) => !p.includes('/'));
  const topSources = top.filter((p) => p.endsWith('.bpf.c'));
  const manifest = text === undefined ? inferredManifest(dir, top) : parseSourceManifest(text);
  const have = new Set(files.map((f) => f.path));
  const missing = (p: string) => !have.has(p);
  const bpf = manifest.objects ? [...manifest.objects] : topSources;
  if (bpf.length === 0) {
    throw new EbpmError('NO_BPF_SOURCES', `${dir}: no *.bpf.c to build`, {
      hint: 'add a BPF program (name.bpf.c) to the directory, or list them in "objects" of ebpm.json',
    });
  }
  const absent = [...bpf, ...(manifest.wasm ? [manifest.wasm] : []), ...(manifest.readme ? [manifest.readme] : [])].filter(missing);
  if (absent.length) {
    throw new EbpmError('SOURCE_NOT_FOUND', `${dir}: ${absent.join(', ')}: not found`, { hint: 'ebpm.json names files that are not in the package directory' });
  }
  const stems = new Set<string>();
  for (const b of bpf) {
    const stem = objectName(b);
    if (stems.has(stem))
      throw new EbpmError('MANIFEST_INVALID', `${SOURCE_MANIFEST}: objects: two sources build ${stem}`, { hint: 'BPF sources need distinct file names' });
    stems.add(stem);
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > MAX_SOURCE_BYTES) {
    throw new EbpmError('SOURCE_TOO_LARGE', `${dir}: sources total ${total} bytes, over ${MAX_SOURCE_BYTES}`, {
      hint: 'move data files out of the package directory, or set "source": false in ebpm.json',
    });
  }
  const readme = manifest.readme ?? (have.has('README.md') ? 'README.md' : undefined);
  return {
    dir,
    manifest,
    bpf,
    ...(manifest.wasm ? { wasm: { path: manifest.wasm, prebuilt: manifest.wasm.endsWith('.wasm') } } : {}),
    ...(readme ? { readme } : {}),
    files: files.map((f) => f.path),
    created: createdTime(env, files),
    inferred: text === undefined,
  };
}

/**
 * `inferredManifest` stands in for a missing `ebpm.json`, from the directory's top-level
 * `files`, as for an eunomia-bpf/ecc tool directory: the name is the stem of the one `*.bpf.c`
 * (ecc names its output after the source), else the directory's name, lower-cased with other
 * characters made `-`; the version is `INFERRED_VERSION`. As in a wasm-bpf example directory,
 * `x.c` beside the one `x.bpf.c` is the Wasm program. Everything else takes its default.
 */
export function inferredManifest(dir: string, files: readonly string[]): SourceManifest {
  const sources = files.filter((f) => f.endsWith('.bpf.c'));
  const one = sources.length === 1 ? sources[0]!.replace(/\.bpf\.c$/, '') : undefined;
  const stem = one ?? basename(dir);
  const name = stem
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  if (!PACKAGE_NAME.test(name)) {
    throw new EbpmError('MANIFEST_INVALID', `${dir}: no ${SOURCE_MANIFEST}, and ${JSON.stringify(stem)} makes no package name`, {
      hint: 'add an ebpm.json with {"name": …, "version": …}',
    });
  }
  const guest = one !== undefined && files.includes(`${one}.c`) ? { wasm: `${one}.c` } : {};
  return validateSourceManifest({ name, version: INFERRED_VERSION, ...guest });
}

/** `objectName` is the object file a BPF source builds: `src/sigsnoop.bpf.c` → `sigsnoop.bpf.o`. */
export function objectName(source: string): string {
  return source.slice(source.lastIndexOf('/') + 1).replace(/\.c$/, '.o');
}

function createdTime(env: Env, files: readonly { mtimeMs: number }[]): Date {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== '') {
    if (!/^\d{1,12}$/.test(epoch))
      throw new EbpmError('USAGE', `SOURCE_DATE_EPOCH=${epoch}: not a number of seconds`, {
        hint: 'set SOURCE_DATE_EPOCH to a Unix time, e.g. $(git log -1 --format=%ct)',
      });
    return new Date(Number(epoch) * 1000);
  }
  return new Date(Math.floor(Math.max(...files.map((f) => f.mtimeMs)) / 1000) * 1000);
}

/** `rfc3339` formats a time as the `created` annotation wants it: UTC, whole seconds. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function listFiles(dir: string): Promise<{ path: string; size: number; mtimeMs: number }[]> {
  const out: { path: string; size: number; mtimeMs: number }[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 8) return;
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      const rel = relative(dir, p).split(sep).join('/');
      if (e.isDirectory()) {
        if (rel !== OUT_DIR) await walk(p, depth + 1);
      } else if (e.isFile() && !e.name.endsWith('.o')) {
        const st = await stat(p);
        out.push({ path: rel, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
  };
  try {
    await walk(dir, 0);
  } catch (e) {
    throw new EbpmError('SOURCE_NOT_FOUND', `${dir}: ${(e as Error).message}`, { cause: e, hint: 'pass a package directory holding ebpm.json' });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
