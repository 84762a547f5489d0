import { EbpmError } from '../../core/errors.js';
import { DEFAULT_SOCKET, request } from '../../services/agent/control.js';
import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { writeJson } from '../dist.js';
import { writeText } from '../format.js';

const cmd: Command = {
  name: 'stop',
  summary: 'Stop an agent instance until `ebpm start` (its programs detach).',
  usage: 'ebpm stop <name> [--socket <path>] [--json]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, { ...JSON_FLAG, socket: { type: 'string', default: DEFAULT_SOCKET } });
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'stop: expected one instance name', { hint: `usage: ${cmd.usage}` });
    await request(values.socket, { op: 'stop', name: positionals[0]! });
    if (values.json) writeJson(io, { name: positionals[0], state: 'stopped' });
    else writeText(io.stderr, `${positionals[0]}: stopped\n`);
    return 0;
  },
};

export default cmd;
