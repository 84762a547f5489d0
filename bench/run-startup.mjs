// Benchmark 4: start-up and footprint (issue #15), in one interleaved run. Time to first event
// on a pipe and on a terminal (a pty of util-linux `script`, as a person runs it) for ebpm's
// BPF-only sigsnoop (from its layout, and by reference from the store) and Wasm sigsnoop (also
// with --duration) beside libbpf-tools' sigsnoop and bpftrace, with each tracer's
// peak RSS; the wall time of `node -e 0` (and of Node's start from an empty start-up snapshot
// and with an empty Worker), `ebpm --version` and `ebpm ls` (an empty store); and
// where ebpm's time to first event goes, BPF-only and Wasm, phase by phase (EBPM_TRACE_STARTUP=1).
// Everything runs without NODE_EXTRA_CA_CERTS, which costs every Node start 25-50 ms here.
//
//   sudo node bench/run-startup.mjs [runs] [--against <checkout>]
//
// `--against` adds the ebpm of another checkout (built: its bin/ebpm.js and dist/) to every
// measurement, run on the same packages, so a change is measured against the code before it.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EBPM, exited, firstEventRun, median, prepare, prepareStored, script, timed, tools } from './run-common.mjs';
import { prepareWasm, wasmTool } from './run-wasm.mjs';

/** Milliseconds each tracer keeps running after its first event: the terminal's live view takes over in that time. */
const HOLD_MS = 500;

const args = process.argv.slice(2);
const againstAt = args.indexOf('--against');
const AGAINST = againstAt < 0 ? undefined : args.splice(againstAt, 2)[1];
const RUNS = Number(args[0] ?? 10);

const fixed = (x, digits = 1) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits));
const ratio = (x, floor) => `×${(x / floor).toFixed(2)}`;

/** `phases` reads the `phase <name> <ms>` lines of EBPM_TRACE_STARTUP out of a run's output. */
function phases(output) {
  return new Map([...output.matchAll(/phase (\S+) ([\d.]+)\r?\n/g)].map((m) => [m[1], Number(m[2])]));
}

