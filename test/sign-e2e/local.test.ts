// The trust policy for packages run from a local path, through the built CLI on the real kernel:
// the `local` scope, else `*`; signatures read from the layout itself (bare `.sig` tags, an
// export's `repository:sha256-….sig` tags, bundle referrers); files and package directories
// carry none; the built-in default runs local builds quietly; no decision is recorded.
import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { beforeAll, expect, it } from 'vitest';
import { build } from '../../src/services/build.js';
import { signPackage, storedRepository } from '../../src/services/sign.js';
import type { SigningKey } from '../../src/sign/keys.js';
import { OciLayout } from '../../src/store/layout.js';
import { cliEnv, runEbpm, writeTrustPolicy } from '../helpers/cli.js';
import { REPO, exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { plainKey, tempDir } from './fixtures.js';

/** What a run with `--max-events 0` prints on stderr: a bare object has no version. */
const ran = (version = '2.0.0') =>
  `opensnoop ${version}: attached 2 programs: trace_openat_enter (tracepoint/syscalls/sys_enter_openat), trace_openat_exit (tracepoint/syscalls/sys_exit_openat)\n` +
  'opensnoop: 0 events, 0 lost (stopped: max-events)\n';
const RAN = ran();

let home = '';
let env: Record<string, string> = {};
let trusted: { key: SigningKey; publicPem: string };
let other: { key: SigningKey; publicPem: string };
/** The built package: its directory, its out/ layout unsigned, and the digest its tags name. */
let pkg = '';
let unsigned = '';
let digest = '';
let object = '';
let eunomia = '';

async function ebpm(args: string[], extra: Record<string, string | undefined> = {}): Promise<{ code: number | null; out: string; err: string }> {
  // An undefined value removes that variable from the environment.
  const merged = Object.fromEntries(Object.entries({ ...env, ...extra }).filter((e): e is [string, string] => e[1] !== undefined));
  const r = await runEbpm(args, { cwd: home, env: merged });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** Writes the policy file the environment points at: `trusted` is the only key it knows. */
function policy(scopes: Record<string, { require: string; keys?: string[] }>): string {
  writeFileSync(join(home, 'trusted.pub'), trusted.publicPem);
  return writeTrustPolicy(env, { version: 1, keys: { trusted: { path: join(home, 'trusted.pub') } }, scopes });
}

/** A copy of the unsigned layout, for signing. */
async function copyLayout(name: string): Promise<{ path: string; layout: OciLayout }> {
  const path = join(home, name);
  cpSync(unsigned, path, { recursive: true });
  return { path, layout: await OciLayout.open(path, { create: false }) };
}

const LOCKED = { '*': { require: 'require-signature', keys: ['trusted'] } };

describeWith(['root', 'btf', 'clang', 'native'], 'the trust policy for local paths', () => {
  beforeAll(async () => {
    home = tempDir('local-trust-');
    env = cliEnv(home);
    [trusted, other] = [await plainKey(), await plainKey()];
    pkg = join(home, 'opensnoop');
    cpSync(join(REPO, 'examples', 'opensnoop'), pkg, { recursive: true, filter: (p) => !p.endsWith('/opensnoop/out') });
    unsigned = (await build({ dir: pkg, env: process.env })).out;
    digest = (await (await OciLayout.open(unsigned, { create: false })).resolve('latest')).digest;
    object = join(home, 'opensnoop.bpf.o');
    const elf = await exampleObject('opensnoop');
    writeFileSync(object, elf);
    eunomia = join(home, 'package.json');
    writeFileSync(
      eunomia,
      JSON.stringify({
        bpf_object: deflateSync(elf).toString('base64'),
        bpf_object_size: elf.length,
        meta: { bpf_skel: { obj_name: 'opensnoop_bpf', data_sections: [], maps: [] } },
      }),
    );
  }, 120_000);

  it('"*": require-signature alone locks local paths: an unsigned layout, file, package.json and directory are refused before anything loads', async () => {
    const path = policy(LOCKED);
    const layout = await ebpm(['run', unsigned, '--max-events', '0']);
    expect(layout).toEqual({
      code: 3,
      out: '',
      err:
        `error: refused ${unsigned}@${digest}: not signed (require-signature by the default scope in ${path})\n` +
        `hint: sign it with a trusted key (export a signed package with its signatures), or give local paths a "local" scope in ${path}\n`,
    });
    for (const file of [object, eunomia, pkg]) {
      expect(await ebpm(['run', file, '--max-events', '0'])).toEqual({
        code: 3,
        out: '',
        err:
          `error: refused ${file}: not signed (require-signature by the default scope in ${path})\n` +
          `hint: a file or a package directory carries no signature: run a signed OCI layout, or give local paths a "local" scope in ${path}\n`,
      });
    }
    // A `local` scope of its own is what counts, not `*`.
    policy({ ...LOCKED, local: { require: 'require-signature', keys: ['trusted'] } });
    expect((await ebpm(['run', object, '--max-events', '0'])).err).toMatch(/^error: refused \S+: not signed \(require-signature by scope local in /);
  });

  it('warns under a "local": warn scope, says nothing under "local": none and under the built-in default', async () => {
    const path = policy({ ...LOCKED, local: { require: 'warn' } });
    expect(await ebpm(['run', unsigned, '--max-events', '0', '--json'])).toEqual({
      code: 0,
      out: '',
      err: `warning: ${unsigned}@${digest}: not signed (warn by scope local in ${path})\n${RAN}`,
    });
    expect(await ebpm(['run', object, '--max-events', '0', '--json'])).toEqual({
      code: 0,
      out: '',
      err: `warning: ${object}: not signed (warn by scope local in ${path})\n${ran('0.0.0')}`,
    });
    policy({ ...LOCKED, local: { require: 'none' } });
    expect(await ebpm(['run', unsigned, '--max-events', '0', '--json'])).toEqual({ code: 0, out: '', err: RAN });
    expect(await ebpm(['run', pkg, '--max-events', '0', '--json'])).toEqual({ code: 0, out: '', err: RAN });
    // No policy file (none at the default place): the built-in default's `local: none`.
    expect(await ebpm(['run', object, '--max-events', '0', '--json'], { XDG_CONFIG_HOME: join(home, 'no-config') })).toEqual({
      code: 0,
      out: '',
      err: ran('0.0.0'),
    });
    // `*: warn` with no `local` scope warns for local paths too.
    const warnAll = policy({ '*': { require: 'warn' } });
    expect((await ebpm(['run', unsigned, '--max-events', '0', '--json'])).err).toBe(
      `warning: ${unsigned}@${digest}: not signed (warn by the default scope in ${warnAll})\n${RAN}`,
    );
  });

  it("admits a layout signed by a trusted key (its own .sig tag, or an export's repository tags with a bundle), refuses one signed by another key", async () => {
    const path = policy(LOCKED);
    const signed = await copyLayout('signed');
    const subject = await signed.layout.resolve('latest');
    await signPackage(signed.layout, subject, trusted.key, { format: 'legacy', repository: 'local' });
    expect(await ebpm(['run', signed.path, '--max-events', '0', '--json'])).toEqual({ code: 0, out: '', err: RAN });

    // As `ebpm export` writes it: tags `repository:tag`, the `.sig` tag in the same repository.
    const exported = await copyLayout('exported');
    const repository = 'localhost:5000/acme/opensnoop';
    for (const t of await exported.layout.tags()) await exported.layout.untag(t);
    await exported.layout.tag(subject, `${repository}:2.0.0`);
    await signPackage(storedRepository(exported.layout, repository), subject, other.key, { format: 'legacy', repository });
    const untrusted = await ebpm(['run', exported.path, '--max-events', '0']);
    expect([untrusted.code, untrusted.err.split('\n')[0]]).toEqual([
      3,
      `error: refused ${exported.path}@${digest}: signed, but not by a trusted key: legacy signature: signed by key ${other.key.publicKey.fingerprint}, which is not trusted (require-signature by the default scope in ${path})`,
    ]);
    await signPackage(exported.layout, subject, trusted.key, { format: 'bundle', repository });
    expect(await ebpm(['run', exported.path, '--max-events', '0', '--json'])).toEqual({ code: 0, out: '', err: RAN });
    // Local runs leave no decision record in the store.
    expect(existsSync(join(env.EBPM_STORE!, 'trust'))).toBe(false);
  });
});
