import { EbpmError } from '../../core/errors.js';
import { DEFAULT_SOCKET, request } from '../../services/agent/control.js';
import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { writeJson } from '../dist.js';
import { writeText } from '../format.js';

const cmd: Command = {
  name: 'start',
  summary: 'Start an agent instance that was stopped or ended.',
  usage: 'ebpm start <name> [--socket <path>] [--json]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, { ...JSON_FLAG, socket: { type: 'string', default: DEFAULT_SOCKET } });
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'start: expected one instance name', { hint: `usage: ${cmd.usage}` });
    await request(values.socket, { op: 'start', name: positionals[0]! });
    if (values.json) writeJson(io, { name: positionals[0], state: 'started' });
    else writeText(io.stderr, `${positionals[0]}: started\n`);
    return 0;
  },
};

export default cmd;
