// The library's declarations as a user's program sees them: `import … from 'ebpm'` resolves
// through package.json "exports" to dist/index.d.ts (npm run build:types), and the example
// type-checks against it with tsc's strictest reading of .d.ts files.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/objects.js';

describe('the declarations of ebpm', () => {
  it('type-check examples/api/opensnoop.mjs', () => {
    execFileSync(process.execPath, ['scripts/build-types.mjs'], { cwd: REPO, stdio: 'pipe' });
    const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = ['--noEmit', '--allowJs', '--checkJs', '--strict', '--skipLibCheck', 'false', '--types', 'node'];
    const module = ['--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
    expect(execFileSync(process.execPath, [tsc, ...flags, ...module, 'examples/api/opensnoop.mjs'], { cwd: REPO, encoding: 'utf8' })).toBe('');
  }, 120_000);
});
