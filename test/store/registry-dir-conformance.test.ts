// The storage conformance suite over the embedded registry: one fresh repository per store. Its
// tags are a registry's, bare: what a copy annotates them with is not kept.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRegistry } from '../../src/store/registry-dir.js';
import { conformance, STORE_PROFILE } from '../content/conformance.js';

const registry = new LocalRegistry('local.invalid', mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'registry-conf-')));
let n = 0;
conformance('the embedded registry (LocalRepository)', async () => registry.repository(`ebpm/conformance-${n++}`), {
  ...STORE_PROFILE,
  tagAnnotations: false,
});
