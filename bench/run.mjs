// `npm run bench`: every benchmark, each running its peers side by side with ebpm
// (bench/README.md): `ebpm run` against libbpf-tools and bpftrace, the Wasm runtime against
// native sigsnoop, and the registry transfers and search against skopeo.
import { benchFirstEvent } from './run-first-event.mjs';
import { benchEventCost } from './run-event-cost.mjs';
import { benchWasm } from './run-wasm.mjs';
import { benchRegistryTransfer } from './registry-transfer.mjs';
import { benchRegistrySearch } from './registry-search.mjs';

await benchFirstEvent();
console.log();
await benchEventCost();
console.log();
await benchWasm();
console.log();
await benchRegistryTransfer(5);
console.log();
await benchRegistrySearch();
