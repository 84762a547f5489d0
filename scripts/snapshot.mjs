// Builds the start-up snapshot, dist/ebpm.blob, from the bundle scripts/build.mjs leaves in
// dist/chunks/ebpm-snapshot.cjs, for the node running this script, and stamps it for
// bin/ebpm.js; and the V8 code cache of the bundle the snapshot loads lazily,
// dist/ebpm-lazy.cache (scripts/lazy-code.mjs). It needs nothing but node: where dist/ was built
// elsewhere (a container image, an installed package), running this there gives that node a
// snapshot of its own.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
import { LAZY_HEAD, LAZY_TAIL } from './lazy-code.mjs';

const dist = new URL('../dist/', import.meta.url).pathname;
const stamp = `${dist}ebpm.blob.node`;
// No stamp while the snapshot is rewritten: bin/ebpm.js takes the ESM bundle meanwhile.
rmSync(stamp, { force: true });
// Node warns about builtins it has not verified in snapshots; the tests run ebpm from this one.
const made = spawnSync(process.execPath, ['--snapshot-blob', `${dist}ebpm.blob`, '--build-snapshot', `${dist}chunks/ebpm-snapshot.cjs`], {
  encoding: 'utf8',
});
if (made.status !== 0) throw new Error(`the start-up snapshot was not built (exit code ${made.status}):\n${made.stderr}`);
// Compiled, and its top level run (the functions that ran are cached compiled too), as the
// snapshot's code compiles and runs it.
const lazy = `${dist}chunks/ebpm-lazy.cjs`;
const script = new Script(LAZY_HEAD + readFileSync(lazy, 'utf8') + LAZY_TAIL, { filename: lazy });
const loaded = { exports: {} };
script.runInThisContext()(loaded.exports, createRequire(lazy), loaded, lazy, `${dist}chunks`);
writeFileSync(`${dist}ebpm-lazy.cache`, script.createCachedData());
// A snapshot loads only in the node that built it (another exits 14): bin/ebpm.js uses it when
// the node it finds is this file (named in the stamp) with this modification time (the stamp's
// own, copied with touch -r, to the nanosecond).
const node = realpathSync(process.execPath);
writeFileSync(stamp, `${node}\n`);
execFileSync('touch', ['-r', node, stamp]);
