// The library's declarations (package.json "exports" → "types"): tsc emits those of src/api/index.ts
// and what it reaches into dist/types/, and dist/index.d.ts points there. Run after build.mjs,
// which empties dist/.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { rmSync, writeFileSync } from 'node:fs';

rmSync(new URL('../dist/types', import.meta.url), { recursive: true, force: true });
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', 'tsconfig.api.json'], { stdio: 'inherit' });
writeFileSync(new URL('../dist/index.d.ts', import.meta.url), "export * from './types/api/index.js';\n");
