import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { listStored } from '../../api/store.js';
import { context, printTable, writeJson, writeLines } from '../dist.js';
import { shortDigest } from '../../core/digest.js';
import { formatAge, formatBytes } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  quiet: { type: 'boolean', short: 'q', default: false, description: 'print the references only, one a line' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'ls',
  summary: 'List the packages in the local store: reference, name, version, digest, size and when they were pulled.',
  usage: 'ebpm ls [<filter>...] [-q] [--json]',
  flags: FLAGS,
  examples: ['ebpm ls', "ebpm ls 'sig*'", 'ebpm ls -q', 'ebpm ls --json'],
  async run(args, io) {
    const { values, positionals: filters } = parseFlags(cmd, args, FLAGS);
    if (values.quiet && values.json) throw new EbpmError('USAGE', 'ls: -q and --json do not go together', { hint: `usage: ${cmd.usage}` });
    const ctx = await context(io, false);
    const entries = await listStored(ctx, filters);
    if (values.json) {
      writeJson(
        io,
        entries.map((e) => ({
          reference: e.ref,
          name: e.name,
          version: e.version,
          digest: e.digest,
          size: e.size,
          pulledAt: e.pulledAt ?? null,
          source: e.source ?? null,
        })),
      );
      return 0;
    }
    if (values.quiet) {
      writeLines(
        io,
        entries.map((e) => e.ref),
      );
      return 0;
    }
    if (entries.length === 0) {
      writeLines(io, [filters.length === 0 ? `the store is empty (${ctx.storePath})` : `nothing stored matches ${filters.join(', ')}`]);
      return 0;
    }
    const now = (io.now ?? Date.now)();
    await printTable(
      io,
      ['REFERENCE', 'NAME', 'VERSION', 'DIGEST', 'SIZE', 'PULLED'],
      entries.map((e) => [e.ref, e.name, e.version, shortDigest(e.digest), formatBytes(e.size), e.pulledAt === undefined ? '-' : formatAge(e.pulledAt, now)]),
    );
    return 0;
  },
};

export default cmd;
