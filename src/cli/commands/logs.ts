import { EbpmError } from '../../core/errors.js';
import { DEFAULT_SOCKET, request } from '../../api/agent/control.js';
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { writeText } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  follow: { type: 'boolean', short: 'f', default: false, description: 'keep printing new lines as they come' },
  lines: { type: 'string', default: '100', valueName: '<n>', description: 'print this many of the last lines' },
  socket: { type: 'string', default: DEFAULT_SOCKET, valueName: '<path>', description: "the agent's control socket" },
} as const satisfies Flags;

const cmd: Command = {
  name: 'logs',
  summary: "Print an agent instance's recent output lines; -f follows new ones.",
  usage: 'ebpm logs <name> [-f] [--lines <n>] [--socket <path>] [--json]',
  flags: FLAGS,
  examples: ['ebpm logs opensnoop -f', 'ebpm logs opensnoop --lines 20 --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'logs: expected one instance name', { hint: `usage: ${cmd.usage}` });
    if (!/^\d+$/.test(values.lines)) throw new EbpmError('USAGE', `logs: --lines ${values.lines}: expected a whole number`, { hint: `usage: ${cmd.usage}` });
    await request(values.socket, { op: 'logs', name: positionals[0]!, lines: Number(values.lines), follow: values.follow }, (o) =>
      // With --json, one {"line":…} object a line, as the agent sends them.
      values.json ? io.stdout.write(`${JSON.stringify({ line: o.line })}\n`) : writeText(io.stdout, `${String(o.line)}\n`),
    );
    return 0;
  },
};

export default cmd;
