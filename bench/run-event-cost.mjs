// Benchmark 2: event cost. A C generator sends N signals (default one million) to a sleeping
// target; each tracer, filtered to the generator's pid, writes its output to a file. Reported:
// the tracer's CPU time (user + system, all threads) per event, and events lost (sent minus
// lines naming the generator; the tracers keep SIGWINCH only, so the generator's own exit
// SIGCHLD is not counted). The three tools run one after another within one invocation.
//
//   sudo node bench/run-event-cost.mjs [events] [rate per second, 0: as fast as kill(2) goes]
import { execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds, exited, prepare, sleep, tools } from './run-common.mjs';

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const RATE = Number(process.argv[3] ?? 0);

const GENERATOR = `
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
/* ebpm-siggen <target> <count> <rate>: waits for a line on stdin, then sends SIGWINCH count times. */
int main(int argc, char **argv)
{
	pid_t target = atoi(argv[1]);
	long n = atol(argv[2]), rate = atol(argv[3]);
	char line[8];
	struct timespec gap = { 0, rate > 0 ? 1000000000L / rate * 1000 : 0 };
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (long i = 0; i < n; i++) {
		kill(target, SIGWINCH);
		if (rate > 0 && i % 1000 == 999)
			nanosleep(&gap, NULL);
	}
	return 0;
}
`;

/** Lines of `file` naming the generator: every tool prints the sender's pid as a field. */
function countEvents(file, pid) {
  const text = readFileSync(file, 'utf8');
  let n = 0;
  const re = new RegExp(`(^|[\\s,:{])${pid}([\\s,}]|$)`);
  for (const line of text.split('\n')) if (re.test(line)) n++;
  return n;
}

/**
 * Runs `tool` with its output to a file, lets `gen` send its signals once the tool has had
 * `attachedAfterMs` to attach, and returns the tool's CPU time and what it printed.
 */
export async function measure(name, tool, gen, work, pid, attachedAfterMs, events = EVENTS) {
  const out = join(work, `${name}.out`);
  const fd = openSync(out, 'w');
  const child = spawn(tool.cmd, tool.args, { env: tool.env, stdio: ['ignore', fd, 'ignore'] });
  await sleep(attachedAfterMs);
  const cpuBefore = cpuSeconds(child.pid);
  const start = process.hrtime.bigint();
  gen.stdin.end('go\n');
  await exited(gen);
  // Let the tracer drain: wait until its output stops growing.
  let size = -1;
  for (;;) {
    await sleep(500);
    const now = readFileSync(out).length;
    if (now === size) break;
    size = now;
  }
  const cpu = cpuSeconds(child.pid) - cpuBefore;
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  child.kill('SIGINT');
  await exited(child);
  const seen = countEvents(out, pid);
  return { name, cpu, wall, seen, lost: events - seen, nsPerEvent: (cpu / events) * 1e9 };
}

/** Compiles the signal generator into `work`; returns its path. */
export function buildGenerator(work) {
  const genPath = join(work, 'ebpm-siggen');
  writeFileSync(`${genPath}.c`, GENERATOR);
  execFileSync('clang', ['-O2', '-o', genPath, `${genPath}.c`]);
  return genPath;
}

export async function benchEventCost(events = EVENTS) {
  const { work, layout } = prepare();
  const genPath = buildGenerator(work);
  const target = spawn('sleep', ['3600']);
  const rows = [];
  try {
    for (const name of ['ebpm', 'sigsnoop', 'bpftrace']) {
      const gen = spawn(genPath, [String(target.pid), String(events), String(RATE)], { stdio: ['pipe', 'ignore', 'ignore'] });
      const tool = tools(layout, gen.pid, { sig: 28 })[name];
      // Output goes to a file: no stdbuf, each tool buffers as it does for files.
      if (name === 'sigsnoop') [tool.cmd, ...tool.args] = tool.args.slice(1);
      rows.push(await measure(name, tool, gen, work, gen.pid, 2000, events));
    }
  } finally {
    target.kill();
    rmSync(work, { recursive: true, force: true });
  }
  const floor = rows.find((r) => r.name === 'sigsnoop');
  console.log(`event cost: ${events} signals${RATE ? ` at ${RATE}/s` : ''}, output to a file`);
  for (const r of rows) {
    console.log(
      `  ${r.name.padEnd(10)} cpu ${r.cpu.toFixed(2).padStart(6)} s  ${r.nsPerEvent.toFixed(0).padStart(6)} ns/event  ×${(r.nsPerEvent / floor.nsPerEvent).toFixed(2)} native  seen ${r.seen}  lost ${r.lost}`,
    );
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchEventCost();
