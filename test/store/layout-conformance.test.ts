import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conformance } from '../content/conformance.js';
import { OciLayout } from '../../src/store/layout.js';

const root = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'layout-conf-'));
let n = 0;
conformance('OciLayout', async () => OciLayout.open(join(root, String(n++))));
