// "Did you mean" for package names (issue 17, item 4): a reference or path that names nothing gets
// the stored package name, or the entry of its directory, closest to it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { runEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { packageLayout, sandbox, type Sandbox } from './helpers.js';

describeWith(['clang'], 'guesses for package names', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = sandbox();
    const pkg = await packageLayout(join(sb.root, 'src', 'sigsnoop'), { version: '1.2.0' });
    expect((await runEbpm(['push', pkg.dir], { env: sb.env })).code).toBe(0);
    expect((await runEbpm(['pull', 'sigsnoop:1.2.0'], { env: sb.env })).code).toBe(0);
  });

  const failure = (stderr: string) => ({ code: 1, signal: null, stdout: '', stderr });

  it('a registry reference to a repository nobody pushed gets the stored name closest to it', async () => {
    const missing = 'local.invalid: repository sigsnop not found\nhint: did you mean sigsnoop?\n';
    expect(await runEbpm(['pull', 'sigsnop'], { env: sb.env })).toEqual(failure(`error: pull sigsnop: resolve local.invalid/sigsnop: ${missing}`));
    expect(await runEbpm(['inspect', 'sigsnop'], { env: sb.env })).toEqual(failure(`error: inspect sigsnop: resolve local.invalid/sigsnop: ${missing}`));
    expect(await runEbpm(['verify', 'sigsnop'], { env: sb.env })).toEqual(failure(`error: verify sigsnop: resolve local.invalid/sigsnop: ${missing}`));
    // Nothing near: the registry's own hint stays.
    expect(await runEbpm(['pull', 'zzz'], { env: sb.env })).toEqual(
      failure(
        'error: pull zzz: resolve local.invalid/zzz: local.invalid: repository zzz not found\nhint: no such repository on local.invalid; check the name, or push to create it\n',
      ),
    );
  });

  it('the store commands say which stored name was meant', async () => {
    expect(await runEbpm(['rm', 'sigsnop:1.2.0'], { env: sb.env })).toEqual(
      failure('error: rm sigsnop:1.2.0: local.invalid/sigsnop:1.2.0: not in the local store\nhint: did you mean sigsnoop?\n'),
    );
    expect(await runEbpm(['tag', 'sigsnop', 'other'], { env: sb.env })).toEqual(
      failure('error: tag sigsnop: local.invalid/sigsnop: not in the local store\nhint: did you mean sigsnoop?\n'),
    );
    // A version the store lacks of a name it holds is no typo of the name.
    expect(await runEbpm(['rm', 'sigsnoop:9'], { env: sb.env })).toEqual(
      failure('error: rm sigsnoop:9: local.invalid/sigsnoop:9: not in the local store\nhint: see what is stored with `ebpm ls`, or pull it first\n'),
    );
  });

  it('a mistyped path gets the entry of its directory closest to it', async () => {
    const cwd = join(sb.root, 'work');
    mkdirSync(join(cwd, 'tools', 'opensnoop'), { recursive: true });
    expect(await runEbpm(['run', 'tools/opensnop'], { env: sb.env, cwd })).toEqual(
      failure(
        'error: tools/opensnop: no such file or directory, and resolve local.invalid/tools/opensnop: local.invalid: repository tools/opensnop not found\n' +
          'hint: did you mean tools/opensnoop?\n',
      ),
    );
    expect(await runEbpm(['inspect', './tools/opensnop'], { env: sb.env, cwd })).toEqual(
      failure('error: inspect ./tools/opensnop: no such file or directory\nhint: did you mean ./tools/opensnoop?\n'),
    );
  });
});
