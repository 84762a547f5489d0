/**
 * `ebpm keygen`: a cosign-compatible key pair (`cosign.key`, encrypted, and `cosign.pub`),
 * as `cosign generate-key-pair` writes it, so either tool signs with it. The password comes
 * from `EBPM_PASSWORD` or a prompt on the terminal, never from a flag (flags end up in shell
 * history and `ps`).
 */
import { resolve } from 'node:path';
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { writeKeyPair } from '../../api/sign.js';
import { readPassword } from '../password.js';

const FLAGS = {
  ...JSON_FLAG,
  'output-key-prefix': { type: 'string', default: 'cosign', valueName: '<path>', description: 'write <path>.key and <path>.pub' },
  force: { type: 'boolean', default: false, description: 'replace key files that exist' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'keygen',
  summary: 'Create a cosign-compatible ECDSA P-256 key pair: <prefix>.key (encrypted with a password from EBPM_PASSWORD or a prompt) and <prefix>.pub.',
  usage: 'ebpm keygen [--output-key-prefix <path>] [--force] [--json]',
  flags: FLAGS,
  examples: ['ebpm keygen', 'EBPM_PASSWORD=secret ebpm keygen --output-key-prefix release'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length > 0) throw new EbpmError('USAGE', `keygen: unexpected argument ${JSON.stringify(positionals[0])}`, { hint: `usage: ${cmd.usage}` });
    const prefix = resolve(io.cwd, values['output-key-prefix']);
    const password = await readPassword(io.env, { prompt: 'Enter password for private key: ', confirm: true });
    const r = await writeKeyPair(prefix, password, { force: values.force });
    if (values.json) {
      io.stdout.write(
        JSON.stringify({ privateKey: r.privatePath, publicKey: r.publicPath, fingerprint: r.publicKey.fingerprint, hint: r.publicKey.hint }, null, 2) + '\n',
      );
    } else {
      io.stdout.write(`wrote ${r.privatePath} (private, encrypted) and ${r.publicPath}\nkey fingerprint ${r.publicKey.fingerprint}\n`);
    }
    return 0;
  },
};

export default cmd;
