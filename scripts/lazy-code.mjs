// How the start-up snapshot loads dist/chunks/ebpm-lazy.cjs (scripts/build.mjs): as a CommonJS
// module's function, compiled by vm with the V8 code cache scripts/snapshot.mjs makes for the
// node that runs it, dist/ebpm-lazy.cache (V8 refuses a cache of another V8 and compiles anew).
// Both take the function's text from here: a cache is only taken for the very same source.
export const LAZY_HEAD = '(function (exports, require, module, __filename, __dirname) {';
export const LAZY_TAIL = '\n})';
