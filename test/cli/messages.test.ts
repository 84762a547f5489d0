// Messages that must not lie (issue 17): each one as a user meets it, from the built CLI.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runEbpm, sandboxDir } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry } from '../helpers/registry.js';
import { packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

describeWith(['clang'], 'messages against the embedded registry', () => {
  let sb: Sandbox;
  const pkgs: Record<string, BuiltPackage> = {};

  beforeAll(async () => {
    sb = sandbox();
    for (const v of ['1.2.0', '2.0.0-rc.1']) {
      pkgs[v] = await packageLayout(join(sb.root, 'src', v), { version: v });
      expect((await runEbpm(['push', pkgs[v]!.dir], { env: sb.env })).code).toBe(0);
    }
  });

  it('a missing tag of an existing repository is the registry lacking it, not the store', async () => {
    expect(await runEbpm(['pull', 'sigsnoop:1.3'], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr:
        'error: pull sigsnoop:1.3: resolve local.invalid/sigsnoop:1.3: local.invalid/sigsnoop:1.3: not found\n' +
        'hint: local.invalid/sigsnoop has no tag 1.3; check the version, or push it\n',
    });
  });

  it('a range naming a pre-release matches the later ones of its series', async () => {
    const r = await runEbpm(['pull', 'sigsnoop@2.0.0-rc', '--json'], { env: sb.env });
    expect([r.code, JSON.parse(r.stdout).reference]).toEqual([0, 'local.invalid/sigsnoop:2.0.0-rc.1']);
  });

  it('run of a name that is no path and no package says both, and the stored name it is closest to', async () => {
    expect((await runEbpm(['pull', 'sigsnoop:1.2.0'], { env: sb.env })).code).toBe(0);
    expect(await runEbpm(['run', 'sigsnop'], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr:
        'error: sigsnop: no such file or directory, and resolve local.invalid/sigsnop: local.invalid: repository sigsnop not found\n' +
        'hint: did you mean sigsnoop?\n',
    });
    expect(await runEbpm(['run', 'sigsnoop:9.9'], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr:
        'error: sigsnoop:9.9: no such file or directory, and resolve local.invalid/sigsnoop:9.9: local.invalid/sigsnoop:9.9: not found\n' +
        'hint: check the name and version; `ebpm ls` lists the stored packages\n',
    });
  });

  it("a mistyped flag of a package is named, with the package's flag it is closest to", async () => {
    expect(await runEbpm(['run', pkgs['1.2.0']!.dir, '--filtred-pid', '1'], { env: sb.env })).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: 'error: run: unknown flag: --filtred-pid\nhint: did you mean --filtered-pid?\n',
    });
  });

  it('--json may come before the command', async () => {
    const r = await runEbpm(['--json', 'ls'], { env: sb.env });
    expect([r.code, JSON.parse(r.stdout).map((e: { reference: string }) => e.reference)]).toEqual([
      0,
      ['local.invalid/sigsnoop:1.2.0', 'local.invalid/sigsnoop:2.0.0-rc.1'],
    ]);
    const before = await runEbpm(['--json', 'run', pkgs['1.2.0']!.dir, '--filtred-pid', '1'], { env: sb.env });
    expect([before.code, before.stdout]).toEqual([
      2,
      `${JSON.stringify({ error: { code: 'USAGE', message: 'run: unknown flag: --filtred-pid', hint: 'did you mean --filtered-pid?' } })}\n`,
    ]);
    expect(await runEbpm(['run', pkgs['1.2.0']!.dir, '--filtred-pid', '1', '--json'], { env: sb.env })).toEqual(before);
  });

  it('a policy or config file that is not JSON says so, once, without a stack', async () => {
    const policy = join(sb.root, 'bad-policy.json');
    writeFileSync(policy, '{"version": 1,');
    expect(await runEbpm(['pull', 'sigsnoop:1.2.0'], { env: { ...sb.env, EBPM_TRUST_POLICY: policy } })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: pull sigsnoop:1.2.0: trust policy ${policy}: policy: not valid JSON\nhint: fix the file; a trust policy holds version (1), keys, trustedRoots and scopes\n`,
    });
    const config = join(sb.root, 'bad-config.json');
    writeFileSync(config, '{"defaultRegistry": ');
    expect(await runEbpm(['ls'], { env: { ...sb.env, EBPM_CONFIG: config } })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: config ${config}: (root): not valid JSON\nhint: fix the file: fields are defaultRegistry, defaultNamespace, insecure [hosts], registries [host/namespace]\n`,
    });
  });

  it('importing a path that is no file says what is wrong with the path', async () => {
    const missing = join(sb.root, 'missing.tar');
    expect(await runEbpm(['import', missing], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: import ${missing}: no such file or directory\nhint: give the path of a tar written by ebpm export\n`,
    });
    expect(await runEbpm(['import', sb.root], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: `error: import ${sb.root}: a directory, not a tar archive\nhint: give the path of a tar written by ebpm export\n`,
    });
  });
});

describeWith(['registry'], 'messages of a registry with accounts', () => {
  it('a refused login points at the credentials, not at `ebpm login` itself', async () => {
    const secured = await startRegistry({ auth: 'htpasswd' });
    try {
      const sb = sandbox();
      expect(await runEbpm(['login', secured.host, '-u', 'alice', '-p', 'nope'], { env: sb.env })).toEqual({
        code: 1,
        signal: null,
        stdout: '',
        stderr: `warning: a password given with -p shows in ps and the shell history; use --password-stdin\nerror: ${secured.host}: unauthorized: authentication required\nhint: check the user name and password (or token) for ${secured.host}\n`,
      });
    } finally {
      await secured.stop();
    }
  });
});

describe('usage mistakes', () => {
  const usageError = (stderr: string) => ({ code: 2, signal: null, stdout: '', stderr });

  it('an unknown flag is named as docker names it, with the flag it is closest to', async () => {
    expect(await runEbpm(['ls', '--jsn'])).toEqual(usageError('error: ls: unknown flag: --jsn\nhint: did you mean --json?\n'));
    expect(await runEbpm(['ls', '-z'])).toEqual(usageError('error: ls: unknown flag: -z\nhint: usage: ebpm ls [<filter>...] [-q] [--json]\n'));
    expect(await runEbpm(['ls', '--json=1'])).toEqual(usageError('error: ls: --json takes no value\nhint: usage: ebpm ls [<filter>...] [-q] [--json]\n'));
    expect((await runEbpm(['pull', '--pull'])).stderr.split('\n')[0]).toBe('error: pull: --pull needs a value');
  });

  it('an unknown command gets the command it is closest to', async () => {
    expect(await runEbpm(['pusj'])).toEqual(usageError('error: unknown command "pusj"\nhint: did you mean ebpm push?\n'));
    expect(await runEbpm(['frobnicate'])).toEqual(usageError('error: unknown command "frobnicate"\nhint: run `ebpm --help` for the list of commands\n'));
  });

  it('init of a bad name is a usage error, exit 2, creating nothing', async () => {
    const cwd = sandboxDir('init-');
    expect(await runEbpm(['init', 'Bad_Name'], { cwd })).toEqual(
      usageError(
        'error: init Bad_Name: not a package name\nhint: use lower-case letters and digits with single . _ - separators, at most 128 characters (like my-tool)\n',
      ),
    );
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('ebpm -v prints the version', async () => {
    for (const a of ['-v']) expect(await runEbpm([a])).toEqual({ code: 0, signal: null, stdout: 'ebpm 0.1.0\n', stderr: '' });
  });
});
