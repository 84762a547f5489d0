/**
 * The BPF objects of Debian's libbpf-tools (installed by scripts/bootstrap.sh as /usr/sbin/<tool>),
 * carved out of each binary the way `embeddedBpfObjects` finds them, written to `dir` as
 * `<tool>.bpf.o` for tests that run what others built.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { embeddedBpfObjects } from '../../src/bpf/embedded.js';

export const LIBBPF_TOOLS_DIR = '/usr/sbin';

/** `libbpfToolObject` carves `tool`'s one BPF object into `dir` and returns its path. */
export function libbpfToolObject(tool: string, dir: string): string {
  const objects = embeddedBpfObjects(readFileSync(join(LIBBPF_TOOLS_DIR, tool)));
  if (objects.length !== 1) throw new Error(`${tool}: ${objects.length} BPF objects inside, expected 1`);
  const path = join(dir, `${tool}.bpf.o`);
  writeFileSync(path, objects[0]!);
  return path;
}
