// Perf event arrays (BPF_F_CURRENT_CPU) put each event in the buffer of the CPU it happened on,
// and only within one buffer is the order kept: a process whose events a test expects in order
// runs on one CPU.
import { readFileSync } from 'node:fs';

/** `firstCpu` is the first CPU this process may run on (`Cpus_allowed_list` in /proc/self/status). */
export function firstCpu(): string {
  const m = /^Cpus_allowed_list:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m?.[1]) throw new Error('no Cpus_allowed_list in /proc/self/status');
  return m[1];
}

/**
 * `onOneCpu` gives `spawn` the command and arguments that run `command` on `firstCpu()` (util-linux
 * taskset, which execs it: the pid is the command's, and so is the comm once it runs).
 */
export function onOneCpu(command: string, args: readonly string[]): [string, string[]] {
  return ['taskset', ['-c', firstCpu(), command, ...args]];
}
