import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { importToStore } from '../../api/store.js';
import { context, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
  force: { type: 'boolean', default: false, description: "move tags the store already has to the archive's content" },
} as const satisfies Flags;

const cmd: Command = {
  name: 'import',
  summary: 'Read an OCI layout tar (from ebpm export; - reads stdin) into the local store, all or nothing; stored tags move only with --force.',
  usage: 'ebpm import <file.tar | -> [--force] [--json]',
  flags: FLAGS,
  examples: ['ebpm import tools.tar', 'ebpm import tools.tar --force'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'import: expected one file', { hint: `usage: ${cmd.usage}` });
    let from: ReturnType<NonNullable<typeof io.stdin>> | string = positionals[0]!;
    if (from === '-') {
      const stdin = io.stdin?.();
      // As `docker load`: a terminal holds no tar, and waiting on it would look like a hang.
      if (stdin === undefined || stdin.isTTY === true) {
        throw new EbpmError('USAGE', 'import: - reads the archive from stdin, which is a terminal', {
          hint: 'pipe a tar in (ebpm export <ref> - | ebpm import -), or give a file name',
        });
      }
      from = stdin;
    }
    const entries = await importToStore(await context(io, false), from, io.cwd, { force: values.force });
    if (values.json)
      writeJson(
        io,
        entries.map((e) => ({ reference: e.ref, digest: e.descriptor.digest })),
      );
    else
      writeLines(
        io,
        entries.map((e) => `imported ${e.ref} ${e.descriptor.digest}`),
      );
    return 0;
  },
};

export default cmd;
