import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { shortDigest } from '../../core/digest.js';
import { EbpmError } from '../../core/errors.js';
import { listVersions } from '../../api/versions.js';
import { context, printTable, VERBOSE_FLAG, writeJson } from '../dist.js';
import { writeText } from '../format.js';

const FLAGS = { ...JSON_FLAG, ...VERBOSE_FLAG } as const satisfies Flags;

const cmd: Command = {
  name: 'versions',
  summary: "List a package's versions in its registry, newest first, with the other tags and when each was made.",
  usage: 'ebpm versions <[registry/][namespace/]name> [--json] [--verbose]',
  flags: FLAGS,
  examples: ['ebpm versions sigsnoop', 'ebpm versions ghcr.io/acme/sigsnoop --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'versions: expected one package name', { hint: `usage: ${cmd.usage}` });
    const r = await listVersions(await context(io, values.verbose), positionals[0]!);
    if (values.json) {
      writeJson(io, r);
      return 0;
    }
    if (r.versions.length === 0) {
      writeText(io.stdout, `${r.repository} has no tags\n`);
      return 0;
    }
    await printTable(
      io,
      ['VERSION', 'CREATED', 'DIGEST', 'TAGS'],
      r.versions.map((v) => [v.kind === 'version' ? v.version! : v.tag, v.created ?? '-', shortDigest(v.digest), v.tags.join(', ')]),
    );
    return 0;
  },
};

export default cmd;
