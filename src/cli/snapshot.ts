/**
 * The entry of the start-up snapshot (scripts/build.mjs builds it, bin/ebpm.js starts every
 * command but `agent` and `ls` from it; `ls` has one of its own, snapshot-ls.ts): the modules
 * that a run of an ebpm package loads before its first event (from a directory, a layout or the
 * store, by reference), lazily imported ones included, are evaluated when the snapshot is built,
 * so a run starts with them in its heap.
 * Only these, and the Wasm runtime, which cannot be evaluated in a snapshot (Atomics are missing
 * while it is built), are in its bundle: every start deserialises all of it. What else the code
 * imports loads from a second bundle when first imported (scripts/build.mjs). Nothing evaluated
 * here may keep anything of the process (environment, arguments, pid, time) from its load: that
 * would be the build's.
 */
import { parseArgs } from 'node:util';
import { startupSnapshot } from 'node:v8';
// First: evaluated in this order, the snapshot keeps about 100 KB less compiled code of the
// modules' initialisers, which no run calls again (measured: isolate data 1.95 -> 1.85 MB), and
// every start, a Wasm guest's thread too, deserialises less.
import '../api/run.js';
import { warmRun } from './snapshot-warm.js';
import { main } from './main.js';
import { start } from './start.js';
import './commands/run.js';
import '../api/sources.js';
import '../api/pull.js';
import './dist.js';
import '../api/trust.js';
import '../sign/policy.js';
import '../api/resolve.js';
import '../core/arch.js';
import '../bpf/object.js';
import '../package/event-type.js';
import '../kernel/preflight.js';
import '../api/check.js';
import '../kernel/kernel-facts.js';
import '../core/phases.js';

// node:util loads parseArgs, which every command calls, on first use: asked for here, it is in
// the snapshot (a bare `void parseArgs` would be dropped by the bundler).
if (typeof parseArgs !== 'function') throw new Error('node:util has no parseArgs');

// The snapshot is written once this settles (node runs the event loop to its end first); a
// rejection fails the build.
void warmRun();

startupSnapshot.setDeserializeMainFunction(() => {
  void start(process.argv.slice(2), main);
});
