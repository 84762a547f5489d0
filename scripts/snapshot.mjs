// Builds the start-up snapshots, dist/ebpm.blob, `ls`'s dist/ebpm-ls.blob and `push`'s
// dist/ebpm-push.blob, from the bundles scripts/build.mjs leaves in dist/chunks/
// (ebpm-snapshot.cjs, ebpm-ls.cjs, ebpm-push.cjs), for the node
// running this script, and stamps them for bin/ebpm.js; and V8 code caches of the bundle the run's
// snapshot loads lazily and of the Wasm guest's thread (dist/*.cache). It needs nothing but
// node: where dist/ was built elsewhere (a container image, an installed package), running this
// there gives that node snapshots of its own.
import { execFileSync, spawnSync } from 'node:child_process';
import { realpathSync, rmSync, writeFileSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url).pathname;
const stamp = `${dist}ebpm.blob.node`;
// No stamp while the snapshot is rewritten: bin/ebpm.js takes the ESM bundle meanwhile.
rmSync(stamp, { force: true });
// V8 flags of the snapshot's build, which every start from it must repeat (another set: Node exits
// 14); the stamp below names them for bin/ebpm.js.
// --no-rehash-snapshot: V8 keeps the string hash seed this build drew instead of rehashing every
// string and table of the snapshot at each start, the largest part of deserialising it (about
// 5 ms of `ebpm ls`'s 45, bench/README.md), in the main thread and again in a Wasm guest's,
// whose thread deserialises the same heap. The seed is then one per build, drawn at random
// here, not one per process: hash flooding would need this machine's blob.
// --no-sparkplug: no baseline compiler; a run's peak RSS is 1 MB lower (its code and the pages of
// node it touches) with no loss in first-event time or event cost (bench/README.md).
// --liftoff-only: a Wasm program's code stays the baseline compiler's. TurboFan's compile of its
// hot functions (wasi-libc's printf) took 7-8 MB of peak RSS, a seventh of a Wasm run's; events
// then cost about 15% more CPU, less than with the guest in a worker before (bench/README.md).
const V8_FLAGS = ['--no-rehash-snapshot', '--no-sparkplug', '--liftoff-only'];
// Node warns about builtins it has not verified in snapshots; the tests run ebpm from these.
// Three snapshots: the run's, which every command but `ls`, `push` and `agent` starts from, and
// `ls`'s and `push`'s own.
for (const [blob, bundle] of [
  ['ebpm.blob', 'chunks/ebpm-snapshot.cjs'],
  ['ebpm-ls.blob', 'chunks/ebpm-ls.cjs'],
  ['ebpm-push.blob', 'chunks/ebpm-push.cjs'],
]) {
  const made = spawnSync(process.execPath, [...V8_FLAGS, '--snapshot-blob', `${dist}${blob}`, '--build-snapshot', `${dist}${bundle}`], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`the start-up snapshot ${blob} was not built (exit code ${made.status}):\n${made.stderr}`);
}
// V8 code caches of the two bundles ebpm compiles itself, each one function expression: the
// lazily loaded code (scripts/build.mjs) and the Wasm guest's thread (src/runtime/worker-entry.ts).
// V8 refuses a cache of another V8, of another text or of other V8 flags, and compiles anew: they
// are made by a node started with the snapshot's flags, as every start from it is.
const cached = spawnSync(
  process.execPath,
  [
    ...V8_FLAGS,
    '-e',
    `const { readFileSync, writeFileSync } = require('node:fs');
const { Script } = require('node:vm');
const [dist, ...pairs] = process.argv.slice(1);
for (let i = 0; i < pairs.length; i += 2) {
  const file = dist + pairs[i];
  writeFileSync(dist + pairs[i + 1], new Script(readFileSync(file, 'utf8'), { filename: file }).createCachedData());
}`,
    dist,
    'chunks/ebpm-lazy.cjs',
    'ebpm-lazy.cache',
    'runtime-worker.cjs',
    'runtime-worker.cache',
  ],
  { encoding: 'utf8' },
);
if (cached.status !== 0) throw new Error(`the code caches were not made (exit code ${cached.status}):\n${cached.stderr}`);
// A snapshot loads only in the node that built it, started with the same V8 flags (otherwise it
// exits 14): bin/ebpm.js uses it when the node it finds is this file (the stamp's first line)
// with this modification time (the stamp's own, copied with touch -r, to the nanosecond), and
// starts it with the flags of its second line.
const node = realpathSync(process.execPath);
writeFileSync(stamp, `${node}\n${V8_FLAGS.join(' ')}\n`);
execFileSync('touch', ['-r', node, stamp]);
