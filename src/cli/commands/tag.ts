import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { tagStored } from '../../services/store.js';
import { context, writeJson, writeLines } from '../dist.js';

const cmd: Command = {
  name: 'tag',
  summary: 'Give a stored package another name in the local store (the tag defaults to latest).',
  usage: 'ebpm tag <stored reference> <[registry/][namespace/]name[:tag]> [--json]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, JSON_FLAG);
    if (positionals.length !== 2) throw new EbpmError('USAGE', 'tag: expected a source and a new name', { hint: `usage: ${cmd.usage}` });
    const r = await tagStored(await context(io, false), positionals[0]!, positionals[1]!);
    if (values.json) writeJson(io, r);
    else writeLines(io, [`tagged ${r.target} ${r.digest}`]);
    return 0;
  },
};

export default cmd;
