// Where a 64 MiB push and pull spend their time, ebpm beside `skopeo copy`, interleaved, with
// `node -e 0` in the same run: each tool talks to the loopback docker-registry through a logging
// TCP proxy in this process, which notes on the monotonic clock when each request starts, when
// its response starts and when a connection last carried the registry's bytes. Phases, per tool:
//   start      spawn to the first request (the program's start and its reading of the layout)
//   before     the first request to the start of the big blob's transfer (checks, sessions)
//   transfer   the big blob: its upload's first request to the answer to its closing PUT, or
//              its GET to the last byte received
//   after      to the last answer (manifests, tags; ebpm's search index)
//   exit       the last answer to the process's exit: for a pull, also the writing of what it
//              received that was not written as it came
// The proxy costs both tools the same copies; `registry-transfer.mjs` has the plain figures.
//   node bench/registry-phases.mjs [rounds]
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { basePackage, cleanup, EBPM, ebpmEnv, scratch, startRegistry, writeLayout } from './registry-common.mjs';

const now = () => Number(process.hrtime.bigint()) / 1e6;
const PHASES = ['start', 'before', 'transfer', 'after', 'exit', 'total'];

/** A proxy to `target` that keeps, per exchange, its request line and times (`exchanges()`, then `clear()`). */
async function loggingProxy(target) {
  const [host, port] = target.split(':');
  let exchanges = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    const pending = [];
    const conn = { lastByte: 0 };
    client.on('data', (d) => {
      const m = /^(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+)/.exec(d.subarray(0, 4096).toString('latin1'));
      if (m) {
        const x = { method: m[1], path: m[2], sent: now(), answered: undefined, conn };
        exchanges.push(x);
        pending.push(x);
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      conn.lastByte = now();
      // One answer a request, in order (no tool here pipelines).
      if (d.subarray(0, 9).toString('latin1') === 'HTTP/1.1 ' && pending.length > 0) pending.shift().answered = now();
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${server.address().port}`,
    exchanges: () => exchanges,
    clear: () => {
      exchanges = [];
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

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

/** The phases of one transfer, from its exchanges and the digest of its big blob. */
function phases(xs, big, times, push) {
  const first = xs[0];
  const last = xs.reduce((a, x) => Math.max(a, x.answered ?? 0), 0);
  let begin;
  let end;
  if (push) {
    // The closing PUT names the digest; the session's first request (PATCH or that PUT) opens the transfer.
    const close = xs.find((x) => x.method === 'PUT' && x.path.includes(`digest=${encodeURIComponent(big)}`));
    const session = close.path.split('?')[0];
    begin = xs.find((x) => x.path.split('?')[0] === session).sent;
    end = close.answered;
  } else {
    const get = xs.find((x) => x.method === 'GET' && x.path.endsWith(`/blobs/${big}`));
    begin = get.sent;
    end = get.conn.lastByte;
  }
  const done = Math.max(last, end);
  return [first.sent - times.spawned, begin - first.sent, end - begin, done - end, times.exited - done, times.exited - times.spawned];
}

export async function benchRegistryPhases(rounds = 9) {
  const work = scratch();
  const reg = await startRegistry(work);
  const proxy = await loggingProxy(reg.host);
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
    const measured = async (key, go, push) => {
      proxy.clear();
      const times = await go();
      results[key].push(phases(proxy.exchanges(), bigBlob, times, push));
    };
    for (let r = 0; r < rounds; r++) {
      const pulled = join(work, `pulled-${r}`);
      mkdirSync(pulled);
      chmodSync(pulled, 0o777);
      const env = ebpmEnv(work, { EBPM_REGISTRY: `${proxy.host}/e${r}` });
      const steps = [
        () => measured('push ebpm', () => run(EBPM, ['push', big.dir], env), true),
        () => measured('push skopeo', () => skopeo(`oci:${big.dir}:${big.tag}`, `docker://${proxy.host}/s${r}/big:${big.tag}`), true),
      ];
      for (const step of r % 2 === 0 ? steps : steps.reverse()) await step();
      const pulls = [
        () => measured('pull ebpm', () => run(EBPM, ['pull', `big:${big.tag}`], env), false),
        () => measured('pull skopeo', () => skopeo(`docker://${proxy.host}/s${r}/big:${big.tag}`, `oci:${join(pulled, 'big')}:${big.tag}`), false),
      ];
      for (const step of r % 2 === 0 ? pulls : pulls.reverse()) await step();
      const t = await run(process.execPath, ['-e', '0'], process.env);
      nodeStart.push(t.exited - t.spawned);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`registry phases of one 64 MiB package through a logging proxy, medians of ${rounds} interleaved rounds (ms)`);
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
    await proxy.close();
    await reg.stop();
    cleanup(work);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRegistryPhases(Number(process.argv[2] ?? 9));
