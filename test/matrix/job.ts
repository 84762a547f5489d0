/**
 * The matrix's job: one bash script that runs every kind of package once with the built CLI,
 * on the host or inside a VM, and its output read back case by case.
 *
 * Before each run the script starts that case's trigger, a bash loop paced by a `read -t` on a
 * FIFO nobody writes (a builtin: the loop itself opens and execs nothing else), and waits until
 * it runs under its own name; the trigger keeps causing events until the run has ended, since
 * under TCG Node takes seconds to start and attach. Each run ends by itself: `--max-events`, a
 * reader that closes its end of the pipe after the lines it wants (ebpm then exits 0), or a
 * histogram's count. Filters keep each run to its trigger's events, so that other processes on
 * the host do not count: the trigger's pid as sender, opener or parent, or uid 4242.
 *
 * Each case prints `@@@ case <name> trigger <pid> exit <code> ms <ms>`, ebpm's stdout,
 * `@@@ stderr`, its stderr and `@@@ end`.
 */
import { join } from 'node:path';
import { BIN, cliEnv } from '../helpers/cli.js';

/** The uid the exec trigger runs as, which nothing else on the machine uses. */
export const EXEC_UID = 4242;

export interface CaseResult {
  /** The pid of the case's trigger. */
  readonly trigger: number;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** How long the run took (for the report; never asserted). */
  readonly ms: number;
}

/** The loops that cause events: the name each runs under, its loop body, what it runs under. */
const TRIGGERS = {
  /** SIGWINCH (ignored by default) to the job's `sleep`, $TARGET. */
  sender: { name: 'ebpm-sigsend', body: 'kill -28 $TARGET', under: '' },
  execer: { name: 'ebpm-execer', body: '/bin/true', under: `setpriv --reuid=${EXEC_UID} --regid=${EXEC_UID} --clear-groups` },
  opener: { name: 'ebpm-opener', body: ': <$W/opened.txt', under: '' },
  /** A child that execs /bin/sh and exits with 3. */
  forker: { name: 'ebpm-forker', body: "/bin/sh -c 'exit 3'", under: '' },
} as const;

/** A case: its name, its trigger, ebpm's arguments and the filter its stdout goes through (`cat`: none); `$T` is the trigger's pid. */
interface Case {
  readonly name: string;
  readonly trigger: keyof typeof TRIGGERS;
  readonly args: string;
  readonly filter: string;
  /** Variables set for this run only (`EBPM_TRACE_STARTUP=1`). */
  readonly env?: string;
}

/** The cases, in order; `$P` is the packages' directory. */
export const CASES: readonly Case[] = [
  { name: 'sigsnoop', trigger: 'sender', args: 'run $P/sigsnoop/out --json -p $T --max-events 2', filter: 'cat' },
  // The same again: CO-RE against the minimal BTF the first run left in the cache.
  { name: 'sigsnoop-cached', trigger: 'sender', args: 'run $P/sigsnoop/out --json -p $T --max-events 2', filter: 'cat', env: 'EBPM_TRACE_STARTUP=1' },
  { name: 'sigsnoop-wasm', trigger: 'sender', args: 'run $P/sigsnoop-wasm/out -- -p $T -s 28', filter: 'head -n 2' },
  { name: 'eunomia', trigger: 'sender', args: 'run $P/package.json --json --filtered_pid $T --max-events 2', filter: 'cat' },
  { name: 'execsnoop', trigger: 'execer', args: `run $P/execsnoop/out --json -u ${EXEC_UID} --max-events 2`, filter: 'cat' },
  { name: 'opensnoop', trigger: 'opener', args: 'run $P/opensnoop/out --json --pid $T --max-events 2', filter: 'cat' },
  // Any loop wakes up from its pause: scheduler latency to measure.
  { name: 'runqlat-wasm', trigger: 'opener', args: 'run $P/runqlat/out -- 1 1', filter: 'cat' },
  { name: 'bootstrap-wasm', trigger: 'forker', args: 'run $P/bootstrap/out', filter: `awk -v p=$T '$5 == p { print; if (++n == 3) exit }'` },
  { name: 'bpf-object', trigger: 'forker', args: 'run $P/bootstrap.bpf.o --json', filter: 'grep -m 3 "\\"ppid\\":$T,"' },
  { name: 'libbpf-tools', trigger: 'execer', args: `run $P/execsnoop.bpf.o --json --targ-uid ${EXEC_UID} --max-events 2`, filter: 'cat' },
  // The preflight: what each kernel lacks, and run's refusal listing it (the trigger only paces).
  { name: 'check-runqlat', trigger: 'opener', args: 'check $P/runqlat/out --json', filter: 'cat' },
  { name: 'check-task-btf', trigger: 'opener', args: 'check $P/task-btf.bpf.o --json', filter: 'cat' },
  { name: 'run-task-btf', trigger: 'opener', args: 'run $P/task-btf.bpf.o --max-events 0', filter: 'cat' },
];

