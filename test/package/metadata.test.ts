import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/core/oci.js';
import { packPackage, readPackage } from '../../src/package/artifact.js';
import { MemoryStore } from '../../src/content/memory.js';
import { sha256Digest } from '../../src/core/digest.js';
import { validateSourceManifest } from '../../src/package/source-manifest.js';
import { validateMetadata } from '../../src/package/validate.js';
import { decodeDefault, parameterKind } from '../../src/package/values.js';
import { floatingTags, movesLatest, tagVersion, versionTag } from '../../src/package/version.js';
import type { PackageMetadata } from '../../src/package/metadata.js';
import { EXAMPLES, REPO } from '../helpers/objects.js';
import { check } from './schema-check.js';

const spec = (p: string) => JSON.parse(readFileSync(`${REPO}/registry-spec/${p}`, 'utf8'));
const metaSchema = spec('schemas/package-metadata.schema.json');
const sourceSchema = spec('schemas/ebpm-json.schema.json');
const example: PackageMetadata = spec('examples/sigsnoop.config.json');

describe('the spec and the validators agree', () => {
  it("the spec's example config validates against the schema and validateMetadata", () => {
    expect(check(metaSchema, example)).toEqual([]);
    expect(validateMetadata(example)).toEqual(example);
  });

  it("the spec's example manifest is a valid OCI manifest naming the example config", () => {
    const m = parseManifest(new TextEncoder().encode(JSON.stringify(spec('examples/sigsnoop.manifest.json'))));
    expect(m.artifactType).toBe('application/vnd.ebpm.package.v1');
    expect(m.layers.map((l) => l.annotations?.['org.opencontainers.image.title'])).toEqual(['sigsnoop.bpf.o', 'main.wasm', 'README.md', 'source.tar.gz']);
  });

  it('every ebpm.json (examples and the spec example) validates against both', () => {
    for (const p of [...EXAMPLES.map((e) => `${REPO}/examples/${e}/ebpm.json`), `${REPO}/registry-spec/examples/ebpm.json`]) {
      const v = JSON.parse(readFileSync(p, 'utf8'));
      expect(check(sourceSchema, v), p).toEqual([]);
      expect(() => validateSourceManifest(v)).not.toThrow();
    }
  });

  // biome-ignore lint/suspicious/noExplicitAny: each case breaks the JSON at a path of its own
  const broken: [string, (m: Record<string, any>) => void, string[]][] = [
    [
      'a bad name and version',
      (m) => {
        m.name = 'Bad Name';
        m.version = '1';
      },
      ['name: not a package name', 'version: not a semantic version'],
    ],
    [
      'an unknown field',
      (m) => {
        m.colour = 'blue';
      },
      ['colour: unknown field'],
    ],
    [
      'a bad digest and a missing program section',
      (m) => {
        m.objects[0].digest = 'sha256:xyz';
        delete m.objects[0].programs[0].section;
      },
      ['objects[0].digest: bad sha256 encoding', 'objects[0].programs[0].section: missing'],
    ],
    [
      'a bad parameter kind and flag',
      (m) => {
        m.objects[0].parameters[0].kind = 'pid';
        m.objects[0].parameters[1].flag.short = 'xy';
      },
      ['objects[0].parameters[0].kind: not one of int, uint, bool, float, string, bytes', 'objects[0].parameters[1].flag.short: not one letter or digit'],
    ],
    [
      'a layout without size',
      (m) => {
        delete m.objects[0].exports[0].type.fields[0].layout.size;
      },
      ['objects[0].exports[0].type.fields[0].layout.size: missing'],
    ],
    [
      'a duplicate flag',
      (m) => {
        m.objects[0].parameters[1].flag.long = 'filtered-pid';
      },
      ['objects: flag --filtered-pid declared twice'],
    ],
    [
      'kernel BTF with a bad release, a bad digest and a release twice',
      (m) => {
        const b = { release: '6.1.0-57-amd64', digest: `sha256:${'a'.repeat(64)}`, size: 358 };
        m.btf = [{ ...b, release: 'x/y' }, { ...b, digest: 'sha256:z' }, b];
      },
      ['btf[0].release: not a kernel release', 'btf[1].digest: bad sha256 encoding', 'btf[2].release: duplicate 6.1.0-57-amd64'],
    ],
  ];
  it.each(broken)('rejects %s in both, listing every bad field', (_n, change, problems) => {
    const m = JSON.parse(JSON.stringify(example));
    change(m);
    let err: { code?: string; data?: { problems: string[] } } = {};
    try {
      validateMetadata(m);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe('METADATA_INVALID');
    expect(err.data!.problems).toEqual(problems);
    if (!problems[0]!.includes('declared twice') && !problems[0]!.includes('duplicate')) expect(check(metaSchema, m).length).toBeGreaterThan(0);
  });
});

describe('packing and reading a package', () => {
  it('round-trips through a store and refuses a layer that disagrees with the metadata', async () => {
    const elf = new Uint8Array(5168);
    const { wasm: _wasm, ...bpfOnly } = example;
    const meta: PackageMetadata = { ...bpfOnly, objects: [{ ...example.objects[0]!, embedded: false }] };
    const bad = packPackage(meta, [{ title: 'sigsnoop.bpf.o', mediaType: 'application/vnd.ebpm.bpf.object.v1+elf', bytes: elf }], '2023-11-14T22:13:20Z');
    const store = new MemoryStore();
    for (const b of bad.blobs) await store.push(b.descriptor, [b.bytes]);
    await expect(readPackage(store, bad.descriptor)).rejects.toThrowWithCode(
      'PACKAGE_INVALID',
      'package sigsnoop@1.2.0: layer sigsnoop.bpf.o does not match the metadata',
    );
    const again = packPackage(meta, [], '2023-11-14T22:13:20Z');
    for (const b of again.blobs) await store.push(b.descriptor, [b.bytes]);
    await expect(readPackage(store, again.descriptor)).rejects.toThrowWithCode('PACKAGE_INVALID', 'package sigsnoop@1.2.0: no layer titled sigsnoop.bpf.o');
  });

  it('carries kernel BTF as layers btf/<release>.btf, checked against the metadata', async () => {
    const elf = new Uint8Array(5168);
    const btf = new Uint8Array([0x9f, 0xeb, 1, 0, 24, 0, 0, 0]);
    const { wasm: _wasm, ...bpfOnly } = example;
    const object = { ...example.objects[0]!, digest: sha256Digest(elf), size: elf.length, embedded: false };
    const meta: PackageMetadata = { ...bpfOnly, objects: [object], btf: [{ release: '6.1.0-57-amd64', digest: sha256Digest(btf), size: btf.length }] };
    expect(check(metaSchema, meta)).toEqual([]);
    expect(validateMetadata(JSON.parse(JSON.stringify(meta)))).toEqual(meta);
    const objectFile = { title: 'sigsnoop.bpf.o', mediaType: 'application/vnd.ebpm.bpf.object.v1+elf', bytes: elf };
    const good = packPackage(
      meta,
      [objectFile, { title: 'btf/6.1.0-57-amd64.btf', mediaType: 'application/vnd.ebpm.btf.v1', bytes: btf }],
      '2023-11-14T22:13:20Z',
    );
    const store = new MemoryStore();
    for (const b of good.blobs) await store.push(b.descriptor, [b.bytes]);
    expect((await readPackage(store, good.descriptor)).metadata.btf).toEqual(meta.btf);
    const missing = packPackage(meta, [objectFile], '2023-11-14T22:13:20Z');
    for (const b of missing.blobs) await store.push(b.descriptor, [b.bytes]);
    await expect(readPackage(store, missing.descriptor)).rejects.toThrowWithCode(
      'PACKAGE_INVALID',
      'package sigsnoop@1.2.0: no layer titled btf/6.1.0-57-amd64.btf',
    );
  });
});

describe('values and versions', () => {
  it('decodes defaults by layout', () => {
    const u32 = { kind: 'int', size: 4, signed: false, name: 'uid_t' } as const;
    expect(decodeDefault(u32, new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toBe(4294967295);
    expect(decodeDefault({ kind: 'int', size: 4, signed: true }, new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toBe(-1);
    expect(decodeDefault({ kind: 'int', size: 8, signed: false }, new Uint8Array(8).fill(0xff))).toBe('18446744073709551615');
    expect(decodeDefault({ kind: 'int', size: 1, signed: false, bool: true }, new Uint8Array([1]))).toBe(true);
    expect(decodeDefault({ kind: 'string', size: 8 }, new TextEncoder().encode('bash\0\0\0\0'))).toBe('bash');
    expect(decodeDefault({ kind: 'float', size: 8 }, new Uint8Array(new Float64Array([1.5]).buffer))).toBe(1.5);
    expect(decodeDefault({ kind: 'pointer', size: 8 }, new Uint8Array([1, 2, 0, 0, 0, 0, 0, 0]))).toBe('0102000000000000');
    expect(parameterKind({ kind: 'enum', size: 4, signed: false, values: [] })).toBe('uint');
  });

  it('maps versions to tags and moves latest only forward on stable versions', () => {
    expect(versionTag('1.2.0+build.5')).toBe('1.2.0_build.5');
    expect(tagVersion('1.2.0_build.5')).toBe('1.2.0+build.5');
    expect(tagVersion('latest')).toBeUndefined();
    expect(() => versionTag('1.2')).toThrowWithCode('INVALID_VERSION');
    expect(movesLatest('1.3.0', ['1.2.0', 'latest', '2.0.0-rc.1'])).toBe(true);
    expect(movesLatest('1.1.0', ['1.2.0', 'latest'])).toBe(false);
    expect(movesLatest('2.0.0-rc.2', ['1.2.0'])).toBe(false);
  });

  it('moves a floating tag only to the highest stable version of its line; floating tags are not versions', () => {
    const repo = ['1.2.3', '1.2.4', '1.3.0', '1.2', '1', 'latest', '1.4.0-rc.1', '2.0.0_b.1'];
    expect(floatingTags('1.2.5', repo)).toEqual(['1.2']);
    expect(floatingTags('1.3.1', repo)).toEqual(['1.3', '1']);
    expect(floatingTags('1.2.2', repo)).toEqual([]);
    expect(floatingTags('2.1.0', repo)).toEqual(['2.1', '2', 'latest']);
    expect(floatingTags('0.1.0', [])).toEqual(['0.1', '0', 'latest']);
    expect(floatingTags('1.5.0-rc.1', [])).toEqual([]);
  });
});
