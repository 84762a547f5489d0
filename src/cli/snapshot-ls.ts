/**
 * The entry of `ebpm ls`'s own start-up snapshot (scripts/build.mjs bundles it whole,
 * bin/ebpm.js starts `ebpm ls` from it). Every start deserialises all a snapshot holds: `ls`
 * from the run's snapshot paid for the run path's heap, about 6 ms of its 38. This one holds the
 * CLI's dispatch over `ls` alone, and `ls` listing the sample package, compiled while it is
 * built (snapshot-sandbox.ts). Nothing evaluated here may keep anything of the process
 * (environment, arguments, pid, time) from its load: that would be the build's.
 */
import { parseArgs } from 'node:util';
import { startupSnapshot } from 'node:v8';
import ls from './commands/ls.js';
import { dispatcher } from './dispatch.js';
import { SAMPLE_REFERENCE, warmIn } from './snapshot-sandbox.js';
import { start } from './start.js';

// node:util loads parseArgs, which `ls` calls, on first use: asked for here, it is in the snapshot.
if (typeof parseArgs !== 'function') throw new Error('node:util has no parseArgs');

const main = dispatcher({ ls: async () => ({ default: ls }) });

// The snapshot is written once this settles (node runs the event loop to its end first); a
// rejection fails the build.
void warmIn(async ({ io, output, storeSample }) => {
  await storeSample();
  const code = await main(['ls'], io);
  if (code !== 0 || !output().includes(SAMPLE_REFERENCE)) throw new Error(`the ls snapshot's store did not list its sample (exit code ${code}): ${output()}`);
});

startupSnapshot.setDeserializeMainFunction(() => {
  void start(process.argv.slice(2), main);
});
