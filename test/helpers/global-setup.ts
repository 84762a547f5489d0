// Global set-up for the suite, once before every test file: a temp root per run, and the CLI
// bundle (dist/) and snapshot that tests spawning bin/ebpm.js run, built from the sources as they are.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'ebpm-test-'));
  process.env.EBPM_TEST_ROOT = root;
  // Beside it, one that others may enter: what an unprivileged user the tests run as must read.
  const open = mkdtempSync(join(tmpdir(), 'ebpm-test-open-'));
  chmodSync(open, 0o755);
  process.env.EBPM_TEST_OPEN_ROOT = open;
  // Caches (vmlinux.h) survive between runs so the suite stays fast.
  process.env.EBPM_CACHE_DIR ??= join(process.cwd(), '.cache', 'test');
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: new URL('../..', import.meta.url).pathname, stdio: 'inherit' });
  return () => {
    for (const dir of [root, open]) rmSync(dir, { recursive: true, force: true });
  };
}
