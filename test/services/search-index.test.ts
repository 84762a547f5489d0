// The search index format, merging and matching (pure), and the embedded registry's catalog.
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { pushBytes } from '../../src/content/storage.js';
import {
  decodeIndex,
  encodeIndex,
  indexArtifact,
  indexRepositoryOf,
  mergeEntry,
  namespaceOf,
  readIndexArtifact,
  writeIndexArtifact,
  type IndexEntry,
} from '../../src/services/search-index.js';
import { matchEntries } from '../../src/services/search.js';
import { LocalRegistry } from '../../src/store/registry-dir.js';

const e = (name: string, version: string, description = '', keywords: string[] = [], repository = `acme/${name}`): IndexEntry => ({
  name,
  repository,
  version,
  description,
  keywords,
});

describe('search index', () => {
  it('encodes canonically, sorted by repository, and decodes back', () => {
    const entries = [e('zeta', '1.0.0'), e('alpha', '2.0.0', 'first', ['k'])];
    const bytes = encodeIndex(entries);
    expect(new TextDecoder().decode(bytes)).toBe(
      '{"packages":[{"description":"first","keywords":["k"],"name":"alpha","repository":"acme/alpha","version":"2.0.0"},{"description":"","keywords":[],"name":"zeta","repository":"acme/zeta","version":"1.0.0"}],"schemaVersion":1}',
    );
    expect(decodeIndex(bytes)).toEqual([entries[1], entries[0]]);
    expect(indexArtifact(entries).manifest.digest).toBe(indexArtifact([...entries].reverse()).manifest.digest);
  });

  it('lists every bad field of a damaged index', () => {
    const bad = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, packages: [{ name: 1, repository: 'r', version: 'v', description: '', keywords: [3] }, 'x'] }),
    );
    let err: { code?: string; data?: { fields: string[] } } = {};
    try {
      decodeIndex(bad);
    } catch (x) {
      err = x as typeof err;
    }
    expect(err.code).toBe('SEARCH_INDEX_INVALID');
    expect(err.data!.fields).toEqual([
      'schemaVersion: not 1',
      'packages[0].name: not a string',
      'packages[0].keywords: not an array of strings',
      'packages[1]: not an object',
    ]);
  });

  it('shows the version latest names', () => {
    const stable = [e('snoop', '1.2.0')];
    expect(mergeEntry(stable, e('snoop', '2.0.0-rc.1'), false)).toEqual(stable);
    expect(mergeEntry(stable, e('snoop', '1.1.9'), false)).toEqual(stable);
    expect(mergeEntry(stable, e('snoop', '1.3.0', 'new'), true)).toEqual([e('snoop', '1.3.0', 'new')]);
    expect(mergeEntry(stable, e('snoop', '1.2.0', 'forced'), false)).toEqual([e('snoop', '1.2.0', 'forced')]);
    expect(mergeEntry([e('snoop', '1.0.0-rc.1')], e('snoop', '1.0.0-rc.2'), false)).toEqual([e('snoop', '1.0.0-rc.2')]);
    expect(mergeEntry(stable, e('other', '0.1.0-rc.1'), false)).toEqual([...stable, e('other', '0.1.0-rc.1')]);
    expect([indexRepositoryOf(undefined), indexRepositoryOf('a/b'), namespaceOf('a/b/c'), namespaceOf('c')]).toEqual([
      'ebpm-index',
      'a/b/ebpm-index',
      'a/b',
      undefined,
    ]);
  });

  it('ranks name matches before keywords before descriptions', () => {
    const entries = [
      e('opensnoop', '1.0.0', 'trace open()', ['files']),
      e('snoop', '1.0.0'),
      e('execsnoop', '1.0.0', 'exec', ['snoop-like']),
      e('runqlat', '1.0.0', 'a snoop of latency'),
      e('bio', '1.0.0', 'Block I/O', ['SNOOPING']),
    ];
    expect(matchEntries(entries, 'SNOOP').map((x) => x.name)).toEqual(['snoop', 'execsnoop', 'opensnoop', 'bio', 'runqlat']);
    expect(matchEntries(entries, 'files').map((x) => x.name)).toEqual(['opensnoop']);
    expect(matchEntries(entries, '  ').map((x) => x.name)).toEqual(['bio', 'execsnoop', 'opensnoop', 'runqlat', 'snoop']);
  });

  it('is written to and read from the embedded registry, which lists it in its catalog', async () => {
    const reg = new LocalRegistry('local.invalid', mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'index-')));
    const repo = reg.repository('acme/ebpm-index');
    expect(await readIndexArtifact(repo)).toBeUndefined();
    const a = await writeIndexArtifact(repo, [e('snoop', '1.0.0')]);
    expect(await readIndexArtifact(repo)).toEqual({ digest: a.manifest.digest, entries: [e('snoop', '1.0.0')] });
    await pushBytes(reg.repository('acme/tools/x'), 'application/octet-stream', new Uint8Array([1]));
    expect(await reg.catalog()).toEqual(['acme/ebpm-index', 'acme/tools/x']);
    expect(() => reg.repository('../escape')).toThrow('local.invalid: invalid repository name "../escape"');
    await expect(reg.repository('acme/none').tags()).rejects.toThrowWithCode('NOT_FOUND', 'local.invalid: repository acme/none not found');
  });
});
