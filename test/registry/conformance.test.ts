// The storage conformance suite over the remote Repository, against the real docker-registry:
// one fresh repository per store. A registry mounts, has no untag, keeps no tag annotations and
// takes a manifest put by digest. Two differences are today's behaviour, not the contract:
// fetching a missing blob or resolving a missing tag gives the registry's BLOB_UNKNOWN or
// MANIFEST_UNKNOWN (deleting a missing blob gives NOT_FOUND), and a source whose bytes do
// not match their digest is blamed on the destination, which verified them.
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
    missing: { fetch: 'BLOB_UNKNOWN', resolve: 'MANIFEST_UNKNOWN', delete: 'NOT_FOUND' },
    lyingSourceBlamed: 'destination',
  });
});
