/**
 * `ebpm sign <ref> --key <file>`: sign the manifest digest the reference names, in its
 * registry, the way cosign does: by default the legacy `sha256-<hex>.sig` tag (what
 * `cosign verify --key` and Inspektor Gadget read), with `--bundle` a sigstore bundle attached
 * as an OCI 1.1 referrer (cosign v3's format).
 */
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { context } from '../dist.js';
import { signReference } from '../../api/sign.js';
import { loadSigningKey } from '../password.js';

const FLAGS = {
  ...JSON_FLAG,
  key: { type: 'string', valueName: '<cosign.key>', description: 'the signing key (ebpm keygen, cosign generate-key-pair)' },
  bundle: { type: 'boolean', default: false, description: 'attach a sigstore bundle as an OCI 1.1 referrer instead of the legacy .sig tag' },
  annotation: { type: 'string', short: 'a', multiple: true, default: [], valueName: 'key=value', description: 'an annotation of the signed payload' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'sign',
  summary: 'Sign a package in its registry with a cosign key: the legacy .sig tag (default) or, with --bundle, a sigstore bundle referrer.',
  usage: 'ebpm sign <reference> --key <cosign.key> [--bundle] [-a key=value]... [--json]',
  flags: FLAGS,
  examples: ['ebpm sign ghcr.io/me/sigsnoop:1.2.0 --key cosign.key', 'ebpm sign sigsnoop:1.2.0 --key cosign.key --bundle -a release=stable'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'sign: expected one reference', { hint: `usage: ${cmd.usage}` });
    if (values.key === undefined)
      throw new EbpmError('USAGE', 'sign: --key is required', { hint: 'sign with a key from ebpm keygen or cosign generate-key-pair: --key cosign.key' });
    const annotations = parseAnnotations(values.annotation);
    const key = await loadSigningKey(values.key, io.env, io.cwd);
    const ctx = await context(io, false);
    const r = await signReference(ctx, positionals[0]!, key, { format: values.bundle ? 'bundle' : 'legacy', ...(annotations ? { annotations } : {}) });
    if (values.json) {
      io.stdout.write(
        JSON.stringify(
          {
            repository: r.repository,
            digest: r.subject.digest,
            format: r.format,
            signature: r.manifest.digest,
            tag: r.tag,
            fingerprint: r.fingerprint,
            stored: r.stored,
          },
          null,
          2,
        ) + '\n',
      );
      return 0;
    }
    const where = r.format === 'legacy' ? `tag ${r.tag}` : `referrer ${r.manifest.digest}`;
    io.stdout.write(
      `signed ${r.repository}@${r.subject.digest} with key ${r.fingerprint} (${r.format}: ${where})${r.stored ? '; the local store has it too' : ''}\n`,
    );
    return 0;
  },
};

function parseAnnotations(list: readonly string[]): Record<string, string> | undefined {
  if (list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const a of list) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new EbpmError('USAGE', `sign: annotation ${JSON.stringify(a)} is not key=value`, { hint: 'write -a key=value, e.g. -a release=stable' });
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

export default cmd;
