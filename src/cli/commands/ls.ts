import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { listStored } from '../../services/store.js';
import { context, printTable, writeJson } from '../dist.js';
import { shortDigest } from '../../core/digest.js';

const FLAGS = {
  ...JSON_FLAG,
} as const satisfies Flags;

const cmd: Command = {
  name: 'ls',
  summary: 'List the packages in the local store: reference, name, version, digest, size and when they were pulled.',
  usage: 'ebpm ls [--json]',
  flags: FLAGS,
  examples: ['ebpm ls', 'ebpm ls --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 0) throw new EbpmError('USAGE', 'ls: takes no arguments', { hint: `usage: ${cmd.usage}` });
    const ctx = await context(io, false);
    const entries = await listStored(ctx);
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
    if (entries.length === 0) {
      io.stdout.write(`the store is empty (${ctx.storePath})\n`);
      return 0;
    }
    await printTable(
      io,
      ['REFERENCE', 'NAME', 'VERSION', 'DIGEST', 'SIZE', 'PULLED'],
      entries.map((e) => [e.ref, e.name, e.version, shortDigest(e.digest), String(e.size), e.pulledAt?.replace(/\.\d+Z$/, 'Z') ?? '-']),
    );
    return 0;
  },
};

export default cmd;
