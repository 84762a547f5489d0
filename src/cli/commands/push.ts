import { resolve } from 'node:path';
import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { push } from '../../services/push.js';
import { context, VERBOSE_FLAG, withProgress, writeJson, writeLines } from '../dist.js';
import { loadSigningKey } from '../password.js';

const cmd: Command = {
  name: 'push',
  summary: 'Publish a built package (its out/ layout, or an OCI layout) to a registry; name and version come from its metadata.',
  usage: 'ebpm push [dir | layout[:tag]] [[registry/][namespace/]name] [--force] [--sign --key <cosign.key> [--bundle]] [--json] [--verbose]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, { ...JSON_FLAG, ...VERBOSE_FLAG, force: { type: 'boolean', default: false }, sign: { type: 'boolean', default: false }, key: { type: 'string' }, bundle: { type: 'boolean', default: false } });
    if (values.sign !== (values.key !== undefined) || (values.bundle && !values.sign)) throw new EbpmError('USAGE', 'push: --sign and --key go together (--bundle needs both)', { hint: 'ebpm push --sign --key cosign.key [--bundle]' });
    // Asked before any progress is drawn, so the password prompt has the terminal to itself.
    const sign = values.key === undefined ? undefined : { key: await loadSigningKey(values.key, io.env, io.cwd), format: values.bundle ? ('bundle' as const) : ('legacy' as const) };
    if (positionals.length > 2) throw new EbpmError('USAGE', 'push: expected at most a path and a destination', { hint: `usage: ${cmd.usage}` });
    const ctx = await context(io, values.verbose);
    const path = positionals[0] ?? '.';
    const r = await withProgress(io, 'push', values.json, (onEvent) =>
      push(ctx, { path: resolve(io.cwd, path), force: values.force, ...(sign ? { sign } : {}), ...(positionals[1] ? { destination: positionals[1] } : {}), ...(onEvent ? { onEvent } : {}) }),
    );
    if (values.json) {
      writeJson(io, r);
      return 0;
    }
    writeLines(io, [
      r.unchanged ? `${r.reference} is up to date (${r.digest})` : `pushed ${r.reference} ${r.digest} (${r.blobs} blobs, ${r.bytes} bytes)`,
      ...(r.tags.length > 0 ? [`tags: ${r.tags.join(', ')}`] : []),
      ...(r.signature ? [`signed ${r.digest} with key ${r.signature.fingerprint} (${r.signature.format})`] : []),
    ]);
    if (r.indexError !== undefined) io.stderr.write(`warning: search index not updated: ${r.indexError}\n`);
    return 0;
  },
};

export default cmd;
