import { mkdirSync, readFileSync, statSync } from 'node:fs';
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
export async function exampleObject(name: Example): Promise<Uint8Array> {
  const dir = join(REPO, 'examples', name);
  const source = join(dir, `${name}.bpf.c`);
  const outDir = join(REPO, '.cache', 'test', 'objects');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `${name}.bpf.o`);
  const inputs = [source, join(dir, `${name}.h`), join(REPO, 'include', 'ebpm', 'ebpm.h')];
  try {
    if (
      statSync(out).mtimeMs >
      newest(
        inputs.filter((p) => {
          try {
            statSync(p);
            return true;
          } catch {
            return false;
          }
        }),
      )
    ) {
      return new Uint8Array(readFileSync(out));
    }
  } catch {
    // not built yet
  }
  return compileBpf(source, out, { includes: [dir], env: { ...process.env, EBPM_CACHE_DIR: join(REPO, '.cache', 'test') } });
}
