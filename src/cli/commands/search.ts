import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { client } from '../client.js';
import { printTable, VERBOSE_FLAG, writeJson } from '../dist.js';
import { fitColumn, writeText } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  refresh: { type: 'boolean', default: false, description: "read each registry's index again instead of the cached one" },
  'no-trunc': { type: 'boolean', default: false, description: 'print whole descriptions (else cut to fit the terminal)' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'search',
  summary: 'Find packages by name, description and keywords in the configured registries.',
  usage: 'ebpm search <term> [--refresh] [--no-trunc] [--json] [--verbose]',
  flags: FLAGS,
  examples: ['ebpm search signal', 'ebpm search trace --refresh --json', 'ebpm search trace --no-trunc'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'search: expected one search term', { hint: `usage: ${cmd.usage}` });
    const term = positionals[0]!;
    const r = await client(io, values.verbose).search(term, { refresh: values.refresh });
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
    const header = ['NAME', 'VERSION', 'DESCRIPTION', 'REFERENCE'];
    const rows = r.hits.map((h) => [h.name, h.version, h.description, h.reference]);
    // On a terminal the description gives way, so that each line, reference included, fits.
    const width = io.stdout.isTTY === true ? io.stdout.columns : undefined;
    const fitted = values['no-trunc'] || width === undefined ? rows : fitColumn(header, rows, 2, width);
    await printTable(io, header, fitted, { truncate: !values['no-trunc'] });
    return 0;
  },
};

export default cmd;
