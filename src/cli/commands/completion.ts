import { EbpmError } from '../../core/errors.js';
import type { Command } from '../command.js';
import { completionScript, SHELLS, type Shell } from '../completion.js';

/**
 * `completionCommand` is `ebpm completion <shell>`; `all` loads every command (main.ts's table),
 * whose flags the script completes.
 */
export function completionCommand(all: () => Promise<readonly Command[]>): Command {
  const cmd: Command = {
    name: 'completion',
    summary: "Print the shell completion script of bash, zsh or fish: commands, their flags and the store's package references.",
    usage: `ebpm completion ${SHELLS.join(' | ')}`,
    flags: {},
    examples: [
      'source <(ebpm completion bash)',
      'ebpm completion bash > /etc/bash_completion.d/ebpm',
      'ebpm completion fish > ~/.config/fish/completions/ebpm.fish',
    ],
    async run(args, io) {
      const [shell, extra] = args;
      if (shell === undefined || extra !== undefined || !(SHELLS as readonly string[]).includes(shell)) {
        throw new EbpmError(
          'USAGE',
          `completion: ${shell === undefined ? 'no shell given' : extra === undefined ? `unknown shell ${JSON.stringify(shell)}` : `unexpected argument ${JSON.stringify(extra)}`}`,
          {
            hint: `usage: ${cmd.usage}`,
          },
        );
      }
      io.stdout.write(completionScript(shell as Shell, await all()));
      return 0;
    },
  };
  return cmd;
}
