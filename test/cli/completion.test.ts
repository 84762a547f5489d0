// Shell completion (issue 17, item 11): the bash script, sourced in a real bash, offers the
// commands, a command's flags, the values of a flag with a fixed set and the stored references,
// exactly; zsh runs the same function, and fish's own complete lines come from the same tables.
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { BIN, runEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { packageLayout, sandbox, type Sandbox } from './helpers.js';

describeWith(['clang'], 'ebpm completion', () => {
  let sb: Sandbox;
  let script: string;
  let cwd: string;

  beforeAll(async () => {
    sb = sandbox();
    const pkg = await packageLayout(join(sb.root, 'src', 'sigsnoop'), { version: '1.2.0' });
    expect((await runEbpm(['push', pkg.dir], { env: sb.env })).code).toBe(0);
    expect((await runEbpm(['pull', 'sigsnoop:1.2.0'], { env: sb.env })).code).toBe(0);
    const r = await runEbpm(['completion', 'bash'], { env: sb.env });
    expect([r.code, r.stderr]).toEqual([0, '']);
    script = join(sb.root, 'ebpm.bash');
    writeFileSync(script, r.stdout);
    cwd = join(sb.root, 'work');
    mkdirSync(join(cwd, 'tools'), { recursive: true });
  });

  /**
   * What Tab offers after `line` (the cursor at its end) in a bash that sourced the script, called
   * as bash calls it: COMP_LINE and COMP_POINT, and COMP_WORDS and COMP_CWORD split at bash's
   * default COMP_WORDBREAKS, which makes a reference's ':' a word of its own.
   */
  function complete(line: string): string[] {
    const typed = line.replace(/^ebpm\b/, BIN);
    const words = typed.split(/[ ]+|(:)/).filter((w) => w !== undefined);
    const program = `source ${script}
COMP_WORDBREAKS=$' \\t\\n"\\'><=;|&(:'
COMP_LINE=$1; COMP_POINT=\${#COMP_LINE}
shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_ebpm
printf '%s\\n' "\${COMPREPLY[@]}"
`;
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program, 'bash', typed, ...words], { cwd, env: sb.env, encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  it('offers the commands and the global flags', () => {
    expect(complete('ebpm pu')).toEqual(['push', 'pull']);
    expect(complete('ebpm --plain-http h:5000 pu')).toEqual(['push', 'pull']);
    expect(complete('ebpm --')).toEqual(['--json', '--plain-http', '--help', '--version']);
    expect(complete('ebpm help ver')).toEqual(['versions', 'verify', 'version']);
    expect(complete('ebpm completion ')).toEqual(['bash', 'zsh', 'fish']);
  });

  it("offers a command's flags, short ones too, and the values of a flag with a fixed set", () => {
    expect(complete('ebpm logs -')).toEqual(['--json', '--follow', '-f', '--lines', '--socket', '--help']);
    expect(complete('ebpm pull --p')).toEqual(['--pull', '--prerelease', '--platform']);
    expect(complete('ebpm pull --pull ')).toEqual(['always', 'missing', 'never']);
    expect(complete('ebpm init x --template w')).toEqual(['wasm-c']);
    expect(complete('ebpm run x --max-m')).toEqual(['--max-memory']);
  });

  it('offers the stored references where a command takes one, and paths where it takes a path', () => {
    expect(complete('ebpm rm ')).toEqual(['local.invalid/sigsnoop:1.2.0']);
    // bash replaces the text after the last ':' only.
    expect(complete('ebpm rm local.invalid/sigsnoop:1')).toEqual(['1.2.0']);
    expect(complete('ebpm run ')).toEqual(['local.invalid/sigsnoop:1.2.0', 'tools']);
    expect(complete('ebpm pull ')).toEqual([]);
    expect(complete('ebpm build t')).toEqual(['tools']);
  });

  describeWith(['zsh'], 'in zsh', () => {
    it('runs the same function through bashcompinit (zsh then keeps the candidates that match the word)', async () => {
      const zsh = await runEbpm(['completion', 'zsh'], { env: sb.env });
      const file = join(sb.root, 'ebpm.zsh');
      writeFileSync(file, zsh.stdout);
      const candidates = (line: string) => {
        const program = `autoload -U compinit && compinit -u
source ${file}
COMP_LINE=$1; COMP_POINT=\${#COMP_LINE}
_ebpm
print -rl -- "\${COMPREPLY[@]}"
`;
        const r = spawnSync('zsh', ['-f', '-c', program, 'zsh', line.replace(/^ebpm\b/, BIN)], { cwd, env: sb.env, encoding: 'utf8' });
        expect([r.status, r.stderr]).toEqual([0, '']);
        return r.stdout.split('\n').filter((l) => l !== '');
      };
      expect(candidates('ebpm logs -')).toEqual(['--json', '--follow', '-f', '--lines', '--socket', '--help']);
      expect(candidates('ebpm pull --pull ')).toEqual(['always', 'missing', 'never']);
      expect(candidates('ebpm completion ')).toEqual(['bash', 'zsh', 'fish']);
      expect(candidates('ebpm rm ')).toEqual(['local.invalid/sigsnoop:1.2.0']);
    });
  });

  describeWith(['fish'], 'in fish', () => {
    it('offers commands, flags with their descriptions, values and stored references', async () => {
      const fish = await runEbpm(['completion', 'fish'], { env: sb.env });
      const file = join(sb.root, 'ebpm.fish');
      writeFileSync(file, fish.stdout);
      // fish completes a command by its name: `ebpm` on PATH is the built CLI.
      const bin = join(sb.root, 'bin');
      mkdirSync(bin, { recursive: true });
      symlinkSync(BIN, join(bin, 'ebpm'));
      const env = { ...sb.env, PATH: `${bin}:${sb.env.PATH}` };
      const candidates = (line: string) => {
        const r = spawnSync('fish', ['--no-config', '-c', `source ${file}; complete -C $argv[1]`, line], { cwd, env, encoding: 'utf8' });
        expect([r.status, r.stderr]).toEqual([0, '']);
        return r.stdout.split('\n').filter((l) => l !== '');
      };
      expect(candidates('ebpm pu')).toEqual([
        'pull\tCopy a package from its registry into the local store: name[:tag], name@<semver range> or name@sha256:<digest>.',
        'push\tPublish a built package (its out/ layout, an OCI layout, or a stored reference) to a registry; name and version come from its metadata.',
      ]);
      expect(candidates('ebpm logs --')).toEqual([
        '--follow\tkeep printing new lines as they come',
        '--json\tprint the result as JSON on stdout',
        '--lines\tprint this many of the last lines',
        '--plain-http\tspeak plain HTTP to this registry',
        "--socket\tthe agent's control socket",
      ]);
      expect(candidates('ebpm completion ')).toEqual(['bash', 'fish', 'zsh']);
      expect(candidates('ebpm rm ')).toEqual(['local.invalid/sigsnoop:1.2.0']);
      expect(candidates('ebpm run ')).toEqual(['local.invalid/sigsnoop:1.2.0', 'tools/']);
    });
  });

  it('an unknown shell is a usage error', async () => {
    expect(await runEbpm(['completion', 'tcsh'], { env: sb.env })).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: 'error: completion: unknown shell "tcsh"\nhint: usage: ebpm completion bash | zsh | fish\n',
    });
  });
});
