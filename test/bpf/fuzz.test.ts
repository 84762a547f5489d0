// Mutation fuzzing of parseObject on the real example objects and the map fixtures (map-in-map,
// prog array slots, map_extra): byte flips, truncations and u32 overwrites aimed at the ELF
// header, section headers, BTF, relocation tables and .BTF.ext. The cases are shared out over
// the objects, so more objects do not mean a longer run.
// Every case must parse or throw EbpmError with a BPF_*/BTF_* code. The PRNG is seeded, so a
// failure names its seed and case number and reproduces with FUZZ_SEED=<seed>.
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { isEbpmError } from '../../src/core/errors.js';
import { parseElf } from '../../src/bpf/elf.js';
import { parseObject } from '../../src/bpf/object.js';
import { compileBpf } from '../../src/build/toolchain.js';
import { EXAMPLES, exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

const CASES = 30_000;
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CODES = new Set(['BPF_MALFORMED', 'BPF_NOT_ELF', 'BPF_WRONG_MACHINE', 'BPF_BIG_ENDIAN', 'BTF_MALFORMED']);

/** mulberry32: small, fast and good enough to spread mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Target {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** [start, end) byte ranges worth aiming at: headers and tables the parser trusts least. */
  readonly regions: readonly [number, number][];
}

function regionsOf(bytes: Uint8Array): [number, number][] {
  const elf = parseElf(bytes);
  const shoff = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));
  const out: [number, number][] = [
    [0, 64],
    [shoff, shoff + elf.sections.length * 64],
  ];
  for (const s of elf.sections) {
    if (s.name === '.BTF') out.push([s.offset, s.offset + Math.min(s.size, 4096)]);
    if (s.name === '.BTF.ext' || s.name.startsWith('.rel') || s.name === '.symtab' || s.name === '.maps') out.push([s.offset, s.offset + s.size]);
  }
  return out;
}

const INTERESTING = [0, 1, 2, 7, 8, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff8];

function mutate(t: Target, rnd: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(rnd() * n);
  const b = t.bytes.slice();
  const [lo, hi] = t.regions[pick(t.regions.length)]!;
  const at = () => (rnd() < 0.8 ? lo + pick(Math.max(1, hi - lo)) : pick(b.length));
  switch (pick(4)) {
    case 0: // flip bits in 1-4 bytes
      for (let i = 1 + pick(4); i > 0; i--) b[at() % b.length]! ^= 1 << pick(8);
      return b;
    case 1: // truncate
      return b.subarray(0, pick(b.length));
    default: {
      // overwrite an aligned u32 with an interesting or random value, or nudge it
      const v = new DataView(b.buffer);
      const off = Math.min(at() & ~3, b.length - 4);
      const old = v.getUint32(off, true);
      const r = rnd();
      const value = r < 0.5 ? INTERESTING[pick(INTERESTING.length)]! : r < 0.75 ? old + pick(64) - 32 : Math.floor(rnd() * 2 ** 32);
      v.setUint32(off, value >>> 0, true);
      return b;
    }
  }
}

describeWith(['clang', 'bpftool', 'btf'], 'parseObject under mutation', () => {
  const targets: Target[] = [];

  beforeAll(async () => {
    for (const e of EXAMPLES) {
      const bytes = await exampleObject(e);
      targets.push({ name: e, bytes, regions: regionsOf(bytes) });
    }
    for (const f of ['maps', 'map-extra']) {
      const bytes = await compileBpf(new URL(`fixtures/${f}.bpf.c`, import.meta.url).pathname, join(process.env.EBPM_TEST_ROOT!, `fuzz-${f}.bpf.o`), {
        env: process.env,
      });
      targets.push({ name: f, bytes, regions: regionsOf(bytes) });
    }
  }, 120_000);

  it(`parses or throws a typed error for ${CASES} mutated objects (seed ${SEED})`, () => {
    const rnd = prng(SEED);
    const outcomes = { parsed: 0, rejected: 0 };
    const codes = new Map<string, number>();
    for (let n = 0; n < CASES; n++) {
      const t = targets[n % targets.length]!;
      const input = mutate(t, rnd);
      try {
        const spec = parseObject(input);
        JSON.stringify(spec.exports);
        outcomes.parsed++;
      } catch (e) {
        if (!isEbpmError(e) || !CODES.has(e.code)) {
          throw new Error(`fuzz seed ${SEED} case ${n} (${t.name}): ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
        }
        if (e.message.length > 300 || e.message.includes('\n')) throw new Error(`fuzz seed ${SEED} case ${n}: message not one short line: ${e.message}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        outcomes.rejected++;
      }
    }
    // Both outcomes must be common, or the mutations are too gentle or too blunt to tell anything.
    expect(outcomes.parsed).toBeGreaterThan(CASES / 10);
    expect(outcomes.rejected).toBeGreaterThan(CASES / 10);
    // BPF_BIG_ENDIAN needs byte 5 set to exactly 2; elf.test.ts covers it.
    expect([...codes.keys()].sort()).toEqual(['BPF_MALFORMED', 'BPF_NOT_ELF', 'BPF_WRONG_MACHINE', 'BTF_MALFORMED']);
  }, 60_000);
});
