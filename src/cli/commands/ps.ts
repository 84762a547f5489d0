import { EbpmError } from '../../core/errors.js';
import { DEFAULT_SOCKET, request } from '../../api/agent/control.js';
import type { FileProblem, InstanceStatus } from '../../api/agent/supervisor.js';
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { printTable, writeJson } from '../dist.js';
import { writeText } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  socket: { type: 'string', default: DEFAULT_SOCKET, valueName: '<path>', description: "the agent's control socket" },
} as const satisfies Flags;

const cmd: Command = {
  name: 'ps',
  summary: "List the agent's instances: state, version running, events, lost, restarts, uptime.",
  usage: 'ebpm ps [--socket <path>] [--json]',
  flags: FLAGS,
  examples: ['ebpm ps', 'ebpm ps --socket /run/ebpm/agent.sock --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length > 0) throw new EbpmError('USAGE', `ps: unexpected argument ${positionals[0]}`, { hint: `usage: ${cmd.usage}` });
    const r = (await request(values.socket, { op: 'ps' })) as unknown as { instances: InstanceStatus[]; problems: FileProblem[] };
    if (values.json) {
      writeJson(io, { instances: r.instances, problems: r.problems });
      return 0;
    }
    for (const p of r.problems) writeText(io.stderr, `warning: ${p.message}\n`);
    await printTable(
      io,
      ['NAME', 'STATE', 'VERSION', 'EVENTS', 'LOST', 'RESTARTS', 'UPTIME', 'REF'],
      r.instances.map((i) => [i.name, i.state, i.version ?? '-', String(i.events), String(i.lost), String(i.restarts), `${i.uptimeSeconds}s`, i.ref]),
    );
    return 0;
  },
};

export default cmd;
