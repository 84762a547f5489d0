// @ts-check
// ebpm from a program: pull a package from its registry, run it, read its decoded events.
//
//   sudo node examples/api/opensnoop.mjs <registry>/opensnoop:2.0.0 [count]
//
// It runs opensnoop on its own process, tries to open a file that is not there `count` times
// (default 3), and prints one line per event, then how the run ended. The registry, store and trust policy are
// those the `ebpm` command uses (EBPM_REGISTRY, EBPM_STORE, …).
import { readFileSync } from 'node:fs';
import { isEbpmError, openEbpm } from 'ebpm';

const [reference, countText = '3'] = process.argv.slice(2);
if (reference === undefined) {
  console.error('usage: node examples/api/opensnoop.mjs <reference> [count]');
  process.exit(2);
}
const count = Number(countText);

try {
  const ebpm = await openEbpm();
  const pulled = await ebpm.pull(reference);
  console.log(`pulled ${pulled.reference}`);
  // Parameters by their flag names, as `ebpm run opensnoop --pid <pid>` takes them.
  const run = await ebpm.run(pulled.reference, { params: { pid: process.pid }, maxEvents: count });
  console.log(`running ${run.name} ${run.version}`);
  for (let i = 0; i < count; i++) {
    try {
      readFileSync(`/nonexistent/ebpm-example-${i}`);
    } catch {
      // ENOENT: the event is what matters.
    }
  }
  for await (const e of run.events) {
    if (e.kind === 'event') console.log(`${e.data.comm} ${e.data.fname}: ${Number(e.data.ret)}`);
  }
  const end = await run.done;
  console.log(`stopped (${end.stop.kind})${end.kind === 'bpf' ? ` after ${end.events} events` : ''}`);
} catch (e) {
  if (!isEbpmError(e)) throw e;
  console.error(`${e.code}: ${e.message}${e.hint === undefined ? '' : `\nhint: ${e.hint}`}`);
  process.exit(1);
}
