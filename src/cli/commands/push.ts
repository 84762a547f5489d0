import { resolve } from 'node:path';
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { isTag } from '../../core/reference.js';
import { tagVersion } from '../../package/version.js';
import { pushAll } from '../../api/push.js';
import { context, valuesOrThrow, VERBOSE_FLAG, withProgress, writeJson, writeLines } from '../dist.js';
import { writeText } from '../format.js';
import { loadSigningKey } from '../password.js';

const FLAGS = {
  ...JSON_FLAG,
  ...VERBOSE_FLAG,
  force: { type: 'boolean', default: false, description: 'replace a version the registry already holds with other content' },
  'no-floating-tags': { type: 'boolean', default: false, description: 'move latest only, not the M.m and M tags' },
  to: {
    type: 'string',
    valueName: '<repository>',
    description: 'push to this repository, [registry/][namespace/]name, instead of the package name in the default registry',
  },
  sign: { type: 'boolean', default: false, description: 'sign what is pushed (with --key)' },
  key: { type: 'string', valueName: '<cosign.key>', description: 'the signing key (ebpm keygen, cosign generate-key-pair)' },
  bundle: { type: 'boolean', default: false, description: 'sign with a sigstore bundle referrer instead of the legacy .sig tag' },
  tag: { type: 'string', multiple: true, description: 'also set this tag, such as stable', valueName: '<tag>' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'push',
  summary: 'Publish a built package (its out/ layout, an OCI layout, or a stored reference) to a registry; name and version come from its metadata.',
  usage:
    'ebpm push [dir | layout[:tag] | stored-reference]... [--to [registry/][namespace/]name] [--tag <tag>]... [--force] [--no-floating-tags] [--sign --key <cosign.key> [--bundle]] [--json] [--verbose]',
  flags: FLAGS,
  examples: [
    'ebpm push examples/sigsnoop',
    'ebpm push . --to ghcr.io/me/sigsnoop',
    'ebpm push examples/sigsnoop --tag stable',
    'ebpm push . --sign --key cosign.key',
    'ebpm tag sigsnoop:1.2.0 ghcr.io/me/sigsnoop:1.2.0 && ebpm push ghcr.io/me/sigsnoop:1.2.0',
  ],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    const paths = positionals.length === 0 ? ['.'] : positionals;
    for (const t of values.tag ?? []) {
      if (!isTag(t))
        throw new EbpmError('USAGE', `push: --tag ${JSON.stringify(t)}: not a tag`, {
          hint: 'tags are up to 128 of [A-Za-z0-9_.-] and do not start with "." or "-"',
        });
      if (tagVersion(t) !== undefined)
        throw new EbpmError('USAGE', `push: --tag ${t}: a version`, {
          hint: 'the version tag comes from the package metadata; --tag adds names such as stable',
        });
    }
    if (values.to !== undefined && paths.length > 1)
      throw new EbpmError('USAGE', 'push: --to names one repository, for one package', { hint: `usage: ${cmd.usage}` });
    if (values.sign !== (values.key !== undefined)) throw new EbpmError('USAGE', 'push: --sign and --key go together', { hint: `usage: ${cmd.usage}` });
    if (values.bundle && !values.sign) throw new EbpmError('USAGE', 'push: --bundle needs --sign', { hint: `usage: ${cmd.usage}` });
    // The key (and its password prompt) comes before the progress view takes the terminal.
    const sign =
      values.key !== undefined
        ? { key: await loadSigningKey(values.key, io.env, io.cwd), format: values.bundle ? ('bundle' as const) : ('legacy' as const) }
        : undefined;
    const ctx = await context(io, values.verbose);
    const outcomes = await withProgress(io, 'push', values.json, (onEvent) =>
      pushAll(
        ctx,
        paths.map((path) => ({
          path: resolve(io.cwd, path),
          reference: path,
          tags: values.tag ?? [],
          force: values.force,
          floatingTags: !values['no-floating-tags'],
          ...(sign ? { sign } : {}),
          ...(values.to !== undefined ? { destination: values.to } : {}),
          ...(onEvent ? { onEvent } : {}),
        })),
      ),
    );
    const done = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    if (!values.json) {
      writeLines(
        io,
        done.flatMap((r) => [
          r.unchanged ? `${r.reference} is up to date (${r.digest})` : `pushed ${r.reference} ${r.digest} (${r.blobs} blobs, ${r.bytes} bytes)`,
          ...(r.tags.length > 0 ? [`tags: ${r.tags.join(', ')}`] : []),
          ...(r.signature ? [`signed ${r.digest} with key ${r.signature.fingerprint} (${r.signature.format})`] : []),
        ]),
      );
    }
    for (const r of done) if (r.indexError !== undefined) writeText(io.stderr, `warning: search index not updated: ${r.indexError}\n`);
    const results = valuesOrThrow(outcomes);
    if (values.json) writeJson(io, paths.length === 1 ? results[0] : results);
    return 0;
  },
};

export default cmd;
