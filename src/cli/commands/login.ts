import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { loginHost, loginTo } from '../../api/login.js';
import { context, VERBOSE_FLAG, writeJson, writeLines } from '../dist.js';
import { writeText } from '../format.js';
import { askCredentials } from '../password.js';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  username: { type: 'string', short: 'u', description: 'the user name (asked on the terminal when not given)', valueName: '<user>' },
  password: {
    type: 'string',
    short: 'p',
    description: 'the password or token (seen in ps and the shell history: prefer --password-stdin)',
    valueName: '<password>',
  },
  'password-stdin': { type: 'boolean', default: false, description: 'read the password or token from stdin' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'login',
  summary: 'Check credentials against a registry and store them (Docker config or credential helper); asks for what is not given.',
  usage: 'ebpm login <host[:port] | https://host[:port]> [-u <user>] [-p <password> | --password-stdin] [--json] [--verbose]',
  flags: FLAGS,
  examples: ['ebpm login ghcr.io', 'echo "$TOKEN" | ebpm login ghcr.io -u me --password-stdin'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'login: expected one registry host', { hint: `usage: ${cmd.usage}` });
    const target = loginHost(positionals[0]!, 'login');
    const stdinPassword = values['password-stdin'];
    if (values.password !== undefined && stdinPassword)
      throw new EbpmError('USAGE', 'login: give -p or --password-stdin, not both', { hint: `usage: ${cmd.usage}` });
    if (stdinPassword && values.username === undefined)
      throw new EbpmError('USAGE', 'login: --password-stdin needs -u <user>', { hint: `usage: ${cmd.usage}` });
    // As docker does: a password in the arguments is in the shell's history and in ps for every user.
    if (values.password !== undefined) writeText(io.stderr, 'warning: a password given with -p shows in ps and the shell history; use --password-stdin\n');
    const given = { username: values.username, password: stdinPassword ? (await readStdin()).replace(/\r?\n$/, '') : values.password };
    const missing = given.username === undefined || given.password === undefined;
    if (missing && !process.stdin.isTTY) {
      throw new EbpmError('USAGE', 'login: no terminal to ask for the user name and password', {
        hint: `give -u <user> and the password with --password-stdin, e.g. echo "$TOKEN" | ebpm login ${target.host} -u <user> --password-stdin`,
      });
    }
    const { username, password } = missing ? await askCredentials(given) : { username: given.username!, password: given.password! };
    if (username === '') throw new EbpmError('USAGE', 'login: the user name is empty', { hint: `usage: ${cmd.usage}` });
    const ctx = await context(target.plainHttp ? { ...io, plainHttp: [...(io.plainHttp ?? []), target.host] } : io, values.verbose);
    const r = await loginTo(ctx, target.host, username, password);
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
