import { describe, expect, it } from 'vitest';
import { formatReference, parseReference, pickVersion, tagToVersion, versionToTag, type Reference } from '../../src/core/reference.js';

const D = `sha256:${'ab'.repeat(32)}`;
const defaults = { registry: 'ghcr.io', namespace: 'ebpm' };

describe('parseReference', () => {
  const good: Array<[string, Reference]> = [
    ['sigsnoop', { registry: 'ghcr.io', repository: 'ebpm/sigsnoop' }],
    ['sigsnoop:1.2.0', { registry: 'ghcr.io', repository: 'ebpm/sigsnoop', tag: '1.2.0' }],
    ['acme/sigsnoop:latest', { registry: 'ghcr.io', repository: 'acme/sigsnoop', tag: 'latest' }],
    ['sigsnoop@1.2', { registry: 'ghcr.io', repository: 'ebpm/sigsnoop', range: '1.2' }],
    ['sigsnoop@^1', { registry: 'ghcr.io', repository: 'ebpm/sigsnoop', range: '^1' }],
    ['ghcr.io/x/y@~2.1', { registry: 'ghcr.io', repository: 'x/y', range: '~2.1' }],
    ['sigsnoop@*', { registry: 'ghcr.io', repository: 'ebpm/sigsnoop', range: '*' }],
    [`sigsnoop@${D}`, { registry: 'ghcr.io', repository: 'ebpm/sigsnoop', digest: D }],
    [`localhost:5000/a/b:v1@${D}`, { registry: 'localhost:5000', repository: 'a/b', tag: 'v1', digest: D }],
    ['127.0.0.1:5000/sigsnoop', { registry: '127.0.0.1:5000', repository: 'sigsnoop' }],
    ['localhost/sigsnoop:1', { registry: 'localhost', repository: 'sigsnoop', tag: '1' }],
    ['[::1]:5000/a:b', { registry: '[::1]:5000', repository: 'a', tag: 'b' }],
    ['sigsnoop:1.2.3+build.7', { registry: 'ghcr.io', repository: 'ebpm/sigsnoop', tag: '1.2.3_build.7' }],
    ['ghcr.io/f_g:_x', { registry: 'ghcr.io', repository: 'f_g', tag: '_x' }],
    ['my-reg.example.com:443/a', { registry: 'my-reg.example.com:443', repository: 'a' }],
    ['ns/a__b.c/d-e', { registry: 'ghcr.io', repository: 'ns/a__b.c/d-e' }],
  ];
  it.each(good)('reads %s', (input, want) => {
    expect(parseReference(input, defaults)).toEqual(want);
  });

  it('reads name@latest as the highest release', () => {
    expect(parseReference('sigsnoop@latest', defaults)).toEqual({ registry: defaults.registry, repository: 'ebpm/sigsnoop', range: 'latest' });
  });

  it('reads a range with spaces', () => {
    expect(parseReference('sigsnoop@>=1.2 <2', defaults)).toEqual({ registry: 'ghcr.io', repository: 'ebpm/sigsnoop', range: '>=1.2 <2' });
  });

  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['Sigsnoop', 'bad name "Sigsnoop"'],
    ['sig snoop', 'contains white space'],
    ['a//b', 'bad name "a//b"'],
    ['a_-b', 'bad name "a_-b"'],
    ['ghcr.io/', 'missing name'],
    ['ghcr.io:port/x', 'bad registry host "ghcr.io:port"'],
    ['a_b.io/x', 'bad registry host "a_b.io"'],
    ['sigsnoop@^1 ', 'bad version range "^1 "'],
    ['sigsnoop:', 'bad tag ""'],
    ['sigsnoop:-x', 'bad tag "-x"'],
    [`sigsnoop:${'a'.repeat(129)}`, `bad tag "${'a'.repeat(129)}"`],
    ['sigsnoop:1.2+x+y', 'bad tag "1.2+x+y"'],
    ['sigsnoop@sha256:abc', 'bad digest "sha256:abc": bad sha256 encoding'],
    ['sigsnoop@SHA256:x', 'bad digest "SHA256:x": not a digest'],
    ['sigsnoop@newest', 'bad version range "newest"'],
    ['sigsnoop@', 'nothing after "@"'],
    ['sigsnoop:1.0@^1', 'both a tag and a version range'],
    [`${'a'.repeat(250)}/${'b'.repeat(10)}`, 'registry and name longer than 255 characters'],
  ];
  it.each(bad)('refuses %j: %s', (input, problem) => {
    let err: { code?: string; data?: { problem?: string }; hint?: string; message?: string } = {};
    try {
      parseReference(input, defaults);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe('INVALID_REFERENCE');
    expect(err.data?.problem).toBe(problem);
    expect(err.message).toBe(`invalid reference ${JSON.stringify(input)}: ${problem}`);
    expect(err.hint).toMatch(/./);
  });

  it('needs a registry for short names when no default is given', () => {
    expect(() => parseReference('sigsnoop')).toThrowWithCode('INVALID_REFERENCE', { data: { reference: 'sigsnoop', problem: 'no registry' } });
    expect(parseReference('sigsnoop', { registry: 'r.example' })).toEqual({ registry: 'r.example', repository: 'sigsnoop' });
  });

  it('formats what it parses back to the same reference', () => {
    for (const s of ['ghcr.io/ebpm/sigsnoop', 'ghcr.io/ebpm/sigsnoop:1.2.0', `localhost:5000/a/b:v1@${D}`, 'ghcr.io/x/y@~2.1']) {
      expect(formatReference(parseReference(s))).toBe(s);
      expect(parseReference(formatReference(parseReference(s)))).toEqual(parseReference(s));
    }
  });
});

