// Start-up of a Wasm package's run against another build of ebpm (the code before a change):
// time to the first event of examples/sigsnoop with its Wasm program, this checkout and the
// other interleaved round by round, beside native libbpf-tools sigsnoop and `node -e 0`, piped
// and on a terminal (`script`), with where each build's time goes (EBPM_TRACE_STARTUP=1: the
// median of each phase, the guest thread's included); then each build's peak RSS over a 1 s
// run. Both builds must be built (`node scripts/build.mjs` in each); each runs as users start
// it, bin/ebpm.js as a program (from its start-up snapshot); NODE_EXTRA_CA_CERTS is unset for
// every peer.
//
//   sudo node bench/wasm-start-ab.mjs <other checkout> [runs] [--unfiltered]
//
// `--unfiltered` runs the guest without `-p` (every signal on the machine; the marker's come
// within milliseconds): a guest that loads its object as declared, without changing its .rodata.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EBPM, REPO, exited, median, onTerminal, script } from './run-common.mjs';

const args = process.argv.slice(2);
const UNFILTERED = args.includes('--unfiltered');
const [other, runs] = args.filter((a) => a !== '--unfiltered');
const OTHER = other && join(resolve(other), 'bin', 'ebpm.js');
const RUNS = Number(runs ?? 21);
if (!OTHER) throw new Error('usage: node bench/wasm-start-ab.mjs <other checkout> [runs] [--unfiltered]');

const env = { ...process.env, EBPM_TRACE_STARTUP: '1' };
delete env.NODE_EXTRA_CA_CERTS;

/**
 * Milliseconds from the launch of `argv` until its stdout shows `marker`, on a pty through
 * `script` when `pty`, and the `phase <name> <ms>` lines it wrote by then (stderr; one stream on a pty).
 */
async function firstEvent(argv, marker, pty) {
  const [cmd, args, runEnv] = pty ? onTerminal(argv, env) : [argv[0], argv.slice(1), env];
  const start = process.hrtime.bigint();
  const child = spawn(cmd, args, { env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const ms = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${argv.join(' ')}: no event in 30 s`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(marker)) {
        clearTimeout(timer);
        done(Number(process.hrtime.bigint() - start) / 1e6);
      }
    });
  });
  child.kill('SIGINT');
  await exited(child);
  return { ms, phases: new Map([...(out + err).matchAll(/phase (\S+) ([\d.]+)\r?\n/g)].map((m) => [m[1], Number(m[2])])) };
}

/** Peak RSS in MiB of a 1 s run (`/usr/bin/time`'s maximum resident set size). */
function peakRss(argv) {
  // Whatever the exit status (sigsnoop ends by SIGINT): time reports the child's maximum resident set size, its children's included.
  const { stderr } = spawnSync('/usr/bin/time', ['-f', 'maxrss %M', ...argv], { env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  return Number(/maxrss (\d+)/.exec(stderr)?.[1]) / 1024;
}

const work = mkdtempSync(join(tmpdir(), 'ebpm-wasm-ab-'));
const target = spawn('sleep', ['3600']);
try {
  const pkg = join(work, 'sigsnoop');
  cpSync(join(REPO, 'examples', 'sigsnoop'), pkg, { recursive: true, filter: (s) => !s.endsWith('/out') });
  execFileSync(process.execPath, [EBPM, 'build', pkg], { stdio: 'ignore' });
  const layout = join(pkg, 'out');
  const marker = script(work, 'ebpm-marker', `while kill -28 ${target.pid}; do sleep 0.002; done`);
  marker.stdin.end('go\n');
  const pid = String(marker.pid);
  const filter = UNFILTERED ? [] : ['--', '-p', pid];
  const peers = {
    'sigsnoop (libbpf-tools)': ['stdbuf', '-oL', '/usr/sbin/sigsnoop', '-p', pid],
    'node -e 0': [process.execPath, '-e', 'console.log("ebpm-marker")'],
    'ebpm Wasm, this checkout': [EBPM, 'run', layout, ...filter],
    'ebpm Wasm, the other': [OTHER, 'run', layout, ...filter],
  };
  const traced = ['ebpm Wasm, this checkout', 'ebpm Wasm, the other'];
  try {
    for (const pty of [false, true]) {
      const times = Object.fromEntries(Object.keys(peers).map((name) => [name, []]));
      const phases = Object.fromEntries(traced.map((name) => [name, []]));
      for (let i = 0; i < RUNS; i++) {
        for (const [name, argv] of Object.entries(peers)) {
          const r = await firstEvent(argv, 'ebpm-marker', pty);
          times[name].push(r.ms);
          phases[name]?.push(r.phases);
        }
      }
      const floor = median(times['sigsnoop (libbpf-tools)']);
      const ours = median(times['ebpm Wasm, this checkout']);
      console.log(`time to first event, ${pty ? 'on a terminal' : 'piped'}, median of ${RUNS} interleaved runs (ms)`);
      for (const [name, xs] of Object.entries(times)) {
        const m = median(xs);
        console.log(
          `  ${name.padEnd(26)} ${m.toFixed(1).padStart(7)}  min ${Math.min(...xs)
            .toFixed(1)
            .padStart(6)}  ×${(m / floor).toFixed(2)} native  ×${(m / ours).toFixed(2)} this`,
        );
      }
      // Each build's phases in the order they ended (medians, ms since its process started), and the step from the one before.
      console.log(`  phases (EBPM_TRACE_STARTUP=1), medians in ms since the process started, step from the phase before`);
      const names = [...new Set(traced.flatMap((t) => phases[t].flatMap((p) => [...p.keys()])))];
      const at = (t, n) => {
        const xs = phases[t].map((p) => p.get(n)).filter((x) => x !== undefined);
        return xs.length === 0 ? undefined : median(xs);
      };
      names.sort((a, b) => (at(traced[0], a) ?? at(traced[1], a)) - (at(traced[0], b) ?? at(traced[1], b)));
      console.log(`    ${'phase'.padEnd(12)}${traced.map((t) => t.replace('ebpm Wasm, ', '').padStart(22)).join('')}`);
      const last = Object.fromEntries(traced.map((t) => [t, 0]));
      for (const n of names) {
        const cells = traced.map((t) => {
          const x = at(t, n);
          if (x === undefined) return '-'.padStart(22);
          const cell = `${x.toFixed(1)} (+${(x - last[t]).toFixed(1)})`;
          last[t] = x;
          return cell.padStart(22);
        });
        console.log(`    ${n.padEnd(12)}${cells.join('')}`);
      }
    }
  } finally {
    marker.kill();
  }
  console.log('peak RSS of a 1 s run, median of 5 (MiB)');
  for (const bin of [EBPM, OTHER]) {
    const xs = Array.from({ length: 5 }, () => peakRss([bin, 'run', layout, '--duration', '1', ...(UNFILTERED ? [] : ['--', '-p', '1'])]));
    console.log(`  ${bin === EBPM ? 'this checkout' : 'the other'}  ${median(xs).toFixed(1)}`);
  }
  console.log(`  sigsnoop (libbpf-tools)  ${peakRss(['timeout', '-s', 'INT', '1', '/usr/sbin/sigsnoop', '-p', '1']).toFixed(1)}`);
} finally {
  target.kill();
  rmSync(work, { recursive: true, force: true });
}
