/**
 * The entry of `ebpm push`'s own start-up snapshot (scripts/build.mjs bundles it whole,
 * bin/ebpm.js starts `ebpm push` from it). From the run's snapshot, a push first loaded and
 * linked the lazy bundle and then compiled every function it called; this one holds the CLI's
 * dispatch over `push` alone, with the push's code compiled while it is built: the sample package
 * pushed to the embedded registry, and to a stand-in for a remote one (snapshot-registry.ts).
 * Nothing evaluated here may keep anything of the process (environment, arguments, pid, time)
 * from its load: that would be the build's.
 */
import { parseArgs } from 'node:util';
import { startupSnapshot } from 'node:v8';
import { pushAll } from '../api/push.js';
import { openContext } from '../api/context.js';
import push from './commands/push.js';
import { dispatcher } from './dispatch.js';
import { memoryRegistry } from './snapshot-registry.js';
import { warmIn } from './snapshot-sandbox.js';
import { start } from './start.js';

// node:util loads parseArgs, which `push` calls, on first use: asked for here, it is in the snapshot.
if (typeof parseArgs !== 'function') throw new Error('node:util has no parseArgs');

const main = dispatcher({ push: async () => ({ default: push }) });

// The snapshot is written once this settles (node runs the event loop to its end first); a
// rejection fails the build.
void warmIn(async ({ layout, io, output }) => {
  // The command, to the embedded registry (EBPM_LOCAL_REGISTRY, in the sandbox).
  const code = await main(['push', layout], io);
  if (code !== 0 || !output().startsWith('pushed ')) throw new Error(`the push snapshot's sample was not pushed (exit code ${code}): ${output()}`);
  // The registry client's way, to a registry in memory.
  const ctx = await openContext({ ...io.env, EBPM_REGISTRY: 'registry.invalid/warm' }, { wire: memoryRegistry() });
  const [remote] = await pushAll(ctx, [{ path: layout }]);
  if (remote?.status !== 'fulfilled') throw new Error(`the push snapshot's sample was not pushed to a registry: ${String(remote?.reason)}`);
});

startupSnapshot.setDeserializeMainFunction(() => {
  void start(process.argv.slice(2), main);
});