describe('versions as tags', () => {
  it('maps + to _ and back', () => {
    expect(versionToTag('1.2.3+build.7')).toBe('1.2.3_build.7');
    expect(versionToTag('1.2.3-rc.1')).toBe('1.2.3-rc.1');
    expect(tagToVersion('1.2.3_build.7')).toBe('1.2.3+build.7');
    expect(tagToVersion('v1.2.3')).toBe('v1.2.3');
    expect(tagToVersion('latest')).toBeUndefined();
    expect(tagToVersion('1.2')).toBeUndefined();
    expect(tagToVersion('1.2.3_a_b')).toBeUndefined();
  });
});

describe('pickVersion', () => {
  const tags = ['latest', '0.9.0', '1.0.0', '1.2.0', '1.2.5_build.7', '1.3.0-rc.1', '2.0.0', 'v2.1.0', '2.2.0-beta', 'main', 'sha256-abc'];
  const cases: Array<[string | undefined, boolean, string | undefined]> = [
    ['1.2', false, '1.2.5_build.7'],
    ['^1', false, '1.2.5_build.7'],
    ['^1', true, '1.3.0-rc.1'],
    ['~2', false, 'v2.1.0'],
    ['>=2.2.0-0', false, '2.2.0-beta'],
    ['^3', false, undefined],
    ['1.0.0', false, '1.0.0'],
    ['*', false, 'v2.1.0'],
    [undefined, false, 'latest'],
    // npm's latest: the highest release, never a pre-release, whatever the `latest` tag.
    ['latest', false, 'v2.1.0'],
    ['latest', true, 'v2.1.0'],
  ];
  it.each(cases)('range %s (pre-releases %s) → %s', (range, includePrerelease, want) => {
    expect(pickVersion(tags, range, { includePrerelease })).toBe(want);
  });

  it('without latest, a bare name takes the highest stable version (any with pre-releases)', () => {
    const noLatest = tags.filter((t) => t !== 'latest');
    expect(pickVersion(noLatest, undefined)).toBe('v2.1.0');
    expect(pickVersion(['1.0.0', '2.0.0-rc.1'], undefined)).toBe('1.0.0');
    expect(pickVersion(['1.0.0', '2.0.0-rc.1'], undefined, { includePrerelease: true })).toBe('2.0.0-rc.1');
    expect(pickVersion(['main', 'dev'], undefined)).toBeUndefined();
  });

  it('breaks ties between equal versions the same way whatever the order', () => {
    const same = ['1.0.0', 'v1.0.0', '1.0.0_b.1', '1.0.0_b.2'];
    expect(pickVersion(same, '1')).toBe('1.0.0_b.2');
    expect(pickVersion([...same].reverse(), '1')).toBe('1.0.0_b.2');
    expect(pickVersion(['v1.0.0', '1.0.0'], '1')).toBe('v1.0.0');
    expect(pickVersion(['1.0.0', 'v1.0.0'], '1')).toBe('v1.0.0');
  });
});
