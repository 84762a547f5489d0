import { JSON_FLAG, onePlatform, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import type { PullResult } from '../../api/index.js';
import { PACKAGE_CONCURRENCY, settleAll } from '../../api/transfer.js';
import { pullPolicy } from '../pull-policy.js';
import { client } from '../client.js';
import { valuesOrThrow, VERBOSE_FLAG, withProgress, writeJson, writeLines } from '../dist.js';
import { writeText } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  pull: {
    type: 'string',
    default: 'missing',
    valueName: 'always|missing|never',
    description: 'always: ask the registry; missing: only for what the store lacks (latest and ranges re-resolve when online); never: the store only',
  },
  prerelease: { type: 'boolean', default: false, description: 'let a range or latest pick a pre-release' },
  platform: { type: 'string', valueName: 'linux/<arch>', description: "the platform a multi-platform package must offer (default this machine's)" },
} as const satisfies Flags;

const cmd: Command = {
  name: 'pull',
  summary: 'Copy a package from its registry into the local store: name[:tag], name@<semver range> or name@sha256:<digest>.',
  usage: 'ebpm pull <reference>... [--pull always|missing|never] [--platform linux/<arch>] [--prerelease] [--json] [--verbose]',
  flags: FLAGS,
  examples: ['ebpm pull sigsnoop@1.2', 'ebpm pull ghcr.io/me/sigsnoop:1.2.0 opensnoop@^0.3', 'ebpm pull sigsnoop@2 --prerelease --platform linux/arm64'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    const platform = onePlatform(cmd, values.platform);
    if (positionals.length === 0) throw new EbpmError('USAGE', 'pull: expected a reference', { hint: `usage: ${cmd.usage}` });
    const policy = pullPolicy(values.pull);
    const ebpm = client(io, values.verbose);
    const outcomes = await withProgress(io, 'pull', values.json, (onEvent) =>
      settleAll(positionals, PACKAGE_CONCURRENCY, (reference) =>
        ebpm.pull(reference, { policy, prerelease: values.prerelease, ...(platform ? { platform } : {}), ...(onEvent ? { onEvent } : {}) }),
      ),
    );
    const done = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    for (const r of done) if (r.trust.decision.warn) writeText(io.stderr, `warning: ${r.trust.decision.message}\n`);
    if (!values.json) writeLines(io, done.map(pullLine));
    const results = valuesOrThrow(outcomes);
    if (values.json) writeJson(io, positionals.length === 1 ? results[0] : results);
    return 0;
  },
};

/** `pullLine` is the plain output of a pull. */
export function pullLine(r: PullResult): string {
  const platform = r.platform === undefined ? '' : ` ${r.platform.platform} ${r.platform.digest} (platforms ${r.platform.offered.join(', ')})`;
  if (r.from === 'store') return `${r.reference} ${r.digest} (stored${r.offline ? '; registry unreachable' : ''})${platform}`;
  if (r.upToDate) return `${r.reference} ${r.digest} (up to date)${platform}`;
  return `pulled ${r.reference} ${r.digest} (${r.blobs} blobs, ${r.bytes} bytes)${platform}`;
}

export default cmd;
