// A credential helper runs with a minimal environment: a helper script that dumps what it was
// given sees PATH, HOME and the variables helpers need, never EBPM_PASSWORD or other secrets.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { dockerCredentials } from '../../src/registry/credentials.js';

it('gives a credential helper PATH, HOME and the helper variables, nothing else', async () => {
  const dir = mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), 'helper-env-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const dump = join(dir, 'env.json');
  writeFileSync(
    join(bin, 'docker-credential-dump'),
    `#!/usr/bin/env node
require('fs').writeFileSync(${JSON.stringify(dump)}, JSON.stringify(process.env));
process.stdout.write(JSON.stringify({ ServerURL: 'r.example', Username: 'u', Secret: 's' }));
`,
  );
  chmodSync(join(bin, 'docker-credential-dump'), 0o755);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'dump' }));
  const env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: dir,
    DOCKER_CONFIG: dir,
    EBPM_PASSWORD: 'ebpm-secret',
    EBPM_REGISTRY: 'r.example/team',
    GITHUB_TOKEN: 'ghp-secret',
    SSH_AUTH_SOCK: '/run/ssh.sock',
    DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
    XDG_RUNTIME_DIR: '/run/user/1000',
    AWS_PROFILE: 'ci',
    PASSWORD_STORE_DIR: join(dir, 'pass'),
  };
  expect(await dockerCredentials(env)('r.example')).toEqual({ kind: 'basic', username: 'u', password: 's' });
  expect(JSON.parse(readFileSync(dump, 'utf8'))).toEqual({
    PATH: env.PATH,
    HOME: dir,
    DOCKER_CONFIG: dir,
    DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
    XDG_RUNTIME_DIR: '/run/user/1000',
    AWS_PROFILE: 'ci',
    PASSWORD_STORE_DIR: join(dir, 'pass'),
  });
});
