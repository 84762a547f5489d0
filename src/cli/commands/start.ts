import { EbpmError } from '../../core/errors.js';
import { DEFAULT_SOCKET, request } from '../../services/agent/control.js';
import { parseFlags, type Command } from '../command.js';
import { writeText } from '../format.js';

const cmd: Command = {
  name: 'start',
  summary: 'Start an agent instance that was stopped or ended.',
  usage: 'ebpm start <name> [--socket <path>]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, { socket: { type: 'string', default: DEFAULT_SOCKET } });
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'start: expected one instance name', { hint: `usage: ${cmd.usage}` });
    await request(values.socket, { op: 'start', name: positionals[0]! });
    writeText(io.stderr, `${positionals[0]}: started\n`);
    return 0;
  },
};

export default cmd;
