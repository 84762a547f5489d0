// Push and pull against one loopback docker-registry, ebpm side by side with `skopeo copy`
// between an OCI layout and the registry: one 64 MiB package, and 50 small packages (ebpm: one
// `ebpm push`/`ebpm pull` naming all 50; skopeo: one copy per package, it takes one image).
// Also counts the requests of re-pulling a stored package. With EBPM_BASE set to another build's
// bin/ebpm.js (a worktree of the code before a change), that build runs too, interleaved in
// each round, and the table gives both ebpm builds against skopeo and the new against the old.
// ebpm runs as users run it: bin/ebpm.js as a program, which starts from the start-up snapshot.
// Every step runs piped and again on a terminal (a pty of util-linux `script`), where each tool
// shows its progress.
// `node bench/registry-transfer.mjs [rounds]` (bench/README.md §"Registry").
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { basePackage, cleanup, EBPM, ebpmEnv, fmt, scratch, startRegistry, writeLayout } from './registry-common.mjs';
import { median, quantile, timed } from './run-common.mjs';

const SMALL = 50;

export async function benchRegistryTransfer(rounds = 3) {
  const work = scratch();
  const reg = await startRegistry(work);
  try {
    const pkg = basePackage(work);
    const big = writeLayout(join(work, 'big'), pkg, 64 << 20, 'big');
    const small = Array.from({ length: SMALL }, (_, i) => writeLayout(join(work, `small-${i}`), pkg, 0, `small-${i}`));
    const base = process.env.EBPM_BASE;
    const builds =
      base === undefined
        ? [['ebpm', EBPM]]
        : [
            ['ebpm', EBPM],
            ['base', base],
          ];
    const runs = { ebpm: {}, base: {}, skopeo: {} };
    const add = (tool, key, ms) => {
      runs[tool][key] ??= [];
      runs[tool][key].push(ms);
    };
    // skopeo remembers where it saw each blob (~/.local/share/containers/cache) and mounts instead
    // of uploading; ebpm keeps no such cache, so each skopeo copy gets a fresh one (a first copy).
    // As root, skopeo keeps that cache in /var/lib/containers/cache whatever HOME says, so it runs
    // as nobody here (setpriv): then a fresh HOME really is a fresh cache.
    const asNobody = process.getuid?.() === 0;
    if (asNobody) chmodSync(work, 0o755);
    const skopeoCmd = asNobody ? 'setpriv' : 'skopeo';
    // Piped, skopeo is quiet (-q); on a terminal it shows its progress, as ebpm does.
    const skopeo = (src, dst, terminal) => [
      ...(asNobody ? ['--reuid=65534', '--regid=65534', '--clear-groups', 'skopeo'] : []),
      'copy',
      ...(terminal ? [] : ['-q']),
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      src,
      dst,
    ];
    const fresh = () => {
      const home = mkdtempSync(join(work, 'skopeo-home-'));
      chmodSync(home, 0o777);
      return { ...process.env, HOME: home };
    };
    for (let r = 0; r < rounds; r++) {
      // Interleaved, each tool into fresh repositories and destinations, so neither finds content
      // in place; which tool goes first alternates by round, so neither always meets the registry
      // and the page cache as the other left them. Each step runs piped, then on a terminal.
      for (const terminal of [false, true]) {
        const way = terminal ? 't' : '';
        const pulled = join(work, `pulled-${r}${way}`);
        mkdirSync(pulled, { recursive: true });
        chmodSync(pulled, 0o777);
        const s = `r${r}s${way}`;
        const copy = (src, dst) => timed(skopeoCmd, skopeo(src, dst, terminal), fresh(), { terminal });
        // Each ebpm build into its own repositories (r0e, r0b, r0et, …).
        const step = (op, ebpmArgs, skopeoRun) => {
          const key = terminal ? `${op} terminal` : op;
          const tools = [
            ...builds.map(
              ([tool, bin]) =>
                () =>
                  add(tool, key, timed(bin, ebpmArgs, ebpmEnv(work, { EBPM_REGISTRY: `${reg.host}/r${r}${tool[0]}${way}` }), { terminal })),
            ),
            () => add('skopeo', key, skopeoRun()),
          ];
          for (const run of r % 2 === 0 ? tools : tools.reverse()) run();
        };
        step('push big', ['push', big.dir], () => copy(`oci:${big.dir}:${big.tag}`, `docker://${reg.host}/${s}/big:${big.tag}`));
        step('pull big', ['pull', `big:${big.tag}`], () => copy(`docker://${reg.host}/${s}/big:${big.tag}`, `oci:${join(pulled, 'big')}:${big.tag}`));
        step('push small', ['push', ...small.map((p) => p.dir)], () =>
          small.reduce((t, p) => t + copy(`oci:${p.dir}:${p.tag}`, `docker://${reg.host}/${s}/${p.name}:${p.tag}`), 0),
        );
        step('pull small', ['pull', ...small.map((p) => `${p.name}:${p.tag}`)], () =>
          small.reduce((t, p) => t + copy(`docker://${reg.host}/${s}/${p.name}:${p.tag}`, `oci:${join(pulled, 'small')}:${p.name}`), 0),
        );
      }
    }
    console.log(`registry transfer, loopback docker-registry, median of ${rounds} rounds (wall time)`);
    const ops = [
      ['push big', 'push 1 package of 64 MiB'],
      ['pull big', 'pull 1 package of 64 MiB'],
      ['push small', `push ${SMALL} small packages`],
      ['pull small', `pull ${SMALL} small packages`],
    ];
    for (const [key, label] of [...ops, ...ops.map(([k, l]) => [`${k} terminal`, `${l}, terminal`])]) {
      const a = median(runs.ebpm[key]);
      const b = median(runs.skopeo[key]);
      // The ratio within each round, whose two runs met the same host: its median and quartiles.
      const paired = runs.ebpm[key].map((ms, i) => ms / runs.skopeo[key][i]);
      const spread = `round by round ×${median(paired).toFixed(2)} (×${quantile(paired, 0.25).toFixed(2)}–${quantile(paired, 0.75).toFixed(2)})`;
      const was =
        base === undefined
          ? ''
          : `  base ${fmt(median(runs.base[key]))}  ×${(median(runs.base[key]) / b).toFixed(2)} skopeo  new/base ×${(a / median(runs.base[key])).toFixed(2)}`;
      console.log(`  ${label.padEnd(38)} ebpm ${fmt(a)}  skopeo ${fmt(b)}  ×${(a / b).toFixed(2)} skopeo, ${spread}${was}`);
    }
    // Re-pulling what is stored: count the registry requests (`--verbose` prints one line per request).
    const env = ebpmEnv(work, { EBPM_REGISTRY: `${reg.host}/r0e` });
    execFileSync(EBPM, ['pull', `big:${big.tag}`, 'big'], { env, stdio: 'ignore' });
    for (const ref of [`big:${big.tag}`, 'big']) {
      const out = spawnLines(env, ref);
      const manifests = out.filter((l) => l.includes('/manifests/'));
      console.log(
        `  re-pull ${ref.padEnd(12)} ${out.length} requests, ${manifests.length} to manifests${out.length ? `: ${out.map((l) => l.split(' ').slice(1, 3).join(' ').replace(`http://${reg.host}`, '')).join(', ')}` : ''}`,
      );
    }
  } finally {
    await reg.stop();
    cleanup(work);
  }
}

/** The request lines `ebpm pull --verbose` writes to stderr. */
function spawnLines(env, ref) {
  const r = execFileSync('sh', ['-c', `"${EBPM}" pull "${ref}" --verbose 2>&1 >/dev/null`], { env, encoding: 'utf8' });
  return r.split('\n').filter((l) => l.startsWith('> '));
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRegistryTransfer(Number(process.argv[2] ?? 3));
