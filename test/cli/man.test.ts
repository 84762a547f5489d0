// The man page (issue 17, item 11): ebpm(1) is rendered from the tables help uses, written by
// the build where package.json's "man" names it, and man reads it without a warning.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runEbpm } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { COMMAND_NAMES } from '../helpers/cli.js';

describeWith(['man'], 'ebpm(1)', () => {
  const page = join(REPO, JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).man as string);

  it('is what ebpm help --man prints, and the build wrote it where package.json says', async () => {
    expect(page).toBe(join(REPO, 'dist', 'ebpm.1'));
    const r = await runEbpm(['help', '--man']);
    expect([r.code, r.stderr, r.stdout]).toEqual([0, '', readFileSync(page, 'utf8')]);
    expect(r.stdout.split('\n').slice(0, 4)).toEqual(['.TH EBPM 1 "" "ebpm 0.1.0" "User Commands"', '.nh', '.ad l', '.SH NAME']);
  });

  it('groff reads it without a warning, and man shows each command with its flags and examples', () => {
    const checked = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', page], { encoding: 'utf8' });
    expect([checked.status, checked.stderr]).toEqual([0, '']);
    const text = execFileSync('man', ['-l', page], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MANWIDTH: '80', LC_ALL: 'C.UTF-8' } });
    const lines = text.split('\n');
    expect(lines.slice(lines.indexOf('   logs'), lines.indexOf('   stop'))).toEqual([
      '   logs',
      '       usage: ebpm logs <name> [-f] [--lines <n>] [--socket <path>] [--json]',
      '',
      "       Print an agent instance's recent output lines; -f follows new ones.",
      '',
      '       --json print the result as JSON on stdout',
      '',
      '       -f, --follow',
      '              keep printing new lines as they come',
      '',
      '       --lines <n>',
      '              print this many of the last lines (default 100)',
      '',
      '       --socket <path>',
      "              the agent's control socket (default /run/ebpm/agent.sock)",
      '',
      '       Examples:',
      '',
      '           ebpm logs opensnoop -f',
      '           ebpm logs opensnoop --lines 20 --json',
      '',
    ]);
    expect(lines.filter((l) => /^ {3}[a-z]+$/.test(l)).map((l) => l.trim())).toEqual(COMMAND_NAMES);
  });
});
