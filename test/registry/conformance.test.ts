// The storage conformance suite over the remote Repository, against the real docker-registry:
// one fresh repository per store. A registry mounts, has no untag, keeps no tag annotations and
// takes a manifest put by digest; everything else is the contract every store keeps.
import { afterAll, beforeAll } from 'vitest';
import type { Registry } from '../../src/registry/client.js';
import { conformance } from '../content/conformance.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { registry } from './fixtures.js';

describeWith(['registry'], 'the remote Repository', () => {
  let reg: RunningRegistry;
  let client: Registry;
  let n = 0;
  beforeAll(async () => {
    reg = await startRegistry();
    client = registry(reg.host);
  });
  afterAll(() => reg?.stop());
  conformance('Repository', async () => client.repository(`ebpm/conformance-${n++}`), {
    untag: false,
    mount: true,
    tagAnnotations: false,
    refusesDigestTag: false,
  });
});
