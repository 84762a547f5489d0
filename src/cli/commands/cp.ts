import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { copyPackage, type CopyResult } from '../../api/cp.js';
import { context, VERBOSE_FLAG, withProgress, writeJson, writeLines } from '../dist.js';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  force: { type: 'boolean', default: false, description: 'replace a version tag that holds other content at the destination' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'cp',
  summary: 'Copy a package, with its signatures and everything attached, from the store or a registry to a registry.',
  usage: 'ebpm cp <source-reference> <[registry/][namespace/]name[:tag]> [--force] [--json] [--verbose]',
  flags: FLAGS,
  examples: ['ebpm cp localhost:5000/ebpm/sigsnoop:1.2.0 ghcr.io/me/sigsnoop', 'ebpm cp sigsnoop:1.2.0 ghcr.io/me/sigsnoop:stable'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 2) throw new EbpmError('USAGE', 'cp: expected a source and a destination', { hint: `usage: ${cmd.usage}` });
    const [source, destination] = positionals as [string, string];
    const ctx = await context(io, values.verbose);
    const r = await withProgress(io, 'push', values.json, (onEvent) =>
      copyPackage(ctx, { source, destination, force: values.force, ...(onEvent ? { onEvent } : {}) }),
    );
    if (values.json) writeJson(io, r);
    else writeLines(io, copyLines(r));
    return 0;
  },
};

/** `copyLines` is the plain output of a copy: what went where, then what came along. */
function copyLines(r: CopyResult): string[] {
  const from = r.from === 'store' ? ' (from the store)' : '';
  const head = r.unchanged
    ? `${r.destination} is up to date (${r.digest})`
    : `copied ${r.source}${from} to ${r.destination} ${r.digest} (${r.blobs} blobs, ${r.bytes} bytes)`;
  const a = r.attached;
  const signatures = a.legacy + a.bundles;
  // Bundles are referrers too: counted once, as signatures.
  const others = Math.max(0, a.referrers - a.bundles);
  const carried = [
    ...(signatures > 0 ? [`${signatures} signature${signatures === 1 ? '' : 's'}`] : []),
    ...(others > 0 ? [`${others} other referrer${others === 1 ? '' : 's'}`] : []),
    ...a.tags,
  ];
  return [head, ...(carried.length > 0 ? [`attached: ${carried.join(', ')}`] : [])];
}

export default cmd;
