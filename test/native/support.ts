// Helpers for the real-kernel suite: fixture objects, global offsets, and leak checks by id.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseElf } from '../../src/bpf/elf.js';
import type { BpfObject } from '../../src/kernel/loader.js';
import { cachedObject, REPO } from '../helpers/objects.js';

const FIXTURES = join(REPO, 'test', 'native', 'fixtures');

/** `fixtureObject` compiles `test/native/fixtures/<name>.bpf.c` (cached until the source changes). */
export function fixtureObject(name: 'broken' | 'attach'): Promise<Uint8Array> {
  return cachedObject(join(FIXTURES, `${name}.bpf.c`), `native-${name}.bpf.o`);
}

/** `patchGlobal` returns `section`'s bytes with `symbol` (found in the ELF symbol table) set to `value`. */
export function patchGlobal(obj: BpfObject, elf: Uint8Array, section: string, symbol: string, value: Uint8Array): Uint8Array {
  const file = parseElf(elf);
  const sec = file.sections.find((s) => s.name === section);
  const sym = file.symbols.find((s) => s.name === symbol && s.section === sec?.index);
  if (!sec || !sym) throw new Error(`no ${symbol} in ${section}`);
  const bytes = obj.global(section);
  bytes.set(value, sym.value);
  return bytes;
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** Kernel program ids of the object's loaded programs, from /proc/self/fdinfo. */
export function programIds(obj: BpfObject): number[] {
  return obj
    .programs()
    .filter((p) => p.fd >= 0)
    .map((p) => fdProgramId(p.fd));
}

export function fdProgramId(fd: number): number {
  const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m?.[1]) throw new Error(`fd ${fd} is not a BPF program`);
  return Number(m[1]);
}

/** Which of `ids` the kernel still holds as programs, and how many links point at them. */
export function kernelHolds(ids: readonly number[]): { programs: number[]; links: number } {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }) || '[]') as { id: number }[];
  const links = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' }) || '[]') as { prog_id?: number }[];
  return {
    programs: progs.map((p) => p.id).filter((id) => ids.includes(id)),
    links: links.filter((l) => l.prog_id !== undefined && ids.includes(l.prog_id)).length,
  };
}

/**
 * `released` waits until the kernel holds none of `ids` and no link to them. What a worker's
 * teardown closes is released after the worker's `exit` event, not at it, so this awaits the
 * release instead of sampling it once; a leak keeps it waiting until the test times out.
 */
export async function released(ids: readonly number[]): Promise<void> {
  for (;;) {
    const held = kernelHolds(ids);
    if (held.programs.length === 0 && held.links === 0) return;
    await new Promise((r) => setImmediate(r));
  }
}

/** NUL-terminated string at `off` of at most `len` bytes. */
export function cstr(b: Uint8Array, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const end = s.indexOf(0);
  return new TextDecoder().decode(end < 0 ? s : s.subarray(0, end));
}

/**
 * `veth` creates the veth pair `<name>a`/`<name>b` (a leftover of a killed run is replaced) and
 * returns `<name>a`, for xdp and tc tests that must not share lo with other test files.
 */
export function veth(name: string): string {
  spawnSync('ip', ['link', 'del', `${name}a`]);
  execFileSync('ip', ['link', 'add', `${name}a`, 'type', 'veth', 'peer', 'name', `${name}b`]);
  return `${name}a`;
}
