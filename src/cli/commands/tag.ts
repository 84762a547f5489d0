import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { tagStored } from '../../api/store.js';
import { context, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
} as const satisfies Flags;

const cmd: Command = {
  name: 'tag',
  summary: 'Give a stored package another name in the local store (the tag defaults to latest).',
  usage: 'ebpm tag <stored reference> <[registry/][namespace/]name[:tag]> [--json]',
  flags: FLAGS,
  examples: ['ebpm tag sigsnoop:1.2.0 sigsnoop:stable', 'ebpm tag sigsnoop:1.2.0 ghcr.io/me/sigsnoop:1.2.0'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 2) throw new EbpmError('USAGE', 'tag: expected a source and a new name', { hint: `usage: ${cmd.usage}` });
    const r = await tagStored(await context(io, false), positionals[0]!, positionals[1]!);
    if (values.json) writeJson(io, r);
    else writeLines(io, [`tagged ${r.target} ${r.digest}`]);
    return 0;
  },
};

export default cmd;
