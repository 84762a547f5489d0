// The dependency direction of src/ (STYLE.md: "src/ by capability, dependencies pointing one
// way"), enforced as a test so a wrong import fails CI like a lint error would.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src', import.meta.url).pathname;

/**
 * What each capability may import, besides itself. `bpf` is the pure object reader (bytes in,
 * specs out); `kernel` is everything that touches the kernel through the addon, so package and
 * build, which only read objects, cannot reach it (as aya-obj is split from aya).
 */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  bpf: ['core'],
  kernel: ['core', 'bpf'],
  wasm: ['core'],
  content: ['core'],
  store: ['core', 'content'],
  registry: ['core', 'content'],
  package: ['core', 'bpf', 'wasm', 'content'],
  sign: ['core', 'content'],
  build: ['core', 'bpf', 'wasm', 'package', 'content', 'store'],
  runtime: ['core', 'bpf', 'kernel', 'wasm', 'package'],
  services: ['core', 'bpf', 'kernel', 'wasm', 'content', 'store', 'registry', 'package', 'sign', 'build', 'runtime'],
  // The library (`import … from 'ebpm'`), and the command line's one way to the services: the
  // library's client for what it offers, a module of its own for the rest.
  api: ['core', 'bpf', 'kernel', 'wasm', 'content', 'store', 'registry', 'package', 'sign', 'build', 'runtime', 'services'],
  cli: ['core', 'bpf', 'kernel', 'wasm', 'content', 'store', 'registry', 'package', 'sign', 'build', 'runtime', 'api'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : f.endsWith('.ts') ? [p] : [];
  });
}

function imports(source: string): string[] {
  const out: string[] = [];
  const re = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of source.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/**
 * `findCycles` lists the import cycles of `graph` (file → the files it imports): every strongly
 * connected component with more than one file, or a file importing itself (Tarjan's algorithm),
 * each sorted, the list sorted.
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

describe('findCycles', () => {
  it('finds each cycle of a small graph once, and nothing in a graph without one', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c', 'x']],
      ['c', ['a']],
      ['d', ['d']],
      ['e', ['a', 'f']],
      ['f', ['g']],
      ['g', ['f']],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c'], ['d'], ['f', 'g']]);
    expect(
      findCycles(
        new Map([
          ['a', ['b', 'c']],
          ['b', ['c']],
          ['c', []],
        ]),
      ),
    ).toEqual([]);
  });
});

describe('architecture', () => {
  const all = files(SRC).map((f) => ({ file: relative(SRC, f), text: readFileSync(f, 'utf8') }));

  it('has files in every capability it knows, and no unknown capability', () => {
    const caps = new Set(all.map((f) => f.file.split('/')[0]!));
    for (const c of caps) expect(Object.keys(ALLOWED), `src/${c} is not in ALLOWED`).toContain(c);
  });

  it('imports only in the allowed direction', () => {
    const bad: string[] = [];
    for (const { file, text } of all) {
      const cap = file.split('/')[0]!;
      for (const spec of imports(text)) {
        if (!spec.startsWith('.')) continue;
        const target = relative(SRC, join(SRC, file, '..', spec)).split('/')[0]!;
        if (target !== cap && !ALLOWED[cap]?.includes(target)) bad.push(`src/${file} imports ${spec} (${cap} → ${target})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no import cycle inside src/ (static, type-only and dynamic imports alike)', () => {
    const known = new Set(all.map((f) => f.file));
    const graph = new Map(
      all.map(({ file, text }) => [
        file,
        imports(text)
          .filter((spec) => spec.startsWith('.'))
          .map((spec) => relative(SRC, join(SRC, dirname(file), spec)).replace(/\.js$/, ''))
          .map((base) => (known.has(`${base}.ts`) ? `${base}.ts` : base)),
      ]),
    );
    expect(findCycles(graph)).toEqual([]);
  });

  it('loads the native addon from src/kernel/native.ts only', () => {
    const bad = all.filter(({ file, text }) => file !== 'kernel/native.ts' && /\.node['"]/.test(text)).map(({ file }) => file);
    expect(bad).toEqual([]);
  });

  it('keeps the object reader free of I/O and of the addon', () => {
    const bad = all
      .filter(({ file }) => file.startsWith('bpf/'))
      .flatMap(({ file, text }) =>
        imports(text)
          .filter((s) => !s.startsWith('.'))
          .map((s) => `src/${file} imports ${s}`),
      );
    expect(bad).toEqual([]);
  });
});
