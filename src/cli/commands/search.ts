import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { search } from '../../services/search.js';
import { context, printTable, VERBOSE_FLAG, writeJson } from '../dist.js';
import { writeText } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  refresh: { type: 'boolean', default: false, description: "read each registry's index again instead of the cached one" },
  reindex: { type: 'boolean', default: false, description: "rebuild each registry's index from its repositories" },
} as const satisfies Flags;

const cmd: Command = {
  name: 'search',
  summary: 'Find packages by name, description and keywords in the configured registries.',
  usage: 'ebpm search <term> [--refresh] [--reindex] [--json] [--verbose]',
  flags: FLAGS,
  examples: ['ebpm search signal', 'ebpm search trace --refresh --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'search: expected one search term', { hint: `usage: ${cmd.usage}` });
    const term = positionals[0]!;
    const r = await search(await context(io, values.verbose), { term, refresh: values.refresh, reindex: values.reindex });
    for (const f of r.failed) {
      writeText(
        io.stderr,
        `warning: ${f.message}; ${f.cachedAt === undefined ? 'its packages are left out' : `showing its index as cached at ${f.cachedAt} (stale)`}\n`,
      );
    }
    if (values.json) {
      writeJson(io, r);
      return 0;
    }
    if (r.hits.length === 0) {
      writeText(io.stdout, `no packages match ${JSON.stringify(term)} in ${r.sources.map((s) => s.location).join(', ')}\n`);
      return 0;
    }
    await printTable(
      io,
      ['NAME', 'VERSION', 'DESCRIPTION', 'REFERENCE'],
      r.hits.map((h) => [h.name, h.version, h.description, h.reference]),
    );
    return 0;
  },
};

export default cmd;
