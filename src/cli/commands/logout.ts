import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { loginHost, logoutOf } from '../../api/login.js';
import { context, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
} as const satisfies Flags;

const cmd: Command = {
  name: 'logout',
  summary: 'Forget the stored credentials of a registry.',
  usage: 'ebpm logout <host[:port] | https://host[:port]> [--json]',
  flags: FLAGS,
  examples: ['ebpm logout ghcr.io'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'logout: expected one registry host', { hint: `usage: ${cmd.usage}` });
    const { host } = loginHost(positionals[0]!, 'logout');
    const removed = await logoutOf(await context(io, false), host);
    if (values.json) writeJson(io, { host, removed });
    else writeLines(io, [removed ? `logged out of ${host}` : `not logged in to ${host}`]);
    return 0;
  },
};

export default cmd;
