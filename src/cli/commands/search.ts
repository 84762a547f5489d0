import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { search } from '../../services/search.js';
import { context, printTable, VERBOSE_FLAG, writeJson } from '../dist.js';
import { fitColumn, isLive, writeText } from '../format.js';

const cmd: Command = {
  name: 'search',
  summary: 'Find packages by name, description and keywords in the configured registries.',
  usage: 'ebpm search <term> [--refresh] [--no-trunc] [--json] [--verbose]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, {
      ...JSON_FLAG,
      ...VERBOSE_FLAG,
      refresh: { type: 'boolean', default: false },
      'no-trunc': { type: 'boolean', default: false, description: 'print whole descriptions (else cut to fit the terminal)' },
    });
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'search: expected one search term', { hint: `usage: ${cmd.usage}` });
    const term = positionals[0]!;
    const r = await search(await context(io, values.verbose), { term, refresh: values.refresh });
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
    const width = isLive(io, false) ? io.stdout.columns : undefined;
    const fitted = values['no-trunc'] || width === undefined ? rows : fitColumn(header, rows, 2, width);
    await printTable(io, header, fitted, { truncate: !values['no-trunc'] });
    return 0;
  },
};

export default cmd;
