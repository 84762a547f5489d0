// Benchmark 3: sigsnoop with its Wasm user space. `ebpm run` on the package built from
// examples/sigsnoop with main.c: every event goes through the guest's perf buffer callback and
// is printed by the guest (printf → fd_write → the host → ebpm's stdout). Beside it, in the same
// invocation: ebpm's BPF-only run of the same BPF object and Debian's native /usr/sbin/sigsnoop.
// Reported: time to first event (as run-first-event.mjs measures it; ebpm with and without
// NODE_EXTRA_CA_CERTS) and CPU per event (as run-event-cost.mjs measures it), with ratios
// against native.
//
//   sudo node bench/run-wasm.mjs [runs] [events]
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EBPM, REPO, median, prepare, script, tools } from './run-common.mjs';
import { buildGenerator, measure } from './run-event-cost.mjs';
import { firstEvent } from './run-first-event.mjs';

const RUNS = Number(process.argv[2] ?? 10);
const EVENTS = Number(process.argv[3] ?? 1_000_000);

/** Builds examples/sigsnoop, Wasm program included, into an OCI layout under `work`. */
export function prepareWasm(work) {
  const pkg = join(work, 'wasm', 'sigsnoop');
  cpSync(join(REPO, 'examples', 'sigsnoop'), pkg, { recursive: true, filter: (s) => !s.endsWith('/out') });
  execFileSync(process.execPath, [EBPM, 'build', pkg], { stdio: 'ignore' });
  return join(pkg, 'out');
}

/** The Wasm sigsnoop: its guest parses -p and -s itself, after `--`. */
export function wasmTool(layout, pid, { env = process.env, sig = 0 } = {}) {
  return { cmd: EBPM, args: ['run', layout, '--', '-p', String(pid), ...(sig ? ['-s', String(sig)] : [])], env };
}

const ratio = (x, floor) => `×${(x / floor).toFixed(2)} native`;

export async function benchWasm(runs = RUNS, events = EVENTS) {
  const { work, layout } = prepare();
  const wasmLayout = prepareWasm(work);
  const withCa = { ...process.env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '/etc/ssl/certs/ca-certificates.crt' };
  const noCa = { ...process.env };
  delete noCa.NODE_EXTRA_CA_CERTS;
  const target = spawn('sleep', ['3600']);
  try {
    // Time to first event: a marker sends SIGWINCH every 2 ms; interleaved runs.
    const marker = script(work, 'ebpm-marker', `while kill -28 ${target.pid}; do sleep 0.002; done`);
    marker.stdin.end('go\n');
    const peers = {
      'ebpm Wasm (NODE_EXTRA_CA_CERTS set)': wasmTool(wasmLayout, marker.pid, { env: withCa }),
      'ebpm Wasm (without NODE_EXTRA_CA_CERTS)': wasmTool(wasmLayout, marker.pid, { env: noCa }),
      'ebpm BPF-only (NODE_EXTRA_CA_CERTS set)': { ...tools(layout, marker.pid).ebpm, env: withCa },
      'ebpm BPF-only (without NODE_EXTRA_CA_CERTS)': { ...tools(layout, marker.pid).ebpm, env: noCa },
      'sigsnoop (libbpf-tools)': tools(layout, marker.pid).sigsnoop,
    };
    const first = {};
    try {
      for (let i = 0; i < runs; i++) {
        for (const [name, tool] of Object.entries(peers)) {
          first[name] ??= [];
          first[name].push(await firstEvent(tool, 'ebpm-marker'));
        }
      }
    } finally {
      marker.kill();
    }
    const floor = median(first['sigsnoop (libbpf-tools)']);
    console.log(`Wasm sigsnoop: time to first event, median of ${runs} runs (ms)`);
    for (const [name, xs] of Object.entries(first)) {
      console.log(
        `  ${name.padEnd(44)} ${median(xs).toFixed(1).padStart(8)}  min ${Math.min(...xs)
          .toFixed(1)
          .padStart(7)}  ${ratio(median(xs), floor)}`,
      );
    }

    // CPU per event: the generator's SIGWINCHes, each tool's output to a file.
    const genPath = buildGenerator(work);
    const rows = [];
    for (const name of ['ebpm Wasm', 'ebpm BPF-only', 'sigsnoop']) {
      const gen = spawn(genPath, [String(target.pid), String(events), '0'], { stdio: ['pipe', 'ignore', 'ignore'] });
      const peer = tools(layout, gen.pid, { sig: 28 });
      const tool =
        name === 'ebpm Wasm'
          ? wasmTool(wasmLayout, gen.pid, { sig: 28 })
          : name === 'ebpm BPF-only'
            ? peer.ebpm
            : { cmd: '/usr/sbin/sigsnoop', args: peer.sigsnoop.args.slice(2), env: process.env };
      rows.push(await measure(name.replace(/ /g, '-'), tool, gen, work, gen.pid, 2000, events));
    }
    const native = rows.find((r) => r.name === 'sigsnoop');
    const perSeen = (r) => (r.cpu / r.seen) * 1e9;
    console.log();
    console.log(`Wasm sigsnoop: event cost, ${events} signals, output to a file`);
    for (const r of rows) {
      console.log(
        `  ${r.name.padEnd(14)} cpu ${r.cpu.toFixed(2).padStart(6)} s  ${r.nsPerEvent.toFixed(0).padStart(6)} ns/event sent  ${ratio(r.nsPerEvent, native.nsPerEvent)}` +
          `  ${perSeen(r).toFixed(0).padStart(6)} ns/event seen  ${ratio(perSeen(r), perSeen(native))}  seen ${r.seen}  lost ${r.lost}`,
      );
    }
    return { first, rows };
  } finally {
    target.kill();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchWasm();
