import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSourceManifest, validateSourceManifest } from '../../src/package/source-manifest.js';
import { EXAMPLES, REPO } from '../helpers/objects.js';

describe('ebpm.json', () => {
  it('reads every example with defaults filled in', () => {
    for (const ex of EXAMPLES) {
      const m = parseSourceManifest(readFileSync(`${REPO}/examples/${ex}/ebpm.json`, 'utf8'));
      expect(m.name).toBe(ex);
      expect(m.source).toBe(true);
      expect(m.cflags).toEqual([]);
    }
    expect(parseSourceManifest(readFileSync(`${REPO}/examples/sigsnoop/ebpm.json`, 'utf8'))).toEqual({
      name: 'sigsnoop',
      version: '1.2.0',
      description: 'Trace signals as the kernel generates them: sender, target, signal and result',
      license: 'Dual BSD/GPL',
      keywords: ['signal', 'tracepoint', 'perf-buffer', 'libbpf-tools'],
      authors: ['ebpm developers'],
      homepage: 'https://github.com/ebpm/ebpm/tree/main/examples/sigsnoop',
      cflags: [],
      wasm: 'main.c',
      wasmCflags: [],
      source: true,
    });
  });

  it('lists every bad field in one MANIFEST_INVALID error', () => {
    let err: unknown;
    try {
      validateSourceManifest({
        name: 'Sig Snoop',
        version: '1.2',
        keywords: ['a', 3],
        wasm: '../main.rs',
        cflags: ['O2'],
        source: 'yes',
        colour: 'blue',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'MANIFEST_INVALID',
      data: {
        problems: [
          'colour: unknown field',
          'name: must be lower-case letters and digits with single . _ - separators',
          'version: "1.2" is not a semantic version (like 1.2.0)',
          'wasm: must name a C source (.c) or a prebuilt module (.wasm)',
          'keywords[1]: not a string',
          'cflags[0]: must be a compiler flag starting with -',
          'source: not true or false',
        ],
      },
    });
    expect((err as Error).message).toBe(`ebpm.json: ${(err as { data: { problems: string[] } }).data.problems.join('; ')}`);
  });

  it('requires name and version and rejects paths leaving the directory', () => {
    expect(() => validateSourceManifest({ objects: ['../x.bpf.c'], readme: '/etc/passwd' })).toThrow(
      'ebpm.json: name: missing; version: missing; objects[0]: must be a relative path inside the package directory; readme: must be a relative path inside the package directory',
    );
    expect(() => validateSourceManifest([])).toThrow('ebpm.json: (root): not an object; name: missing; version: missing');
  });

  it('rejects text that is not JSON', () => {
    expect(() => parseSourceManifest('{"name": ')).toThrowWithCode('MANIFEST_INVALID', { hint: 'fix the JSON syntax of ebpm.json' });
  });
});
