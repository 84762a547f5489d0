import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { exportStored } from '../../api/store.js';
import { context, writeJson, writeLines } from '../dist.js';
import { writeText } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
} as const satisfies Flags;

const cmd: Command = {
  name: 'export',
  summary: 'Write stored packages (with their signatures) to an OCI layout tar, for air-gapped machines; - writes it to stdout.',
  usage: 'ebpm export <reference>... <file.tar | -> [--json]',
  flags: FLAGS,
  examples: ['ebpm export sigsnoop:1.2.0 opensnoop:0.3.1 tools.tar'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length < 2) throw new EbpmError('USAGE', 'export: expected references and a file', { hint: `usage: ${cmd.usage}` });
    const file = positionals[positionals.length - 1]!;
    const refs = positionals.slice(0, -1);
    if (file === '-') {
      // As `docker save`: a tar is no text for a terminal, and stdout holds the tar alone.
      if (values.json) throw new EbpmError('USAGE', 'export: --json and - both write to stdout', { hint: 'give a file name to have --json' });
      if (io.stdout.isTTY === true) {
        throw new EbpmError('USAGE', 'export: refusing to write a tar to a terminal', {
          hint: 'redirect stdout (ebpm export <ref> - > file.tar), or give a file name',
        });
      }
      const entries = await exportStored(await context(io, false), refs, io.stdout, io.cwd);
      writeText(io.stderr, entries.map((e) => `exported ${e.ref} ${e.descriptor.digest}\n`).join(''));
      return 0;
    }
    const entries = await exportStored(await context(io, false), refs, file, io.cwd);
    if (values.json) writeJson(io, { file, entries: entries.map((e) => ({ reference: e.ref, digest: e.descriptor.digest })) });
    else writeLines(io, [...entries.map((e) => `exported ${e.ref} ${e.descriptor.digest}`), `wrote ${file}`]);
    return 0;
  },
};

export default cmd;
