import { existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compileBpf } from '../../src/build/toolchain.js';

export const REPO = new URL('../..', import.meta.url).pathname;
export const EXAMPLES = ['sigsnoop', 'opensnoop', 'execsnoop', 'runqlat', 'bootstrap'] as const;
export type Example = (typeof EXAMPLES)[number];

function newest(paths: string[]): number {
  return Math.max(...paths.map((p) => statSync(p).mtimeMs));
}

/**
 * `exampleObject` compiles `examples/<name>/<name>.bpf.c` with the real clang (cached under
 * .cache/test until a source changes) and returns the stripped object bytes.
 */
export function exampleObject(name: Example): Promise<Uint8Array> {
  const dir = join(REPO, 'examples', name);
  const inputs = [join(dir, `${name}.h`), join(REPO, 'include', 'ebpm', 'ebpm.h')].filter((p) => existsSync(p));
  return cachedObject(join(dir, `${name}.bpf.c`), `${name}.bpf.o`, { includes: [dir], inputs });
}

/**
 * `cachedObject` compiles `source` into `.cache/test/objects/<file>` unless that is newer than the
 * source and `inputs`. Test files build in parallel: each compiles (and strips) a file of its
 * own, then renames it into place, so that no reader sees an object between clang and llvm-strip.
 */
export async function cachedObject(source: string, file: string, opts: { includes?: string[]; inputs?: string[] } = {}): Promise<Uint8Array> {
  const outDir = join(REPO, '.cache', 'test', 'objects');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, file);
  if (existsSync(out) && statSync(out).mtimeMs > newest([source, ...(opts.inputs ?? [])])) return new Uint8Array(readFileSync(out));
  const tmp = `${out}.${process.pid}.tmp`;
  const bytes = await compileBpf(source, tmp, { includes: opts.includes ?? [], env: { ...process.env, EBPM_CACHE_DIR: join(REPO, '.cache', 'test') } });
  renameSync(tmp, out);
  return bytes;
}
