// Bundles the CLI: Node then loads a few files instead of hundreds,
// which keeps `ebpm run` start-up lean. The native addon stays a separate .node file.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry a hash of their content: without a clean, every build would leave the last one's chunks behind.
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

const common = {
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  external: ['*.node', 'react-devtools-core'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
};

await Promise.all([
  build({
    ...common,
    entryPoints: { ebpm: 'src/cli/bin.ts' },
    chunkNames: 'chunks/[name]-[hash]',
    // Split so that what a command imports lazily (ink, react, the registry client) is
    // only parsed when that command runs.
    splitting: true,
    jsx: 'automatic',
  }),
  // The Wasm runtime's worker thread is its own entry: a Worker loads it by file name. A new
  // isolate loads it on every Wasm run, so it is one CommonJS file: no shared chunks to resolve
  // and read, and no ESM loader, whose import of a builtin (node:crypto, node:fs) also loads
  // everything the builtin exports lazily.
  build({
    ...common,
    entryPoints: { 'runtime-worker': 'src/runtime/worker.ts' },
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    define: { 'import.meta.url': '__import_meta_url' },
    banner: { js: "'use strict'; const __import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  }),
]);
