// Bundles the CLI: Node then loads a few files instead of hundreds,
// which keeps `ebpm run` start-up lean. The native addon stays a separate .node file.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
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
  external: ['*.node'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
};

await Promise.all([
  build({
    ...common,
    // `index` is the library (package.json "exports"), sharing the CLI's chunks.
    entryPoints: {
      ebpm: 'src/cli/bin.ts',
      index: 'src/api/index.ts',
    },
    chunkNames: 'chunks/[name]-[hash]',
    // Split so that what a command imports lazily (the registry client, signing, building) is
    // only parsed when that command runs.
    splitting: true,
  }),
  // The Wasm runtime's worker thread is its own entry, which a new isolate loads on every Wasm
  // run: one CommonJS file, no shared chunks to resolve and read, and no ESM loader, whose
  // import of a builtin (node:crypto, node:fs) also loads everything the builtin exports lazily.
  // Minified but for names, as the snapshot's bundle (below): without comments it is ASCII,
  // which V8 compiles in half the time. Its text is one function expression, which
  // src/runtime/worker-entry.ts compiles with the V8 code cache scripts/snapshot.mjs makes.
  build({
    ...common,
    entryPoints: { 'runtime-worker': 'src/runtime/worker.ts' },
    minifyWhitespace: true,
    minifySyntax: true,
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    define: { 'import.meta.url': '__import_meta_url' },
    banner: { js: "(function (require, __filename) {'use strict'; const __import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    footer: { js: '})' },
  }),
]);

// The start-up snapshot that bin/ebpm.js starts commands from: one CommonJS bundle of
// src/cli/snapshot.ts, in dist/chunks/ as the ESM bundle's modules are (paths they compute
// from import.meta.url, such as the addon's, the worker's and include/, are then right in
// both), evaluated by `node --build-snapshot` (scripts/snapshot.mjs). Every start deserialises
// all the snapshot holds, so it holds only what snapshot.ts imports (a run's path, by path or
// stored reference, and `ls`) and the Wasm runtime (which a snapshot cannot evaluate, but a
// Wasm run then needs no other file). What else the code imports with import() (the other commands, the
// registry client, signing, building, --follow, help) is a second CommonJS bundle,
// dist/chunks/ebpm-lazy.cjs, loaded by the first such import() (its text is one function
// expression, compiled with the V8 code cache scripts/snapshot.mjs makes). Its modules import the
// snapshot's own instances of what both use (one EbpmError, one phase recorder): such imports
// are of `__ebpmCore`, the table of the snapshot's modules that it hands the lazy bundle.
// A snapshot has no import() of its own: the bundle's go through vm.
// A module's key: its path in the repository, or where it really is (node_modules linked from elsewhere).
const root = `${process.cwd()}/`;
const key = (path) => (path.startsWith(root) ? path.slice(root.length) : path);
const bundle = 'dist/chunks/ebpm-snapshot.cjs';
const cjs = {
  ...common,
  // Source text is kept in the snapshot, which Node reads at every start: without comments it is
  // smaller, and ASCII (one byte a character). Names are kept, for stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  metafile: true,
};
/**
 * The modules that stay in the snapshot's bundle when the code import()s them, evaluated only
 * then: the Wasm runtime's entry, and what reads a bare `.wasm` or `.bpf.o` given to `ebpm run`
 * (without them such a run loaded the lazy bundle first).
 */
const kept = new Set(['src/api/run-wasm.ts', 'src/package/loose.ts', 'src/kernel/tracepoint-format.ts']);

/**
 * `snapshotBundle` bundles snapshot.ts, every import() of a module outside `core` (all, when
 * undefined) left as `import("ebpm-lazy:<key>")`, and `shared`'s modules put in `__ebpmCore`.
 * Returns the keys of the modules in the bundle and those left to the lazy one.
 */
async function snapshotBundle(core, shared = []) {
  const lazy = new Set();
  const result = await build({
    ...cjs,
    entryPoints: { 'chunks/ebpm-snapshot': 'src/cli/snapshot.ts' },
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
  core: undefined,
  modules: undefined,
  lazy(key) {
    if (this.modules === undefined) {
      const { readFileSync } = require('node:fs');
      const { dirname } = require('node:path');
      const vm = require('node:vm');
      const file = require('node:url').fileURLToPath(new URL('ebpm-lazy.cjs', this.url));
      let cachedData;
      try {
        cachedData = readFileSync(new URL('../ebpm-lazy.cache', this.url));
      } catch {}
      const module = { exports: {} };
      new vm.Script(readFileSync(file, 'utf8'), { filename: file, cachedData }).runInThisContext()(module.exports, require('node:module').createRequire(file), module, file, dirname(file));
      module.exports.link(this.core(), (file) => this.import(file));
      this.modules = module.exports.modules;
    }
    return this.modules[key]();
  },
};`,
    },
    plugins: [
      {
        name: 'lazy-imports',
        setup(b) {
          b.onResolve({ filter: /.*/ }, async (args) => {
            if (args.kind !== 'dynamic-import' || args.pluginData === 'resolving') return undefined;
            const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
            if (r.errors.length > 0 || r.external) return undefined;
            const k = key(r.path);
            if (kept.has(k) || core?.has(k)) return { path: r.path };
            lazy.add(k);
            return { path: `ebpm-lazy:${k}`, external: true };
          });
        },
      },
      {
        // The table is a module of its own, required by the first import() of the lazy bundle.
        // Each entry evaluates its module when the lazy bundle first asks for it (a require of
        // an ES module is its evaluation and exports in esbuild's bundle): evaluating them all
        // at once, the Wasm runtime's among them, cost every lazily loaded command about 2 ms.
        name: 'core-table',
        setup(b) {
          b.onResolve({ filter: /^ebpm:core$/ }, () => ({ path: 'core', namespace: 'ebpm-core' }));
          b.onLoad({ filter: /.*/, namespace: 'ebpm-core' }, () => {
            const table = shared.map((k, i) => `  get ${JSON.stringify(k)}() { return (m[${i}] ??= require(${JSON.stringify(resolve(root, k))})); },`);
            return { contents: `const m = [];\nexport const core = {\n${table.join('\n')}\n};\n`, loader: 'js', resolveDir: root };
          });
          b.onLoad({ filter: /\/src\/cli\/snapshot\.ts$/ }, (args) => ({
            contents: `${readFileSync(args.path, 'utf8')}\n__ebpm.core = () => require('ebpm:core').core;\n`,
            loader: 'ts',
          }));
        },
      },
    ],
  });
  return { core: new Map(Object.entries(result.metafile.inputs).map(([path, input]) => [key(path), input.format])), lazy };
}

/** `exportNames` lists what the ES module at `path` exports. */
async function exportNames(path) {
  // Bundled, for the names of its `export *`s; packages stay out: no module of ours re-exports one.
  const result = await build({ ...common, entryPoints: [path], write: false, metafile: true, packages: 'external' });
  return Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined).exports;
}

/**
 * `lazyBundle` bundles the modules of `lazy` into dist/chunks/ebpm-lazy.cjs, whose `modules`
 * import()s them by key; its imports of `core`'s modules are of `__ebpmCore`, handed over by
 * `link`. Returns the keys of the core modules it imports.
 */
async function lazyBundle(lazy, core) {
  const shared = new Set();
  const entry = [...lazy].map((k) => `  ${JSON.stringify(k)}: () => import(${JSON.stringify(resolve(root, k))}),`).join('\n');
  await build({
    ...cjs,
    stdin: {
      contents: `export const link = (core, load) => { __ebpmCore = core; __ebpmImport = load; };\nexport const modules = {\n${entry}\n};\n`,
      resolveDir: root,
      sourcefile: 'ebpm-lazy.mjs',
    },
    outfile: 'dist/chunks/ebpm-lazy.cjs',
    outdir: undefined,
    define: { 'import.meta.url': '__ebpm_url' },
    banner: {
      js: "(function (exports, require, module, __filename, __dirname) {'use strict'; var __ebpmCore, __ebpmImport; const __ebpm_url = require('node:url').pathToFileURL(__filename).href;",
    },
    footer: { js: '})' },
    plugins: [
      {
        name: 'core-modules',
        setup(b) {
          b.onResolve({ filter: /.*/ }, async (args) => {
            if (args.pluginData === 'resolving' || args.kind === 'entry-point') return undefined;
            const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
            if (r.errors.length > 0 || r.external || !core.has(key(r.path))) return undefined;
            shared.add(key(r.path));
            return { path: key(r.path), namespace: 'ebpm-core' };
          });
          // A CommonJS module is its exports object; an ES module's names are exported one by one
          // (none of the snapshot's is reassigned after it is evaluated), its default as a default.
          b.onLoad({ filter: /.*/, namespace: 'ebpm-core' }, async (args) => {
            const module = `__ebpmCore[${JSON.stringify(args.path)}]`;
            if (core.get(args.path) !== 'esm') return { contents: `module.exports = ${module};`, loader: 'js' };
            const names = await exportNames(resolve(root, args.path));
            const named = names.filter((n) => n !== 'default');
            const lines = [
              `const m = ${module};`,
              `export const { ${named.join(', ')} } = m;`,
              ...(names.includes('default') ? ['export default m.default;'] : []),
            ];
            return { contents: lines.join('\n'), loader: 'js' };
          });
        },
      },
    ],
  });
  return [...shared].sort();
}

// Three passes: what the snapshot holds; the lazy bundle, sharing that; the snapshot with the
// table of what the lazy bundle shares.
const first = await snapshotBundle(undefined);
const shared = await lazyBundle(first.lazy, first.core);
const final = await snapshotBundle(first.core, shared);
if (final.core.size !== first.core.size) throw new Error(`${bundle}: the table of shared modules changed what the snapshot holds`);
// Every import() left is of a file or builtin outside the bundle: through vm; or of the lazy bundle.
const code = readFileSync(bundle, 'utf8')
  .replaceAll(/\bimport\("ebpm-lazy:([^"]+)"\)/g, '__ebpm.lazy("$1")')
  .replaceAll(/\bimport\(("[^"]+")\)/g, '__ebpm.import($1)');
writeFileSync(bundle, code);
/**
 * `requireBuiltins` turns a CommonJS bundle's import()s of builtins (node:http and node:https,
 * which only a registry needs) into requires: through vm, each would load the ESM loader, whose
 * import of a builtin also loads everything the builtin exports lazily.
 */
const requireBuiltins = (code) => code.replaceAll(/\bimport\(("node:[^"]+")\)/g, 'Promise.resolve(require($1))');
// The lazy bundle, compiled by vm, has no import() of its own either: through the snapshot's.
const lazyFile = 'dist/chunks/ebpm-lazy.cjs';
writeFileSync(lazyFile, requireBuiltins(readFileSync(lazyFile, 'utf8')).replaceAll(/\bimport\(("[^"]+")\)/g, '__ebpmImport($1)'));
// `ebpm ls`'s and `ebpm push`'s own start-up snapshots (src/cli/snapshot-ls.ts,
// snapshot-push.ts): each one CommonJS bundle of all its command may import, so that `ls` does
// not deserialise the run path's heap and `push` loads no lazy bundle. The import()s left are of
// builtins.
for (const command of ['ls', 'push']) {
  const file = `dist/chunks/ebpm-${command}.cjs`;
  await build({
    ...cjs,
    entryPoints: { [`chunks/ebpm-${command}`]: `src/cli/snapshot-${command}.ts` },
    define: { 'import.meta.url': '__ebpm.url' },
    banner: { js: "'use strict';\nvar __ebpm = { get url() { return require('node:url').pathToFileURL(process.argv[1]).href; } };" },
  });
  const code = requireBuiltins(readFileSync(file, 'utf8'));
  if (/\bimport\(/.test(code)) throw new Error(`${file}: an import() a snapshot cannot make is left`);
  writeFileSync(file, code);
}
await import('./snapshot.mjs');
// What bin/ebpm.js prints for `--version` without starting node; the CLI's own is main.ts's.
writeFileSync('dist/version', `${JSON.parse(readFileSync('package.json', 'utf8')).version}\n`);
// The man page (package.json "man"), from the same tables as `ebpm help`.
writeFileSync('dist/ebpm.1', execFileSync(process.execPath, ['bin/ebpm.js', 'help', '--man']));
