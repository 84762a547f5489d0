// The whole signing story through the built CLI (`node bin/ebpm.js`), against the real
// registry (with and without the referrers API) and the embedded default: keygen → push --sign → pull under require-signature →
// run refuses what is unsigned → verify offline from the store once the registry is gone →
// export/import carries signatures → a policy change re-checks what is stored. Every byte
// any command prints is collected and searched for the password and the private key.
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliEnv, runEbpm, trustPolicyFile, writeTrustPolicy } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { REGISTRY_KINDS, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { readPrivateKey, readPublicKey } from '../../src/sign/keys.js';
import { build } from '../../src/services/build.js';
import { recordPath } from '../../src/services/trust.js';
import { tempDir } from './fixtures.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const PASSWORD = 'pw-Quartz-7-never-printed';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Everything every command printed, for the secrets check. */
const printed: string[] = [];

async function ebpm(args: string[], env: Record<string, string>, opts: { detached?: boolean } = {}): Promise<Run> {
  const r = await runEbpm(args, { cwd: env.HOME!, env, detached: opts.detached ?? false });
  printed.push(r.stdout, r.stderr);
  return { code: r.code ?? -1, out: r.stdout, err: r.stderr };
}

function sandbox(extra: Record<string, string> = {}): Record<string, string> {
  return cliEnv(tempDir('sign-cli-'), { EBPM_PASSWORD: PASSWORD, ...extra });
}

function policy(env: Record<string, string>, scopes: Record<string, { require: string; keys?: string[] }>, keys: Record<string, string>): void {
  // Key files sit in HOME; the policy names them by absolute path, as it lives elsewhere.
  writeTrustPolicy(env, { version: 1, keys: Object.fromEntries(Object.entries(keys).map(([l, p]) => [l, { path: resolve(env.HOME!, p) }])), scopes });
}

/** `builtLayout` builds a copy of examples/sigsnoop with the real clang and returns its out/ layout. */
async function builtLayout(home: string): Promise<string> {
  const src = join(home, 'sigsnoop');
  cpSync(join(ROOT, 'examples/sigsnoop'), src, { recursive: true, filter: (p) => !p.endsWith('/sigsnoop/out') });
  return (await build({ dir: src, env: process.env })).out;
}

for (const { kind, referrersApi } of REGISTRY_KINDS)
  describeWith(['registry', 'clang', 'btf', 'bpftool', 'wasi'], `ebpm keygen, sign, verify and the trust policy through the CLI (${kind})`, () =>
    cliSuite(referrersApi),
  );

/** The suite, against a registry with the referrers API or without it (the tag schema). */
function cliSuite(referrersApi: boolean): void {
  let reg: RunningRegistry;
  let env: Record<string, string>;
  let layout: string;
  let digest: string;
  let fingerprint: string;
  beforeAll(async () => {
    reg = await startRegistry({ referrersApi });
    env = sandbox({ EBPM_REGISTRY: reg.host });
    layout = await builtLayout(env.HOME!);
  });
  let stopped = false;
  afterAll(async () => {
    if (!stopped) await reg?.stop();
    // The secrets never appear, in any command's output.
    const all = printed.join('\n');
    expect(all.includes(PASSWORD)).toBe(false);
    for (const key of ['cosign.key', 'other.key']) {
      const pem = readFileSync(join(env.HOME!, key), 'utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('-----'));
      for (const line of pem) expect(all.includes(line.slice(0, 24))).toBe(false);
    }
  });

  it('keygen writes a cosign key pair, the private key readable by its owner only', async () => {
    const r = await ebpm(['keygen'], env);
    expect([r.code, r.err]).toEqual([0, '']);
    const [first, second] = r.out.trimEnd().split('\n');
    expect(first).toBe(`wrote ${env.HOME}/cosign.key (private, encrypted) and ${env.HOME}/cosign.pub`);
    fingerprint = second!.replace('key fingerprint ', '');
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(statSync(join(env.HOME!, 'cosign.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(env.HOME!, 'cosign.key'), 'utf8')).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const again = await ebpm(['keygen'], env);
    expect([again.code, again.err]).toEqual([
      1,
      `error: keygen: ${env.HOME}/cosign.key and ${env.HOME}/cosign.pub already exist\nhint: choose another --output-key-prefix, or pass --force to replace the key pair\n`,
    ]);
    expect((await ebpm(['keygen', '--output-key-prefix', 'other'], env)).code).toBe(0);
    // No password in the environment and no terminal: a clear error, nothing written.
    const { EBPM_PASSWORD: _pw, ...noPassword } = env;
    const none = await ebpm(['keygen', '--output-key-prefix', 'nopw'], noPassword, { detached: true });
    expect([none.code, none.err]).toEqual([
      1,
      'error: no terminal to ask for the key password\nhint: set EBPM_PASSWORD (or COSIGN_PASSWORD) to the password (an empty value means no password)\n',
    ]);
    expect(existsSync(join(env.HOME!, 'nopw.key'))).toBe(false);
    // Scripts written for cosign set COSIGN_PASSWORD; EBPM_PASSWORD wins when both are set.
    const cosign = await ebpm(['keygen', '--output-key-prefix', 'cosignpw'], { ...noPassword, COSIGN_PASSWORD: 'from-cosign' }, { detached: true });
    expect([cosign.code, cosign.err]).toEqual([0, '']);
    expect((await readPrivateKey(readFileSync(join(env.HOME!, 'cosignpw.key'), 'utf8'), 'from-cosign')).publicKey.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const both = await ebpm(['keygen', '--output-key-prefix', 'bothpw'], { ...env, COSIGN_PASSWORD: 'from-cosign' }, { detached: true });
    expect(both.code).toBe(0);
    await expect(readPrivateKey(readFileSync(join(env.HOME!, 'bothpw.key'), 'utf8'), 'from-cosign')).rejects.toThrowWithCode('KEY_BAD_PASSWORD', {
      hint: 'give the password the key was created with (EBPM_PASSWORD, or COSIGN_PASSWORD, or at the prompt)',
    });
  });

  it('push --sign signs as it pushes; pull under require-signature takes signed packages and refuses the rest', async () => {
    const pushed = await ebpm(['push', layout, '--to', `${reg.host}/acme/sigsnoop`, '--sign', '--key', 'cosign.key'], env);
    expect(pushed.code).toBe(0);
    digest = /pushed \S+ (sha256:[0-9a-f]{64})/.exec(pushed.out)![1]!;
    expect(pushed.out).toContain(`signed ${digest} with key ${fingerprint} (legacy)\n`);
    const bundle = await ebpm(['sign', `${reg.host}/acme/sigsnoop:1.2.0`, '--key', 'other.key', '--bundle'], env);
    expect(bundle.code).toBe(0);
    expect(bundle.out).toMatch(new RegExp(`^signed ${reg.host}/acme/sigsnoop@${digest} with key [0-9a-f]{16} \\(bundle: referrer sha256:[0-9a-f]{64}\\)\\n$`));
    expect((await ebpm(['push', layout, '--to', `${reg.host}/acme/unsigned`], env)).code).toBe(0);

    policy(env, { [`${reg.host}/acme`]: { require: 'require-signature', keys: ['release'] } }, { release: 'cosign.pub' });
    const ok = await ebpm(['pull', `${reg.host}/acme/sigsnoop:1.2.0`], env);
    expect([ok.code, ok.err]).toEqual([0, '']);
    const refused = await ebpm(['pull', `${reg.host}/acme/unsigned:1.2.0`], env);
    expect(refused.code).toBe(3);
    expect(refused.err).toBe(
      `error: pull ${reg.host}/acme/unsigned:1.2.0: refused ${reg.host}/acme/unsigned@${digest}: not signed (require-signature by scope ${reg.host}/acme in ${trustPolicyFile(env)})\n` +
        `hint: sign it with a trusted key (ebpm sign <ref> --key <key>), or trust its signer's public key or certificate identity in ${trustPolicyFile(env)}\n`,
    );
    const index = JSON.parse(readFileSync(join(env.EBPM_STORE!, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    const refs = index.manifests
      .map((m) => m.annotations?.['org.opencontainers.image.ref.name'])
      .filter(Boolean)
      .sort();
    expect(refs).toEqual([`${reg.host}/acme/sigsnoop:1.2.0`, `${reg.host}/acme/sigsnoop:sha256-${digest.slice(7)}.sig`]);
  });

  it('run refuses the unsigned package before loading anything', async () => {
    const r = await ebpm(['run', `${reg.host}/acme/unsigned:1.2.0`, '--duration', '1'], env);
    expect(r.code).toBe(3);
    expect(r.out).toBe('');
    expect(r.err.split('\n')[0]).toContain(`refused ${reg.host}/acme/unsigned@${digest}: not signed (`);
  });

  it('verify checks both formats offline from the store once the registry is gone, and export/import carries them', async () => {
    await reg.stop();
    stopped = true;
    const v = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, '--key', 'cosign.pub', '--key', 'other.pub'], env);
    expect([v.code, v.err]).toEqual([0, '']);
    const other = readFileSync(join(env.HOME!, 'other.pub'), 'utf8');
    expect(other).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(v.out.split('\n').slice(0, 2)).toEqual([
      `verified ${reg.host}/acme/sigsnoop@${digest} (from the store)`,
      `  signed by cosign (key ${fingerprint}), legacy signature`,
    ]);
    expect(v.out.split('\n')[2]).toMatch(/^ {2}signed by other \(key [0-9a-f]{16}\), bundle signature$/);
    const byPolicy = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, '--json'], env);
    expect(JSON.parse(byPolicy.out)).toMatchObject({
      verified: true,
      from: 'store',
      keys: 'policy',
      signedBy: [{ format: 'legacy', keyLabel: 'release', fingerprint }],
    });

    const tar = join(env.HOME!, 'sigsnoop.tar');
    expect((await ebpm(['export', `${reg.host}/acme/sigsnoop:1.2.0`, tar], env)).code).toBe(0);
    const elsewhere = { ...env, EBPM_STORE: join(env.HOME!, 'store2') };
    expect((await ebpm(['import', tar], elsewhere)).code).toBe(0);
    const carried = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, '--key', 'cosign.pub', '--key', 'other.pub', '--json'], elsewhere);
    expect(JSON.parse(carried.out)).toMatchObject({
      verified: true,
      from: 'store',
      signedBy: [
        { format: 'legacy', keyLabel: 'cosign' },
        { format: 'bundle', keyLabel: 'other' },
      ],
    });
    const wrongKey = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, '--key', join(ROOT, 'test/sign/fixtures/sigstore-js-key-1.pub')], elsewhere);
    expect(wrongKey.code).toBe(3);
    // The signer is named by the same fingerprint as on success above, not by its base64 hint.
    expect(readPublicKey(readFileSync(join(env.HOME!, 'cosign.pub'), 'utf8')).fingerprint).toBe(fingerprint);
    expect(wrongKey.err.split('\n')[0]).toBe(
      `error: verify ${reg.host}/acme/sigsnoop:1.2.0: ${reg.host}/acme/sigsnoop@${digest}: signed, but not by a trusted key: legacy signature: signed by key ${fingerprint}, which is not trusted (2 signatures, none trusted)`,
    );
  });

  it('a policy change re-checks what is stored: run refuses the package once its signer is no longer trusted', async () => {
    policy(
      env,
      { [`${reg.host}/acme`]: { require: 'require-signature', keys: ['someone-else'] } },
      { 'someone-else': join(ROOT, 'test/sign/fixtures/sigstore-js-key-1.pub') },
    );
    const r = await ebpm(['run', `${reg.host}/acme/sigsnoop:1.2.0`, '--duration', '1'], env);
    expect(r.code).toBe(3);
    expect(r.err.split('\n')[0]).toContain(`refused ${reg.host}/acme/sigsnoop@${digest}: signed, but not by a trusted key: `);
    const record = readFileSync(recordPath(env.EBPM_STORE!, `${reg.host}/acme/sigsnoop`, digest), 'utf8');
    expect(JSON.parse(record)).toMatchObject({ repository: `${reg.host}/acme/sigsnoop`, allow: false, reason: 'untrusted-key' });
  });
}

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'signing against the embedded default registry', () => {
  it('push --sign --bundle, pull under require-signature and verify, with no registry server', async () => {
    const env = sandbox();
    const layout = await builtLayout(env.HOME!);
    expect((await ebpm(['keygen'], env)).code).toBe(0);
    const pushed = await ebpm(['push', layout, '--sign', '--bundle', '--key', 'cosign.key'], env);
    expect(pushed.code).toBe(0);
    expect(pushed.out).toMatch(/signed sha256:[0-9a-f]{64} with key [0-9a-f]{16} \(bundle\)\n/);
    policy(env, { 'local.invalid': { require: 'require-signature', keys: ['me'] } }, { me: 'cosign.pub' });
    const pulled = await ebpm(['pull', 'sigsnoop:1.2.0'], env);
    expect([pulled.code, pulled.err]).toEqual([0, '']);
    const v = await ebpm(['verify', 'sigsnoop:1.2.0', '--json'], env);
    expect(JSON.parse(v.out)).toMatchObject({ verified: true, from: 'store', keys: 'policy', signedBy: [{ format: 'bundle', keyLabel: 'me' }] });
    // The default policy (no file): an unsigned package runs... with a warning on every pull.
    const unsigned = sandbox();
    const defaults = { ...env, XDG_CONFIG_HOME: unsigned.XDG_CONFIG_HOME! };
    expect((await ebpm(['push', layout, '--to', 'plain/sigsnoop'], { ...defaults, EBPM_LOCAL_REGISTRY: unsigned.EBPM_LOCAL_REGISTRY! })).code).toBe(0);
    const warned = await ebpm(['pull', 'plain/sigsnoop:1.2.0'], { ...defaults, EBPM_LOCAL_REGISTRY: unsigned.EBPM_LOCAL_REGISTRY! });
    expect(warned.code).toBe(0);
    expect(warned.err).toMatch(/^warning: local\.invalid\/plain\/sigsnoop@sha256:[0-9a-f]{64}: not signed \(warn by the built-in default policy\)\n$/);
  });
});
