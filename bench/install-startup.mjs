// What the start-up snapshot an install makes (scripts/install.mjs) is worth: this checkout's
// build packed and installed into a temporary prefix, then, in alternating rounds, commands
// started by the installed launcher (from the snapshot) and by `node bin/ebpm.js` (the ESM
// bundle). Reported: medians in ms, and their ratio (snapshot / bundle).
//
//   node scripts/build.mjs && node bench/install-startup.mjs [rounds]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROUNDS = Number(process.argv[2] ?? 30);
const REPO = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'ebpm-install-bench-'));
const env = { PATH: process.env.PATH, HOME: work, EBPM_STORE: join(work, 'store'), EBPM_CONFIG: join(work, 'config.json') };
try {
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: REPO, stdio: 'ignore' });
  const tgz = join(
    work,
    readdirSync(work).find((f) => f.endsWith('.tgz')),
  );
  execFileSync('npm', ['install', '-g', tgz, '--prefix', join(work, 'prefix')], { env, stdio: 'ignore' });
  const bin = join(work, 'prefix/lib/node_modules/ebpm/bin/ebpm.js');
  cpSync(join(REPO, 'examples/sigsnoop'), join(work, 'sigsnoop'), { recursive: true, filter: (s) => !s.endsWith('/out') });
  execFileSync(bin, ['build', join(work, 'sigsnoop')], { env, stdio: 'ignore' });
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const args of [['ls'], ['inspect', join(work, 'sigsnoop/out')]]) {
    const ways = { snapshot: [bin, args], bundle: [process.execPath, [bin, ...args]] };
    const ms = { snapshot: [], bundle: [] };
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? Object.entries(ways) : Object.entries(ways).reverse();
      for (const [way, [command, argv]] of order) {
        const start = process.hrtime.bigint();
        const r = spawnSync(command, argv, { env });
        if (r.status !== 0) throw new Error(`${way} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
        ms[way].push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }
    const [s, b] = [median(ms.snapshot), median(ms.bundle)];
    console.log(`ebpm ${args[0]}: snapshot ${s.toFixed(1)} ms, bundle ${b.toFixed(1)} ms, ratio ${(s / b).toFixed(2)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
