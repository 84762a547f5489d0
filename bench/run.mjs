// `npm run bench`: every benchmark, each running its peers side by side with ebpm
// (bench/README.md): `ebpm run` against libbpf-tools and bpftrace, the Wasm runtime against
// native sigsnoop, start-up and footprint on a pipe and a terminal, and the registry transfers
// (with where a 64 MiB push and pull spend their time) and search against skopeo.
import { benchFirstEvent } from './run-first-event.mjs';
import { benchEventCost } from './run-event-cost.mjs';
import { benchWasm } from './run-wasm.mjs';
import { benchStartup } from './run-startup.mjs';
import { benchRegistryTransfer } from './registry-transfer.mjs';
import { benchRegistryPhases } from './registry-phases.mjs';
import { benchRegistrySearch } from './registry-search.mjs';

await benchFirstEvent();
console.log();
await benchEventCost();
console.log();
await benchWasm();
console.log();
await benchStartup();
console.log();
await benchRegistryTransfer(5);
console.log();
await benchRegistryPhases(5);
console.log();
await benchRegistrySearch();
