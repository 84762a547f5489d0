import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { build, type BuildResult } from '../../src/services/build.js';
import { validateMetadata } from '../../src/package/validate.js';
import { EXAMPLES, REPO, type Example } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

/**
 * Metadata of each example, summarised: layouts by name, parameters as rows, exports as
 * `field@offset:size`. After a deliberate change to an example or to what build extracts,
 * rewrite it from the build and review the diff:
 *
 *   UPDATE_GOLDEN=1 npx vitest run test/build/examples.test.ts
 */
const GOLDEN = new URL('./examples.expected.json', import.meta.url);
let EXPECTED: Record<Example, { object: unknown; requirements: unknown }>;

const WASM: Record<Example, boolean> = { sigsnoop: true, opensnoop: false, execsnoop: false, runqlat: true, bootstrap: true };

function summary(r: BuildResult) {
  const o = r.metadata.objects[0]!;
  return {
    object: {
      name: o.name,
      layer: o.layer,
      embedded: o.embedded,
      programs: o.programs,
      maps: o.maps.map(({ key, value, ...x }) => ({ ...x, key: key && (key.name ?? key.kind), value: value && (value.name ?? value.kind) })),
      parameters: o.parameters.map((p) => [p.name, p.section, p.offset, p.size, p.type, p.kind, p.default, p.flag.long, p.flag.short ?? null, p.description]),
      exports: o.exports.map((e) => [
        e.map,
        e.type.name,
        e.type.size,
        e.type.kind === 'struct' ? e.type.fields.map((f) => `${f.name}@${f.offset}:${f.layout.size}`).join(' ') : '',
      ]),
    },
    requirements: r.metadata.requirements,
  };
}

const FIXED_TIME = { SOURCE_DATE_EPOCH: '1700000000' };

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'ebpm build examples/*', () => {
  const results = {} as Record<Example, BuildResult>;
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'examples-'));
    for (const ex of EXAMPLES) {
      cpSync(join(REPO, 'examples', ex), join(root, ex), { recursive: true });
      results[ex] = await build({ dir: join(root, ex), env: { ...process.env, ...FIXED_TIME } });
    }
    if (process.env.UPDATE_GOLDEN === '1') {
      writeFileSync(GOLDEN, JSON.stringify(Object.fromEntries(EXAMPLES.map((ex) => [ex, summary(results[ex])])), null, 2));
      // In the tree's format, so that the diff shows only what changed.
      execFileSync(join(REPO, 'node_modules', '.bin', 'biome'), ['format', '--write', fileURLToPath(GOLDEN)], { stdio: 'ignore' });
    }
    EXPECTED = JSON.parse(readFileSync(GOLDEN, 'utf8'));
  });

  it.each(EXAMPLES)('%s: programs, maps, parameters, exports and requirements', (ex) => {
    const r = results[ex];
    expect(summary(r)).toEqual(EXPECTED[ex]);
    expect(r.metadata.objects).toHaveLength(1);
    expect(r.metadata.wasm !== undefined).toBe(WASM[ex]);
    expect(r.tags).toEqual([r.metadata.version, 'latest']);
    expect(validateMetadata(JSON.parse(JSON.stringify(r.metadata)))).toEqual(r.metadata);
  });

  it("lays out runqlat's histogram value and sample settings in full", () => {
    const hists = results.runqlat.metadata.objects[0]!.maps.find((m) => m.name === 'hists')!;
    expect(hists.sample).toEqual({ interval: 1000, type: 'log2_hist', unit: 'usecs', clearMap: false });
    expect(hists.value).toEqual({
      kind: 'struct',
      size: 120,
      name: 'hist',
      fields: [
        { name: 'slots', offset: 0, layout: { kind: 'array', size: 104, count: 26, element: { kind: 'int', size: 4, name: '__u32', signed: false } } },
        { name: 'comm', offset: 104, layout: { kind: 'string', size: 16 } },
      ],
    });
  });

  it('declares the Wasm module, its wasm_bpf imports and the object it embeds', () => {
    const m = results.sigsnoop.metadata;
    expect(m.wasm!.name).toBe('main.wasm');
    expect(m.wasm!.exports).toEqual(['memory', '__indirect_function_table', '_start']);
    expect(
      m
        .wasm!.imports.filter((i) => i.module === 'wasm_bpf')
        .map((i) => i.name)
        .sort(),
    ).toEqual(['wasm_attach_bpf_program', 'wasm_bpf_buffer_poll', 'wasm_bpf_map_fd_by_name', 'wasm_close_bpf_object', 'wasm_load_bpf_object']);
    expect(m.objects[0]!.embedded).toBe(true);
  });

  it('writes out/ as an OCI layout tagged with the version and latest, whose layers match the metadata', () => {
    const r = results.sigsnoop;
    const out = join(root, 'sigsnoop', 'out');
    expect(readdirSync(out).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
    expect(readdirSync(join(root, 'sigsnoop')).filter((f) => f.startsWith('.'))).toEqual([]);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
    expect(
      index.manifests
        .map((d: { digest: string; annotations: Record<string, string> }) => [d.digest, d.annotations['org.opencontainers.image.ref.name']])
        .sort(),
    ).toEqual([
      [r.descriptor.digest, '1.2.0'],
      [r.descriptor.digest, 'latest'],
    ]);
    const manifest = JSON.parse(readFileSync(join(out, 'blobs', 'sha256', r.descriptor.digest.slice(7)), 'utf8'));
    expect(manifest.artifactType).toBe('application/vnd.ebpm.package.v1');
    expect(manifest.config.mediaType).toBe('application/vnd.ebpm.package.config.v1+json');
    expect(
      manifest.layers.map((l: { mediaType: string; annotations: Record<string, string> }) => [l.mediaType, l.annotations['org.opencontainers.image.title']]),
    ).toEqual([
      ['application/vnd.ebpm.bpf.object.v1+elf', 'sigsnoop.bpf.o'],
      ['application/vnd.ebpm.wasm.module.v1+wasm', 'main.wasm'],
      ['text/markdown', 'README.md'],
      ['application/vnd.ebpm.source.v1.tar+gzip', 'source.tar.gz'],
    ]);
    expect(manifest.layers[0].digest).toBe(r.metadata.objects[0]!.digest);
    expect(manifest.annotations).toMatchObject({
      'org.opencontainers.image.title': 'sigsnoop',
      'org.opencontainers.image.version': '1.2.0',
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.opencontainers.image.licenses': 'Dual BSD/GPL',
      'io.ebpf.programs': '{"sig_trace":"tracepoint"}',
      'io.ebpf.maps': '{"events":"perf_event_array"}',
    });
  });

  it('is reproducible: a copy built elsewhere, and a rebuild, give the same manifest digest', async () => {
    const again = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'again-'));
    cpSync(join(REPO, 'examples', 'sigsnoop'), join(again, 'sigsnoop'), { recursive: true });
    const r = await build({ dir: join(again, 'sigsnoop'), env: { ...process.env, ...FIXED_TIME } });
    expect(r.descriptor.digest).toBe(results.sigsnoop.descriptor.digest);
    const rebuilt = await build({ dir: join(root, 'sigsnoop'), env: { ...process.env, ...FIXED_TIME } });
    expect(rebuilt.descriptor.digest).toBe(results.sigsnoop.descriptor.digest);
  });
});
