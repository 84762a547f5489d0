// `pinTag`'s refusal: what was asked for in words, and the highest versions there in semver order.
import { describe, expect, it } from 'vitest';
import { parseReference } from '../../src/core/reference.js';
import { pinTag } from '../../src/services/resolve.js';
import { caught } from '../content/fixtures.js';

const refusal = async (input: string, tags: string[], includePrerelease = false) => {
  const e = await caught((async () => pinTag(parseReference(input, { registry: 'r.example' }), tags, { includePrerelease }))());
  return { code: e.code, message: e.message, hint: (e as unknown as { hint: string }).hint, versions: e.data.versions };
};

describe('pinTag', () => {
  it('names the range no version matches and lists the highest versions in semver order', async () => {
    const tags = ['1.10.0', '1.9.0', '1.2.0', 'latest', '1.11.0', '1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0', '1.8.0', 'v1.0.0', '2.0.0-rc.1', 'main'];
    expect(await refusal('x@3', tags)).toEqual({
      code: 'VERSION_NOT_FOUND',
      message: 'r.example/x: no version matches 3',
      hint: 'versions there (the highest 10 of 12): 1.3.0, 1.4.0, 1.5.0, 1.6.0, 1.7.0, 1.8.0, 1.9.0, 1.10.0, 1.11.0, 2.0.0-rc.1 (pre-releases need --prerelease)',
      versions: ['v1.0.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0', '1.8.0', '1.9.0', '1.10.0', '1.11.0', '2.0.0-rc.1'],
    });
  });

  it('says what a bare name wanted, and when there are no versions at all', async () => {
    expect(await refusal('x', ['2.0.0-rc.1', '2.0.0-rc.10', '2.0.0-rc.2'])).toEqual({
      code: 'VERSION_NOT_FOUND',
      message: 'r.example/x: no latest tag and no stable version',
      hint: 'versions there: 2.0.0-rc.1, 2.0.0-rc.2, 2.0.0-rc.10 (pre-releases need --prerelease)',
      versions: ['2.0.0-rc.1', '2.0.0-rc.2', '2.0.0-rc.10'],
    });
    expect(await refusal('x', ['main', 'dev'], true)).toEqual({
      code: 'VERSION_NOT_FOUND',
      message: 'r.example/x: no latest tag and no version',
      hint: 'the repository has no version tags; name a tag with name:tag',
      versions: [],
    });
  });
});
