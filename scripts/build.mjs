// Bundles the CLI: Node then loads a few files instead of hundreds,
// which keeps `ebpm run` start-up lean. The native addon stays a separate .node file.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry a hash of their content: without a clean, every build would leave the last one's chunks behind.
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  // The Wasm runtime's worker thread is its own entry: a Worker loads it by file name.
  entryPoints: { ebpm: 'src/cli/bin.ts', 'runtime-worker': 'src/runtime/worker.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Split so that what a command imports lazily (ink, react, the registry client) is
  // only parsed when that command runs.
  splitting: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  external: ['*.node', 'react-devtools-core'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
