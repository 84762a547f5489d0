import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { exportStored } from '../../services/store.js';
import { context, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
} as const satisfies Flags;

const cmd: Command = {
  name: 'export',
  summary: 'Write stored packages (with their signatures) to an OCI layout tar, for air-gapped machines.',
  usage: 'ebpm export <reference>... <file.tar> [--json]',
  flags: FLAGS,
  examples: ['ebpm export sigsnoop:1.2.0 opensnoop:0.3.1 tools.tar'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length < 2) throw new EbpmError('USAGE', 'export: expected references and a file', { hint: `usage: ${cmd.usage}` });
    const file = positionals[positionals.length - 1]!;
    const entries = await exportStored(await context(io, false), positionals.slice(0, -1), file, io.cwd);
    if (values.json) writeJson(io, { file, entries: entries.map((e) => ({ reference: e.ref, digest: e.descriptor.digest })) });
    else writeLines(io, [...entries.map((e) => `exported ${e.ref} ${e.descriptor.digest}`), `wrote ${file}`]);
    return 0;
  },
};

export default cmd;
