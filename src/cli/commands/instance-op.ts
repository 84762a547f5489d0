/** `ebpm stop` and `ebpm start`: one request to the agent's socket about one instance. */
import { EbpmError } from '../../core/errors.js';
import { DEFAULT_SOCKET, request } from '../../api/agent/control.js';
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { writeJson } from '../dist.js';
import { writeText } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  socket: { type: 'string', default: DEFAULT_SOCKET, valueName: '<path>', description: "the agent's control socket" },
} as const satisfies Flags;

/** `instanceCommand` is the command that asks the agent to `op` an instance; `done` names the state it is then in. */
export function instanceCommand(op: 'start' | 'stop', done: 'started' | 'stopped', summary: string): Command {
  const cmd: Command = {
    name: op,
    summary,
    usage: `ebpm ${op} <name> [--socket <path>] [--json]`,
    flags: FLAGS,
    examples: [`ebpm ${op} opensnoop`],
    async run(args, io) {
      const { values, positionals } = parseFlags(cmd, args, FLAGS);
      if (positionals.length !== 1) throw new EbpmError('USAGE', `${op}: expected one instance name`, { hint: `usage: ${cmd.usage}` });
      await request(values.socket, { op, name: positionals[0]! });
      if (values.json) writeJson(io, { name: positionals[0], state: done });
      else writeText(io.stderr, `${positionals[0]}: ${done}\n`);
      return 0;
    },
  };
  return cmd;
}
