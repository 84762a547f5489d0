// Why `ebpm version` says the start-up snapshot is not in use: bin/ebpm.js's conditions, each.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { snapshotUse } from '../../src/cli/build-facts.js';
import { sandboxDir } from '../helpers/cli.js';

describe('snapshotUse', () => {
  const root = sandboxDir('facts-');
  const dist = join(root, 'dist');
  const node = join(root, 'node');
  const other = join(root, 'other-node');
  const MAKE = `node ${join(root, 'scripts', 'snapshot.mjs')}`;
  mkdirSync(dist);
  writeFileSync(node, 'a node');
  writeFileSync(other, 'another node');

  it('is in use when node was given --snapshot-blob', () => {
    expect(snapshotUse(dist, ['--snapshot-blob', join(dist, 'ebpm.blob')], node)).toEqual({ inUse: true });
  });

  it('names each condition that failed, in the launcher order', () => {
    expect(snapshotUse(dist, [], node)).toEqual({ inUse: false, reason: `${join(dist, 'ebpm.blob')} is missing (${MAKE} makes it)` });
    writeFileSync(join(dist, 'ebpm.blob'), 'snapshot');
    writeFileSync(join(dist, 'ebpm.blob.node'), `${node}\n`);
    expect(snapshotUse(dist, [], node)).toEqual({
      inUse: false,
      reason: `${join(dist, 'ebpm.blob.node')} names no V8 flags: an older ebpm made it (${MAKE} makes a new one)`,
    });
    writeFileSync(join(dist, 'ebpm.blob.node'), `${other}\n--no-sparkplug\n`);
    expect(snapshotUse(dist, [], node)).toEqual({ inUse: false, reason: `it was made by ${other}, and this is ${node} (${MAKE} makes one for it)` });
    writeFileSync(join(dist, 'ebpm.blob.node'), `${node}\n--no-sparkplug\n`);
    execFileSync('touch', ['-d', '2020-01-01', join(dist, 'ebpm.blob.node')]);
    expect(snapshotUse(dist, [], node)).toEqual({ inUse: false, reason: `${node} changed since it was made (${MAKE} makes a new one)` });
    execFileSync('touch', ['-r', node, join(dist, 'ebpm.blob.node')]);
    expect(snapshotUse(dist, [], node)).toEqual({ inUse: false, reason: 'started as node bin/ebpm.js, or by the agent' });
  });
});
