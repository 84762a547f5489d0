// Where a 64 MiB push and pull spend their time, ebpm beside `skopeo copy`, interleaved, with
// `node -e 0` in the same run: the loopback docker-registry writes a line for each request it
// answered, with when and how long, and each tool talks to it directly. Phases, per tool:
//   start      spawn to the registry's first request (the program's start and its reading of the layout)
//   before     the first request to the start of the big blob's transfer (checks, sessions)
//   transfer   the big blob: its upload's first request to the end of its closing PUT, or its
//              GET (the registry's side: until it had handed the last byte to the socket)
//   after      to the end of the last request (manifests, tags; ebpm's search index)
//   exit       the last request's end to the process's exit: for a pull, also the reading and
//              writing of what the socket still held
// An earlier version timed the requests in a proxy between each tool and the registry; its
// copies slowed skopeo's uploads, whose PATCH streams small writes, far more than ebpm's
// (push transfer 384 against 271 ms through it, 268 against 270 without), so it is gone.
//   node bench/registry-phases.mjs [rounds]
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { basePackage, cleanup, EBPM, ebpmEnv, requestsIn, scratch, startRegistry, writeLayout } from './registry-common.mjs';
import { median } from './run-common.mjs';

const now = () => performance.timeOrigin + performance.now();
const PHASES = ['start', 'before', 'transfer', 'after', 'exit', 'total'];

/** Runs a command to its exit; returns when it was spawned and when it exited. */
function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const spawned = now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('exit', (code) => (code === 0 ? resolve({ spawned, exited: now() }) : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim()}`))));
  });
}

/** The phases of one transfer, from the requests it made and the digest of its big blob. */
function phases(xs, big, times, push) {
  const first = xs[0];
  const last = xs.reduce((a, x) => Math.max(a, x.end), 0);
  let begin;
  let end;
  if (push) {
    // The closing PUT names the digest; the session's first request (PATCH or that PUT) opens the transfer.
    const close = xs.find((x) => x.method === 'PUT' && x.uri.includes(`digest=${encodeURIComponent(big)}`));
    const session = close.uri.split('?')[0];
    begin = xs.find((x) => x.uri.split('?')[0] === session).start;
    end = close.end;
  } else {
    const get = xs.find((x) => x.method === 'GET' && x.uri.endsWith(`/blobs/${big}`));
    begin = get.start;
    end = get.end;
  }
  return [first.start - times.spawned, begin - first.start, end - begin, last - end, times.exited - last, times.exited - times.spawned];
}

export async function benchRegistryPhases(rounds = 9) {
  const work = scratch();
  const reg = await startRegistry(work, { requestLog: true });
  try {
    const pkg = basePackage(work);
    const big = writeLayout(join(work, 'big'), pkg, 64 << 20, 'big');
    const bigBlob = big.blobs.reduce((a, b) => (b.size > a.size ? b : a)).digest;
    // skopeo keeps a cache of where it saw blobs; as nobody with a fresh HOME it starts without one.
    const asNobody = process.getuid?.() === 0;
    if (asNobody) chmodSync(work, 0o755);
    const skopeo = (src, dst) => {
      const home = mkdtempSync(join(work, 'skopeo-home-'));
      chmodSync(home, 0o777);
      const args = ['copy', '-q', '--src-tls-verify=false', '--dest-tls-verify=false', src, dst];
      return run(asNobody ? 'setpriv' : 'skopeo', asNobody ? ['--reuid=65534', '--regid=65534', '--clear-groups', 'skopeo', ...args] : args, {
        ...process.env,
        HOME: home,
      });
    };
    const results = { 'push ebpm': [], 'push skopeo': [], 'pull ebpm': [], 'pull skopeo': [] };
    const nodeStart = [];
    let marks = 0;
    const measured = async (key, go, push) => {
      const from = statSync(reg.log).size;
      const times = await go();
      // The registry writes a request's line just after answering it: a request of its own, sent
      // once the tool has exited, is logged after the tool's.
      const marker = `/v2/bench-marker-${marks++}/tags/list`;
      await fetch(`http://${reg.host}${marker}`).then((r) => r.arrayBuffer());
      let xs = requestsIn(reg.log, from);
      for (let i = 0; !xs.some((x) => x.uri === marker); i++) {
        if (i > 100) throw new Error(`the registry did not log ${marker}`);
        await new Promise((r) => setTimeout(r, 10));
        xs = requestsIn(reg.log, from);
      }
      results[key].push(
        phases(
          xs.filter((x) => x.uri !== marker),
          bigBlob,
          times,
          push,
        ),
      );
    };
    for (let r = 0; r < rounds; r++) {
      const pulled = join(work, `pulled-${r}`);
      mkdirSync(pulled);
      chmodSync(pulled, 0o777);
      const env = ebpmEnv(work, { EBPM_REGISTRY: `${reg.host}/e${r}` });
      const steps = [
        () => measured('push ebpm', () => run(EBPM, ['push', big.dir], env), true),
        () => measured('push skopeo', () => skopeo(`oci:${big.dir}:${big.tag}`, `docker://${reg.host}/s${r}/big:${big.tag}`), true),
      ];
      for (const step of r % 2 === 0 ? steps : steps.reverse()) await step();
      const pulls = [
        () => measured('pull ebpm', () => run(EBPM, ['pull', `big:${big.tag}`], env), false),
        () => measured('pull skopeo', () => skopeo(`docker://${reg.host}/s${r}/big:${big.tag}`, `oci:${join(pulled, 'big')}:${big.tag}`), false),
      ];
      for (const step of r % 2 === 0 ? pulls : pulls.reverse()) await step();
      const t = await run(process.execPath, ['-e', '0'], process.env);
      nodeStart.push(t.exited - t.spawned);
    }
    console.log(`registry phases of one 64 MiB package, by the registry's request log, medians of ${rounds} interleaved rounds (ms)`);
    console.log(`  ${''.padEnd(12)}${PHASES.map((p) => p.padStart(10)).join('')}`);
    for (const [key, rows] of Object.entries(results)) {
      console.log(
        `  ${key.padEnd(12)}${PHASES.map((_, i) =>
          median(rows.map((row) => row[i]))
            .toFixed(1)
            .padStart(10),
        ).join('')}`,
      );
    }
    console.log(`  node -e 0, spawn to exit, in the same rounds: ${median(nodeStart).toFixed(1)} ms`);
  } finally {
    await reg.stop();
    cleanup(work);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRegistryPhases(Number(process.argv[2] ?? 9));
