import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { loginTo } from '../../services/login.js';
import { context, VERBOSE_FLAG, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  username: { type: 'string', short: 'u', valueName: '<user>', description: 'the user name' },
  password: {
    type: 'string',
    short: 'p',
    valueName: '<password>',
    description: 'the password or token (other users can read a command line: prefer --password-stdin)',
  },
  'password-stdin': { type: 'boolean', default: false, description: 'read the password or token from stdin' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'login',
  summary: 'Check credentials against a registry and store them (Docker config or credential helper).',
  usage: 'ebpm login <host[:port]> -u <user> (-p <password> | --password-stdin) [--json] [--verbose]',
  flags: FLAGS,
  examples: ['ebpm login ghcr.io -u me --password-stdin < token.txt'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'login: expected one registry host', { hint: `usage: ${cmd.usage}` });
    if (!values.username) throw new EbpmError('USAGE', 'login: missing -u <user>', { hint: `usage: ${cmd.usage}` });
    if ((values.password === undefined) === !values['password-stdin']) {
      throw new EbpmError('USAGE', 'login: give the password with exactly one of -p and --password-stdin', { hint: `usage: ${cmd.usage}` });
    }
    const password = values.password ?? (await readStdin()).replace(/\r?\n$/, '');
    const r = await loginTo(await context(io, values.verbose), positionals[0]!, values.username, password);
    if (values.json) writeJson(io, r);
    else writeLines(io, [`logged in to ${r.host} (credentials in ${r.where})`]);
    return 0;
  },
};

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += String(chunk);
  return s;
}

export default cmd;
