import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { pruneStore } from '../../api/store.js';
import type { PruneStats } from '../../store/maintenance.js';
import { context, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
} as const satisfies Flags;

const cmd: Command = {
  name: 'prune',
  summary: 'Remove every blob of the local store that no stored package uses.',
  usage: 'ebpm prune [--json]',
  flags: FLAGS,
  examples: ['ebpm prune'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 0) throw new EbpmError('USAGE', 'prune: takes no arguments', { hint: `usage: ${cmd.usage}` });
    const r = await pruneStore(await context(io, false));
    if (values.json) writeJson(io, r);
    else writeLines(io, [`pruned ${prunedText(r)}`]);
    return 0;
  },
};

/** `prunedText` says what a prune reclaimed: `3 blobs and 1 partial download, 9731308 bytes reclaimed`. */
export function prunedText(r: PruneStats): string {
  const partial = r.removedPartial === 0 ? '' : ` and ${r.removedPartial} partial download${r.removedPartial === 1 ? '' : 's'}`;
  return `${r.removedBlobs} blobs${partial}, ${r.reclaimedBytes} bytes reclaimed`;
}

export default cmd;
