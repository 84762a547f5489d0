import { expect, it } from 'vitest';
import { suggest } from '../../src/core/suggest.js';

it.each([
  ['sigsnop', ['sigsnoop', 'opensnoop'], 'sigsnoop'],
  ['frce', ['force', 'json', 'from'], 'force'],
  ['pusj', ['push', 'pull'], 'push'],
  ['lsit', ['ls', 'list'], 'list'],
  ['xyz', ['push', 'pull'], undefined],
  ['push', ['push'], undefined],
])('suggest(%s) among %j is %s', (word, candidates, want) => {
  expect(suggest(word, candidates)).toBe(want);
});
