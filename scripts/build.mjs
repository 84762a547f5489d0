// Bundles the CLI: Node then loads a few files instead of hundreds,
// which keeps `ebpm run` start-up lean. The native addon stays a separate .node file.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    // The ink view is an entry of its own: the snapshot imports it from here (below).
    // `index` is the library (package.json "exports"), sharing the CLI's chunks.
    entryPoints: {
      ebpm: 'src/cli/bin.ts',
      'ebpm-live': 'src/cli/views/live.tsx',
      index: 'src/api/index.ts',
    },
    chunkNames: 'chunks/[name]-[hash]',
    // Split so that what a command imports lazily (ink, react, the registry client) is
    // only parsed when that command runs.
    splitting: true,
    jsx: 'automatic',
  }),
  // The Wasm runtime's worker thread is its own entry: a Worker loads it by file name. A new
  // isolate loads it on every Wasm run, so it is one CommonJS file: no shared chunks to resolve
  // and read, and no ESM loader, whose import of a builtin (node:crypto, node:fs) also loads
  // everything the builtin exports lazily. Minified but for names, as the snapshot's bundle
  // (below): without comments it is ASCII, which V8 compiles in half the time (1.4 ms, not 2.9).
  build({
    ...common,
    entryPoints: { 'runtime-worker': 'src/runtime/worker.ts' },
    minifyWhitespace: true,
    minifySyntax: true,
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    define: { 'import.meta.url': '__import_meta_url' },
    banner: { js: "'use strict'; const __import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  }),
]);

// The start-up snapshot that bin/ebpm.js starts commands from: one CommonJS bundle of
// src/cli/snapshot.ts, in dist/chunks/ as the ESM bundle's modules are (paths they compute
// from import.meta.url, such as the addon's, the worker's and include/, are then right in
// both), evaluated by `node --build-snapshot` (scripts/snapshot.mjs). ink has a top-level
// await, which CommonJS cannot load: the view that uses it stays ESM (the entry above). A
// snapshot has no import() of its own: the bundle's go through vm.
const views = { './views/live.js': '../ebpm-live.mjs' };
const bundle = 'dist/chunks/ebpm-snapshot.cjs';
await build({
  ...common,
  entryPoints: { 'chunks/ebpm-snapshot': 'src/cli/snapshot.ts' },
  // Source text is kept in the snapshot, which Node reads at every start: without comments it is
  // smaller, and ASCII (one byte a character). Names are kept, for stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // The bundle's file is argv[1] when it is built and when a run starts from it (bin/ebpm.js).
  define: { 'import.meta.url': '__ebpm.url' },
  // import() through vm's default loader, which Node 20 calls experimental: the warning it writes
  // once, at the call, is Node's business, not the user's.
  banner: {
    js: `'use strict';
var __ebpm = {
  get url() { return require('node:url').pathToFileURL(process.argv[1]).href; },
  import(file) {
    const vm = require('node:vm');
    const load = vm.compileFunction('return import(url)', ['url'], { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
    const warn = process.emitWarning;
    process.emitWarning = () => {};
    try { return load(new URL(file, __ebpm.url).href); } finally { process.emitWarning = warn; }
  },
};`,
  },
  plugins: [
    {
      name: 'ink-views-esm',
      setup(b) {
        b.onResolve({ filter: /\/views\/live\.js$/ }, (args) => {
          const file = views[args.path];
          return file === undefined ? undefined : { path: file, external: true };
        });
      },
    },
  ],
});
// Every import() left is of a file or builtin outside the bundle: through vm.
const code = readFileSync(bundle, 'utf8').replaceAll(/\bimport\(("[^"]+")\)/g, '__ebpm.import($1)');
for (const file of Object.values(views)) if (!code.includes(`__ebpm.import("${file}")`)) throw new Error(`${bundle}: ${file} is not imported`);
writeFileSync(bundle, code);
await import('./snapshot.mjs');
// What bin/ebpm.js prints for `--version` without starting node; the CLI's own is main.ts's.
writeFileSync('dist/version', `${JSON.parse(readFileSync('package.json', 'utf8')).version}\n`);
// The man page (package.json "man"), from the same tables as `ebpm help`.
writeFileSync('dist/ebpm.1', execFileSync(process.execPath, ['bin/ebpm.js', 'help', '--man']));