/** The file the opener opens, in the job's directory. */
const OPENED = 'opened.txt';

/**
 * `jobScript` is the bash script that runs `CASES` against the packages built in `dir` (`<name>/out`
 * layouts, `package.json`, objects): a path on the host, which a VM sees at the same place.
 */
export function jobScript(dir: string): string {
  // Every path ebpm reads or writes lives in the job's own temp directory ($W).
  const env = Object.entries(cliEnv('$W'))
    .map(([k, v]) => `export ${k}="${v}"`)
    .join('\n');
  return `#!/bin/bash
set -u
P=${dir}
W=$(mktemp -d /tmp/ebpm-matrix-XXXXXX)
chmod 755 "$W"
${env}
ebpm() { node ${BIN} "$@"; }
mkfifo "$W/pace"
exec 9<>"$W/pace"
echo x >"$W/${OPENED}"
sleep 1000000 &
TARGET=$!
echo "@@@ job uname=$(uname -r) target=$TARGET dir=$W"

# trigger <name> <loop body> [command to start it under]: starts the paced loop <name> in the
# background and sets T to its pid once it runs.
trigger() {
  local name=$1 body=$2
  shift 2
  printf '#!/bin/bash\\nexec 9<>%s/pace\\nwhile :; do %s; read -t 0.1 -u 9; done\\n' "$W" "$body" >"$W/$name"
  chmod 755 "$W/$name"
  "$@" "$W/$name" </dev/null >/dev/null 2>&1 &
  T=$!
  until [ "$(cat /proc/$T/comm 2>/dev/null)" = "$name" ]; do read -t 0.01 -u 9; done
}

${CASES.map((c) => {
  const t = TRIGGERS[c.trigger];
  return `trigger ${t.name} "${t.body}" ${t.under}
start=$(date +%s%N)
{ ${c.env === undefined ? '' : `${c.env} `}ebpm ${c.args} 2>"$W/err"; echo $? >"$W/code"; } | ${c.filter} >"$W/out"
ms=$((($(date +%s%N) - start) / 1000000))
kill $T
wait $T 2>/dev/null
echo "@@@ case ${c.name} trigger $T exit $(cat "$W/code") ms $ms"
cat "$W/out"
echo "@@@ stderr"
cat "$W/err"
echo "@@@ end"`;
}).join('\n')}

kill $TARGET
wait 2>/dev/null
rm -rf "$W"
`;
}

/** What the job printed about itself: the kernel, the signals' target and its directory. */
export interface Job {
  readonly uname: string;
  readonly target: number;
  readonly dir: string;
  readonly cases: Map<string, CaseResult>;
}

/** `parseJob` reads the job's output back: about itself, and each case's result by name. */
export function parseJob(stdout: string): Job {
  const j = /^@@@ job uname=(\S+) target=(\d+) dir=(\S+)$/m.exec(stdout);
  if (j === null) throw new Error(`the job did not start; it printed:\n${stdout}`);
  const cases = new Map<string, CaseResult>();
  const re = /^@@@ case (\S+) trigger (\d+) exit (\d+) ms (\d+)\n([\s\S]*?)^@@@ stderr\n([\s\S]*?)^@@@ end$/gm;
  for (const m of stdout.matchAll(re)) cases.set(m[1]!, { trigger: Number(m[2]), code: Number(m[3]), ms: Number(m[4]), stdout: m[5]!, stderr: m[6]! });
  return { uname: j[1]!, target: Number(j[2]), dir: j[3]!, cases };
}

/** The file the opener opens. */
export const openedFile = (job: Job) => join(job.dir, OPENED);
