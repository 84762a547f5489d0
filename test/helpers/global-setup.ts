// Global set-up for the suite: nothing shared yet beyond a clean temp root per run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'ebpm-test-'));
  process.env.EBPM_TEST_ROOT = root;
  // Caches (vmlinux.h) survive between runs so the suite stays fast.
  process.env.EBPM_CACHE_DIR ??= join(process.cwd(), '.cache', 'test');
  return () => rmSync(root, { recursive: true, force: true });
}
