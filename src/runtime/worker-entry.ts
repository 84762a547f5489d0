/**
 * Where the guest worker's code is. The bundle (scripts/build.mjs) must build
 * `src/runtime/worker.ts` as its own entry point, `dist/runtime-worker.cjs`, one function
 * expression of `require` and `__filename`; this module is then in `dist/` or `dist/chunks/`.
 * Run from the TypeScript sources (tests, development), node 20 cannot load `.ts` in a worker,
 * so the worker registers a module hook that transpiles each file with esbuild (a
 * devDependency, present wherever the sources are).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { EbpmError } from '../core/errors.js';

/** Module hooks for `.ts` sources: `./x.js` resolves to `./x.ts`, loaded through esbuild. */
function tsHooks(esbuildPath: string): string {
  return `
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
const esbuild = createRequire(${JSON.stringify(esbuildPath)})(${JSON.stringify(esbuildPath)});
export async function resolve(spec, ctx, next) {
  if (spec.startsWith('.') && spec.endsWith('.js') && ctx.parentURL?.endsWith('.ts')) {
    const ts = new URL(spec.slice(0, -3) + '.ts', ctx.parentURL);
    if (existsSync(fileURLToPath(ts))) return { url: ts.href, shortCircuit: true };
  }
  return next(spec, ctx);
}
export async function load(url, ctx, next) {
  if (!url.endsWith('.ts')) return next(url, ctx);
  const path = fileURLToPath(url);
  const { code } = esbuild.transformSync(readFileSync(path, 'utf8'), { loader: 'ts', format: 'esm', sourcefile: path, target: 'node20', sourcemap: 'inline' });
  return { format: 'module', source: code, shortCircuit: true };
}`;
}

/** `WorkerSource` is what `new Worker(source, { eval })` needs to start the guest worker. */
export interface WorkerSource {
  readonly source: string | URL;
  readonly eval: boolean;
}

export function workerSource(): WorkerSource {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) {
    // The bundle's text is one function expression: compiled with the V8 code cache
    // scripts/snapshot.mjs makes for this node, when there is one V8 takes.
    const dist = here.includes('/chunks/') ? '../' : './';
    const file = JSON.stringify(fileURLToPath(new URL(`${dist}runtime-worker.cjs`, here)));
    const cache = JSON.stringify(fileURLToPath(new URL(`${dist}runtime-worker.cache`, here)));
    return {
      source: `const { readFileSync } = require('node:fs');
let cachedData;
try { cachedData = readFileSync(${cache}); } catch {}
new (require('node:vm').Script)(readFileSync(${file}, 'utf8'), { filename: ${file}, cachedData }).runInThisContext()(require, ${file});`,
      eval: true,
    };
  }
  let esbuild: string;
  try {
    esbuild = createRequire(here).resolve('esbuild');
  } catch (e) {
    throw new EbpmError('INTERNAL', 'start wasm worker from sources: esbuild is not installed', {
      cause: e,
      hint: 'run npm install, or use the bundle (npm run build)',
    });
  }
  const hooks = `data:text/javascript,${encodeURIComponent(tsHooks(esbuild))}`;
  const worker = new URL('./worker.ts', here).href;
  return { source: `require('node:module').register(${JSON.stringify(hooks)}); import(${JSON.stringify(worker)});`, eval: true };
}
