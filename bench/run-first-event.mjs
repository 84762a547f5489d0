// Benchmark 1: time to first event. A marker process keeps sending SIGWINCH to a sleeping
// target; each tracer is launched and timed until it prints the marker's event. ebpm runs its
// stored package (no network, no compile), with and without NODE_EXTRA_CA_CERTS (which makes
// every Node start-up read a CA bundle here), beside libbpf-tools' sigsnoop and bpftrace.
//
//   sudo node bench/run-first-event.mjs [runs]
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { firstEventRun, median, prepare, script, tools } from './run-common.mjs';

const RUNS = Number(process.argv[2] ?? 10);

/** Launches `tool` on a pipe and resolves with the milliseconds until a stdout line contains `marker`. */
export async function firstEvent(tool, marker) {
  return (await firstEventRun(tool, marker)).ms;
}

export async function benchFirstEvent(runs = RUNS) {
  const { work, layout } = prepare();
  const target = spawn('sleep', ['3600']);
  const marker = script(work, 'ebpm-marker', `while kill -28 ${target.pid}; do sleep 0.002; done`);
  marker.stdin.end('go\n');
  const all = tools(layout, marker.pid);
  const noCa = { ...process.env };
  delete noCa.NODE_EXTRA_CA_CERTS;
  const peers = {
    'ebpm (NODE_EXTRA_CA_CERTS set)': {
      ...all.ebpm,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '/etc/ssl/certs/ca-certificates.crt' },
    },
    'ebpm (without NODE_EXTRA_CA_CERTS)': { ...all.ebpm, env: noCa },
    'sigsnoop (libbpf-tools)': all.sigsnoop,
    bpftrace: all.bpftrace,
  };
  const results = {};
  try {
    // Interleaved, so drift in machine load hits every tool alike.
    for (let i = 0; i < runs; i++) {
      for (const [name, tool] of Object.entries(peers)) {
        results[name] ??= [];
        results[name].push(await firstEvent(tool, 'ebpm-marker'));
      }
    }
  } finally {
    marker.kill();
    target.kill();
    rmSync(work, { recursive: true, force: true });
  }
  const floor = median(results['sigsnoop (libbpf-tools)']);
  console.log(`time to first event, median of ${runs} runs (ms)`);
  for (const [name, xs] of Object.entries(results)) {
    console.log(
      `  ${name.padEnd(36)} ${median(xs).toFixed(1).padStart(8)}  min ${Math.min(...xs)
        .toFixed(1)
        .padStart(7)}  ×${(median(xs) / floor).toFixed(2)} native`,
    );
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFirstEvent();