export async function benchStartup(runs = RUNS, against = AGAINST) {
  const { work, layout } = prepare();
  const wasmLayout = prepareWasm(work);
  const stored = prepareStored(work);
  const env = { ...process.env, EBPM_TRACE_STARTUP: '1' };
  delete env.NODE_EXTRA_CA_CERTS;
  const ebpms = { ebpm: EBPM, ...(against === undefined ? {} : { [`ebpm of ${against}`]: join(against, 'bin', 'ebpm.js') }) };
  const target = spawn('sleep', ['3600']);
  const marker = script(work, 'ebpm-marker', `while kill -28 ${target.pid}; do sleep 0.002; done`);
  marker.stdin.end('go\n');
  try {
    // Time to first event, peak RSS and phases: every tracer on a pipe and on a terminal, interleaved.
    const peer = tools(layout, marker.pid, { env });
    const tracers = {
      'sigsnoop (libbpf-tools)': { pipe: peer.sigsnoop, pty: { cmd: '/usr/sbin/sigsnoop', args: peer.sigsnoop.args.slice(2), env } },
      bpftrace: { pipe: peer.bpftrace, pty: peer.bpftrace },
    };
    for (const [name, bin] of Object.entries(ebpms)) {
      const bpf = { ...peer.ebpm, cmd: bin };
      const wasm = { ...wasmTool(wasmLayout, marker.pid, { env }), cmd: bin };
      // By reference, from the store, as an operator runs it (`ebpm run sigsnoop:1.2.0`).
      const byRef = { ...bpf, args: ['run', stored.ref, ...bpf.args.slice(2)], env: { ...env, ...stored.storeEnv } };
      tracers[`${name} BPF-only`] = { pipe: bpf, pty: bpf };
      tracers[`${name} BPF-only, stored`] = { pipe: byRef, pty: byRef };
      tracers[`${name} Wasm`] = { pipe: wasm, pty: wasm };
      // With --duration, as the README's quick start runs it (a worker thread before the addon timed it).
      const timed = { ...wasm, args: [...wasm.args.slice(0, 2), '--duration', '60', ...wasm.args.slice(2)] };
      tracers[`${name} Wasm, --duration`] = { pipe: timed, pty: timed };
    }
    const first = Object.fromEntries(Object.keys(tracers).map((name) => [name, { pipe: [], pty: [] }]));
    for (let i = 0; i < runs; i++) {
      for (const [name, modes] of Object.entries(tracers)) {
        for (const mode of ['pipe', 'pty']) {
          const r = await firstEventRun(modes[mode], 'ebpm-marker', { pty: mode === 'pty', holdMs: HOLD_MS });
          first[name][mode].push(r);
        }
      }
    }

    // Small commands: wall time, interleaved, against Node's own start.
    const home = join(work, 'home');
    mkdirSync(home);
    // Root's store is /var/lib/ebpm/store: an empty one of its own instead.
    // Without EBPM_TRACE_STARTUP: tracing loads a module of its own, which --version would pay.
    const { EBPM_TRACE_STARTUP: _, ...untraced } = env;
    const small = { ...untraced, HOME: home, EBPM_STORE: join(home, 'store'), XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache') };
    delete small.EBPM_CONFIG;
    delete small.EBPM_TRUST_POLICY;
    // Node's own floors beside `node -e 0`: a start from a user snapshot holding nothing of
    // ebpm's (what any start-up snapshot costs), and a process whose one empty Worker comes online
    // (what a Wasm guest's thread costs before it runs anything of ebpm's).
    const emptySnapshot = join(work, 'empty.blob');
    writeFileSync(join(work, 'empty.cjs'), "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");
    execFileSync(process.execPath, ['--snapshot-blob', emptySnapshot, '--build-snapshot', join(work, 'empty.cjs')], { env });
    const commands = {
      'node -e 0': [process.execPath, ['-e', '0']],
      'node, an empty start-up snapshot': [process.execPath, ['--snapshot-blob', emptySnapshot, 'main']],
      'node, an empty Worker online': [
        process.execPath,
        ['-e', "new (require('node:worker_threads').Worker)('', { eval: true }).on('online', () => process.exit(0))"],
      ],
    };
    for (const [name, bin] of Object.entries(ebpms)) {
      commands[`${name} --version`] = [bin, ['--version']];
      commands[`${name} ls (empty store)`] = [bin, ['ls']];
    }
    // Piped and on a terminal, in the same rounds: each against `node -e 0` run the same way.
    const walls = Object.fromEntries(Object.keys(commands).map((name) => [name, { pipe: [], pty: [] }]));
    for (let i = 0; i < runs * 3; i++) {
      for (const [name, [cmd, argv]] of Object.entries(commands)) {
        for (const mode of ['pipe', 'pty']) walls[name][mode].push(timed(cmd, argv, small, { terminal: mode === 'pty' }));
      }
    }

    const floor = (mode) => median(first['sigsnoop (libbpf-tools)'][mode].map((r) => r.ms));
    console.log(`start-up, median of ${runs} interleaved runs, without NODE_EXTRA_CA_CERTS`);
    console.log(`  ${'time to first event (ms)'.padEnd(44)} ${'piped'.padStart(16)} ${'terminal'.padStart(16)}   peak RSS (MB) piped, terminal`);
    for (const [name, modes] of Object.entries(first)) {
      const cell = (mode) => {
        const ms = median(modes[mode].map((r) => r.ms));
        return `${fixed(ms).padStart(8)} ${ratio(ms, floor(mode)).padStart(7)}`;
      };
      const rss = (mode) => fixed(median(modes[mode].map((r) => r.rss))).padStart(6);
      console.log(`  ${name.padEnd(44)} ${cell('pipe')} ${cell('pty')}   ${rss('pipe')} ${rss('pty')}`);
    }
    console.log('  (× native sigsnoop; on a terminal each tool runs under `script`, whose own start is in every figure)');

    console.log();
    console.log(`small commands, median wall time of ${runs * 3} interleaved runs (ms; × node -e 0 run the same way)`);
    console.log(`  ${''.padEnd(44)} ${'piped'.padStart(16)} ${'terminal'.padStart(16)}`);
    for (const [name, modes] of Object.entries(walls)) {
      const cell = (mode) => `${fixed(median(modes[mode])).padStart(8)} ${ratio(median(modes[mode]), median(walls['node -e 0'][mode])).padStart(7)}`;
      console.log(`  ${name.padEnd(44)} ${cell('pipe')} ${cell('pty')}`);
    }

    for (const name of Object.keys(ebpms).flatMap((e) => [`${e} BPF-only`, `${e} BPF-only, stored`, `${e} Wasm`])) {
      console.log();
      console.log(`${name}: where the time to first event goes (EBPM_TRACE_STARTUP=1), medians in ms since the process started`);
      const byMode = Object.fromEntries(['pipe', 'pty'].map((m) => [m, first[name][m].map((r) => phases(r.output))]));
      // In the order they happen: a phase some runs lack (btf-cached, on a cold cache) is seen late.
      const when = (n) => median(byMode.pipe.map((p) => p.get(n)).filter((x) => x !== undefined));
      const names = [...new Set(byMode.pipe.flatMap((p) => [...p.keys()]))].sort((a, b) => when(a) - when(b));
      if (names.length === 0) {
        console.log('  (no phases: this build does not trace its start-up)');
        continue;
      }
      console.log(`  ${'phase'.padEnd(12)} ${'piped'.padStart(8)} ${'step'.padStart(7)} ${'terminal'.padStart(9)} ${'step'.padStart(7)}`);
      const at = (mode, n) => median(byMode[mode].map((p) => p.get(n)).filter((x) => x !== undefined));
      // A Wasm run's two threads end their steps in an order that varies from run to run: in the order of their medians.
      names.sort((a, b) => at('pipe', a) - at('pipe', b));
      names.forEach((n, i) => {
        const step = (mode) => fixed(at(mode, n) - (i === 0 ? 0 : at(mode, names[i - 1]))).padStart(7);
        console.log(`  ${n.padEnd(12)} ${fixed(at('pipe', n)).padStart(8)} ${step('pipe')} ${fixed(at('pty', n)).padStart(9)} ${step('pty')}`);
      });
      const seen = (mode) => median(first[name][mode].map((r) => r.ms));
      console.log(
        `  ${'seen'.padEnd(12)} ${fixed(seen('pipe')).padStart(8)} ${' '.repeat(7)} ${fixed(seen('pty')).padStart(9)}   (by the benchmark, from spawn)`,
      );
    }
    return { first, walls };
  } finally {
    marker.kill();
    target.kill();
    await exited(target);
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchStartup();
