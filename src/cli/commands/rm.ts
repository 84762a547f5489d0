import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { removeStored } from '../../api/store.js';
import { context, writeJson, writeLines } from '../dist.js';
import { errorJson, exitCodeFor, formatError } from '../errors.js';
import { prunedText } from './prune.js';

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
    // As `docker rmi a b c`: each reference on its own, in order; one that fails does not keep the others.
    const removed = [];
    const failed: unknown[] = [];
    for (const p of positionals) {
      try {
        const r = await removeStored(ctx, p);
        removed.push(r);
        if (!values.json) writeLines(io, [`removed ${r.reference} ${r.digest} (${prunedText(r.pruned)})`]);
      } catch (e) {
        failed.push(e);
        io.stderr.write(`${formatError(e, io.env.EBPM_DEBUG === '1')}\n`);
      }
    }
    // With --json, stdout holds one document: the first failure, as for any failed command (pull too).
    if (failed.length > 0) {
      if (values.json) io.stdout.write(`${JSON.stringify(errorJson(failed[0]))}\n`);
      return exitCodeFor(failed[0]);
    }
    if (values.json) writeJson(io, removed);
    return 0;
  },
};

export default cmd;
