import { EbpmError } from '../../core/errors.js';
import { DEFAULT_SOCKET, request } from '../../services/agent/control.js';
import { parseFlags, type Command } from '../command.js';
import { writeText } from '../format.js';

const cmd: Command = {
  name: 'stop',
  summary: 'Stop an agent instance until `ebpm start` (its programs detach).',
  usage: 'ebpm stop <name> [--socket <path>]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, { socket: { type: 'string', default: DEFAULT_SOCKET } });
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'stop: expected one instance name', { hint: `usage: ${cmd.usage}` });
    await request(values.socket, { op: 'stop', name: positionals[0]! });
    writeText(io.stderr, `${positionals[0]}: stopped\n`);
    return 0;
  },
};

export default cmd;
