// `npm run bench`: the `ebpm run` benchmarks side by side with their peers (bench/README.md).
// Other benchmark families add their entry points here.
import { benchFirstEvent } from './run-first-event.mjs';
import { benchEventCost } from './run-event-cost.mjs';
import { benchWasm } from './run-wasm.mjs';

await benchFirstEvent();
console.log();
await benchEventCost();
console.log();
await benchWasm();
