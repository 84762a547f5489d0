// examples/api/opensnoop.mjs as a user runs it: `node` on the example, `import … from 'ebpm'`
// resolving to the bundle through package.json "exports", against a real registry and kernel.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runEbpm, sandboxDir } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { ownCopy, tempDir } from '../run/spawn.js';

describe('examples/api/opensnoop.mjs', () => {
  let registry: RunningRegistry;
  let env: Record<string, string>;

  beforeAll(async () => {
    registry = await startRegistry();
    env = cliEnv(sandboxDir('api-example-'), { EBPM_REGISTRY: registry.host });
    const dir = ownCopy('opensnoop', tempDir(), 'trace_openat_', 'apiex_openat_');
    const pushed = await runEbpm(['push', dir], { env });
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
  });
  afterAll(() => registry?.stop());

  it('pulls the package from the registry, runs it on its own process and prints its first events', () => {
    const out = execFileSync(process.execPath, [join(REPO, 'examples/api/opensnoop.mjs'), `${registry.host}/opensnoop:2.0.0`, '3'], {
      env,
      cwd: REPO,
      encoding: 'utf8',
    });
    expect(out).toBe(
      [
        `pulled ${registry.host}/opensnoop:2.0.0`,
        'running opensnoop 2.0.0',
        'node /nonexistent/ebpm-example-0: -2',
        'node /nonexistent/ebpm-example-1: -2',
        'node /nonexistent/ebpm-example-2: -2',
        'stopped (max-events) after 3 events',
        '',
      ].join('\n'),
    );
  });

  it('says what failed as a user-fixable error when the reference names nothing', () => {
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(process.execPath, [join(REPO, 'examples/api/opensnoop.mjs'), `${registry.host}/nosuchtool:1.0.0`], {
        env,
        cwd: REPO,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (e) {
      failure = e as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    const ref = `${registry.host}/nosuchtool:1.0.0`;
    expect(failure?.stderr).toBe(
      `NOT_FOUND: pull ${ref}: resolve ${ref}: resolve nosuchtool:1.0.0: ${registry.host}: manifest nosuchtool:1.0.0 not found\nhint: no such tag or digest in this repository; check the reference\n`,
    );
  });
});
