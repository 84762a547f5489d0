import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { removeStored } from '../../services/store.js';
import { context, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
} as const satisfies Flags;

const cmd: Command = {
  name: 'rm',
  summary: 'Remove packages from the local store, and the blobs only they used.',
  usage: 'ebpm rm <reference>... [--json]',
  flags: FLAGS,
  examples: ['ebpm rm sigsnoop:1.2.0'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length === 0) throw new EbpmError('USAGE', 'rm: expected at least one reference', { hint: `usage: ${cmd.usage}` });
    const ctx = await context(io, false);
    const out = [];
    for (const p of positionals) out.push(await removeStored(ctx, p));
    if (values.json) writeJson(io, out);
    else
      writeLines(
        io,
        out.map((r) => `removed ${r.reference} ${r.digest} (${r.pruned.removedBlobs} blobs, ${r.pruned.reclaimedBytes} bytes reclaimed)`),
      );
    return 0;
  },
};

export default cmd;
