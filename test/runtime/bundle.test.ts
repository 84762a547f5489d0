// The guest worker from the CLI bundle: scripts/build.mjs must build src/runtime/worker.ts as
// dist/runtime-worker.cjs, one function expression beside the split ESM CLI bundle (compiled
// without a code cache here: there is none); this bundles the same way (esbuild) into a temp
// dir and runs a guest from it, so the worker is found from dist/ and from dist/chunks/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { expect, it } from 'vitest';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { wat, WASI_PRELUDE } from './helpers.js';

describeWith(['wat2wasm'], 'runtime bundle', () => {
  it('runs a guest from the bundled worker', async () => {
    const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'bundle-'));
    const common: BuildOptions = {
      outdir: join(dir, 'dist'),
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      external: ['*.node'],
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: 'silent',
    };
    await build({ ...common, entryPoints: { ebpm: join(REPO, 'test/runtime/fixtures/bundle-entry.ts') }, chunkNames: 'chunks/[name]-[hash]', splitting: true });
    await build({
      ...common,
      entryPoints: { 'runtime-worker': join(REPO, 'src/runtime/worker.ts') },
      format: 'cjs',
      outExtension: { '.js': '.cjs' },
      define: { 'import.meta.url': '__import_meta_url' },
      banner: { js: "(function (require, __filename) {'use strict'; const __import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
      footer: { js: '})' },
    });
    const guest = wat(`(module ${WASI_PRELUDE} (memory (export "memory") 1) (data (i32.const 64) "hi\\n")
      (func (export "_start") (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 3))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8))) (call $proc_exit (i32.const 4))))`);
    writeFileSync(join(dir, 'g.wasm'), guest);
    const out = execFileSync(process.execPath, [join(dir, 'dist', 'ebpm.mjs'), join(dir, 'g.wasm')], { encoding: 'utf8' });
    expect(out.trimEnd().split('\n')).toEqual(['err: hi', '{"exitCode":4,"reason":"exit"}']);
  });
});
