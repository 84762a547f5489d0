import { EbpmError } from '../../core/errors.js';
import { DEFAULT_INSTANCES, startAgent } from '../../api/agent/agent.js';
import { DEFAULT_SOCKET } from '../../api/agent/control.js';
import { parseFlags, type Command, type Flags } from '../command.js';
import { writeText } from '../format.js';

/** The flags of `ebpm agent`, exported so that deploy/'s manifests are checked against them. */
export const AGENT_FLAGS = {
  instances: {
    type: 'string',
    default: DEFAULT_INSTANCES,
    valueName: '<dir>',
    description: 'the directory of instance files to keep running (SIGHUP rereads it)',
  },
  socket: { type: 'string', default: DEFAULT_SOCKET, valueName: '<path>', description: 'the control socket ps, logs, stop and start talk to' },
  group: { type: 'string', valueName: '<name|gid>', description: "let this group's members use the control socket" },
  metrics: { type: 'string', valueName: '<host:port>', description: 'serve Prometheus metrics at http://<host:port>/metrics' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'agent',
  summary: 'Keep the instances of a directory running (one `ebpm run` each), with a control socket for ps, logs, stop and start.',
  usage: 'ebpm agent [--instances <dir>] [--socket <path>] [--group <name|gid>] [--metrics <host:port>]',
  flags: AGENT_FLAGS,
  examples: ['ebpm agent', 'ebpm agent --instances /etc/ebpm/instances --group ebpm --metrics 127.0.0.1:9464'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, AGENT_FLAGS);
    if (positionals.length > 0) throw new EbpmError('USAGE', `agent: unexpected argument ${positionals[0]}`, { hint: `usage: ${cmd.usage}` });
    const agent = await startAgent({
      instancesDir: values.instances,
      socket: values.socket,
      group: values.group,
      metrics: values.metrics,
      // The children run this very CLI, through bin/ebpm.js (argv[1]) as a program, so that
      // they start from the start-up snapshot, with this very node.
      ebpm: [process.argv[1]!],
      env: { ...io.env, EBPM_NODE: process.execPath },
      onLog: (line) => writeText(io.stderr, line + '\n'),
      onOutput: (line) => io.stdout.write(line + '\n'),
    });
    writeText(
      io.stderr,
      `agent: listening on ${values.socket}${agent.metricsAddress === undefined ? '' : `, metrics on http://${agent.metricsAddress}/metrics`}\n`,
    );
    const onHup = () => void agent.rescan();
    process.on('SIGHUP', onHup);
    let onStop: (sig: NodeJS.Signals) => void = () => undefined;
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      onStop = resolve;
      process.on('SIGINT', onStop);
      process.on('SIGTERM', onStop);
    });
    for (const [sig, f] of [
      ['SIGHUP', onHup],
      ['SIGINT', onStop],
      ['SIGTERM', onStop],
    ] as const)
      process.off(sig, f);
    await agent.close();
    writeText(io.stderr, `agent: stopped (${signal})\n`);
    return 0;
  },
};

export default cmd;
