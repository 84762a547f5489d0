// Start-up of `ebpm run` against another build of ebpm (the code before a change): time to the
// first event of sigsnoop, BPF-only and with its Wasm program, each started as users start it
// (bin/ebpm.js, from its start-up snapshot), this checkout and the other interleaved round by
// round, beside native libbpf-tools sigsnoop. Both builds must be built (`node scripts/build.mjs`
// in each, by the same node); NODE_EXTRA_CA_CERTS is unset for every peer.
//
//   sudo node bench/run-ab.mjs <other checkout> [runs]
import { execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { EBPM, firstEventRun, median, prepare, script, tools } from './run-common.mjs';
import { prepareWasm } from './run-wasm.mjs';

const [other, runs] = process.argv.slice(2);
if (!other) throw new Error('usage: node bench/run-ab.mjs <other checkout> [runs]');
const OTHER = join(resolve(other), 'bin', 'ebpm.js');
const RUNS = Number(runs ?? 21);

const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const { work, layout } = prepare();
const wasmLayout = prepareWasm(work);
const target = spawn('sleep', ['3600']);
const marker = script(work, 'ebpm-marker', `while kill -28 ${target.pid}; do sleep 0.002; done`);
marker.stdin.end('go\n');
const pid = String(marker.pid);
const bpf = (bin) => ({ cmd: bin, args: ['run', layout, '--filtered-pid', pid], env });
const wasm = (bin) => ({ cmd: bin, args: ['run', wasmLayout, '--', '-p', pid], env });
const peers = {
  'sigsnoop (libbpf-tools)': tools(layout, pid).sigsnoop,
  'BPF-only, this checkout': bpf(EBPM),
  'BPF-only, the other': bpf(OTHER),
  'Wasm, this checkout': wasm(EBPM),
  'Wasm, the other': wasm(OTHER),
};
try {
  // Both snapshots in use, or the comparison is of something else.
  for (const bin of [EBPM, OTHER])
    console.log(
      `${bin}: ${execFileSync(bin, ['version'], { env, encoding: 'utf8' })
        .split('\n')
        .find((l) => /snapshot/.test(l))}`,
    );
  const times = Object.fromEntries(Object.keys(peers).map((name) => [name, []]));
  // Every other round in reverse order: no build always runs right after the other.
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? Object.entries(peers) : Object.entries(peers).reverse();
    for (const [name, tool] of order) times[name].push((await firstEventRun(tool, 'ebpm-marker')).ms);
  }
  const floor = median(times['sigsnoop (libbpf-tools)']);
  console.log(`time to first event, piped, median of ${RUNS} interleaved runs (ms)`);
  for (const [name, xs] of Object.entries(times)) {
    console.log(
      `  ${name.padEnd(26)} ${median(xs).toFixed(1).padStart(7)}  min ${Math.min(...xs)
        .toFixed(1)
        .padStart(6)}  ×${(median(xs) / floor).toFixed(2)} native`,
    );
  }
  for (const kind of ['BPF-only', 'Wasm']) {
    console.log(`${kind}: this checkout / the other = ${(median(times[`${kind}, this checkout`]) / median(times[`${kind}, the other`])).toFixed(3)}`);
  }
} finally {
  marker.kill();
  target.kill();
}
