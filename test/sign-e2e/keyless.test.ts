// Keyless signatures through the built CLI and the real registry: a package signed by a mock
// Fulcio certificate (test/sign/keyless.ts) as a sigstore-bundle referrer, verified offline
// with cosign's flags (`--certificate-identity`, `--certificate-oidc-issuer`, `--trusted-root`)
// and admitted by `pull` and `run` under a policy scope requiring an identity; a wrong
// identity, a wrong issuer and a certificate from another CA are refused with exit 3.
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Digest } from '../../src/core/digest.js';
import { Registry } from '../../src/registry/client.js';
import { build } from '../../src/services/build.js';
import { bundleReferrerManifest } from '../../src/sign/bundle.js';
import { loadPolicy } from '../../src/sign/policy-file.js';
import { admitPackage, readRecord } from '../../src/services/trust.js';
import { OciLayout } from '../../src/store/layout.js';
import { cliEnv, runEbpm, trustPolicyFile, writeTrustPolicy } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { keylessAuthority, signKeyless, type KeylessAuthority, type KeylessSignOptions } from '../sign/keyless.js';
import { pushPackage, tempDir } from './fixtures.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CREATED = new Date('2026-03-04T05:06:07Z');
const WORKFLOW = 'https://github.com/acme/sigsnoop/.github/workflows/release.yml@refs/tags/v1.2.0';
const MALLORY = 'https://github.com/mallory/sigsnoop/.github/workflows/release.yml@refs/heads/main';
const GITHUB = 'https://token.actions.githubusercontent.com';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

describeWith(['registry', 'clang', 'btf', 'bpftool', 'wasi'], 'keyless signatures through the CLI and the registry', () => {
  let reg: RunningRegistry;
  let env: Record<string, string>;
  let authority: KeylessAuthority;
  let digest: Digest;
  const ebpm = async (args: string[]): Promise<Run> => {
    const r = await runEbpm(args, { cwd: env.HOME!, env, detached: false });
    return { code: r.code ?? -1, out: r.stdout, err: r.stderr };
  };
  /** Pushes the package to `repo` and a keyless bundle for it as a referrer, as cosign v3 does. */
  const publish = async (layout: string, repo: string, by: KeylessAuthority, who: KeylessSignOptions): Promise<void> => {
    expect((await ebpm(['push', layout, '--to', `${reg.host}/${repo}`])).code).toBe(0);
    const remote = new Registry(reg.host).repository(repo);
    const subject = await remote.resolve('1.2.0');
    digest = subject.digest;
    const sig = bundleReferrerManifest(subject, await signKeyless(by, subject.digest, who), CREATED);
    for (const blob of sig.blobs) await remote.push(blob.descriptor, [blob.bytes]);
    await remote.push(sig.descriptor, [sig.bytes]);
  };

  beforeAll(async () => {
    reg = await startRegistry();
    env = cliEnv(tempDir('keyless-cli-'));
    const src = join(env.HOME!, 'sigsnoop');
    cpSync(join(ROOT, 'examples/sigsnoop'), src, { recursive: true, filter: (p) => !p.endsWith('/sigsnoop/out') });
    const layout = (await build({ dir: src, env: process.env })).out;
    let stranger: KeylessAuthority;
    [authority, stranger] = await Promise.all([keylessAuthority(), keylessAuthority()]);
    writeFileSync(join(env.HOME!, 'trusted_root.json'), JSON.stringify(authority.trustedRoot));
    await publish(layout, 'acme/sigsnoop', authority, { subject: WORKFLOW, issuer: GITHUB });
    await publish(layout, 'acme/mallory', authority, { subject: MALLORY, issuer: GITHUB });
    await publish(layout, 'acme/stranger', stranger, { subject: WORKFLOW, issuer: GITHUB });
  }, 120_000);
  afterAll(() => reg?.stop());

  const flags = ['--certificate-identity', WORKFLOW, '--certificate-oidc-issuer', GITHUB, '--trusted-root', 'trusted_root.json'];

  it('verify takes the signer identity and issuer with cosign flags, offline against the given trusted root', async () => {
    const r = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, ...flags]);
    expect([r.code, r.err]).toEqual([0, '']);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`verified ${reg.host}/acme/sigsnoop@${digest} (from the registry)`);
    expect(lines[1]).toMatch(new RegExp(`^ {2}signed by ${WORKFLOW} \\(issuer ${GITHUB}, key [0-9a-f]{16}, trusted root trusted_root\\), bundle signature$`));
    const regexp = await ebpm([
      'verify',
      `${reg.host}/acme/sigsnoop:1.2.0`,
      '--certificate-identity-regexp',
      '^https://github\\.com/acme/',
      '--certificate-oidc-issuer-regexp',
      '^https://token\\.actions\\.githubusercontent\\.com$',
      '--trusted-root',
      'trusted_root.json',
      '--json',
    ]);
    expect(regexp.code).toBe(0);
    expect(JSON.parse(regexp.out)).toMatchObject({
      verified: true,
      keys: 'given',
      signedBy: [{ format: 'bundle', keyLabel: 'trusted_root', identity: { subject: WORKFLOW, issuer: GITHUB } }],
    });
  });

  it('verify refuses another identity, another issuer and a certificate from another CA (exit 3), naming what was found and wanted', async () => {
    const at = (repo: string) =>
      `error: verify ${reg.host}/${repo}:1.2.0: ${reg.host}/${repo}@${digest}: signed, but not by a trusted key: bundle signature: keyless signature by`;
    const wrongIdentity = await ebpm(['verify', `${reg.host}/acme/mallory:1.2.0`, ...flags]);
    expect(wrongIdentity.code).toBe(3);
    expect(wrongIdentity.err.split('\n')[0]).toBe(
      `${at('acme/mallory')} subject "${MALLORY}", issuer "${GITHUB}", not by a trusted identity (subject "${WORKFLOW}", issuer "${GITHUB}")`,
    );
    const wrongIssuer = await ebpm([
      'verify',
      `${reg.host}/acme/sigsnoop:1.2.0`,
      ...flags.slice(0, 2),
      '--certificate-oidc-issuer',
      'https://gitlab.com',
      ...flags.slice(4),
    ]);
    expect(wrongIssuer.code).toBe(3);
    expect(wrongIssuer.err.split('\n')[0]).toBe(
      `${at('acme/sigsnoop')} subject "${WORKFLOW}", issuer "${GITHUB}", not by a trusted identity (subject "${WORKFLOW}", issuer "https://gitlab.com")`,
    );
    const otherCa = await ebpm(['verify', `${reg.host}/acme/stranger:1.2.0`, ...flags]);
    expect(otherCa.code).toBe(3);
    expect(otherCa.err.split('\n')[0]).toBe(
      `${at('acme/stranger')} subject "${WORKFLOW}", issuer "${GITHUB}": its certificate does not chain to a certificate authority of trusted root trusted_root`,
    );
  });

  it('the keyless flags go together (exit 2)', async () => {
    const noRoot = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, ...flags.slice(0, 4)]);
    expect([noRoot.code, noRoot.err.split('\n')[0]]).toEqual([
      2,
      'error: verify: --certificate-identity needs --trusted-root (ebpm verifies keyless signatures offline)',
    ]);
    const noIssuer = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, ...flags.slice(0, 2), ...flags.slice(4)]);
    expect([noIssuer.code, noIssuer.err.split('\n')[0]]).toEqual([
      2,
      'error: verify: needs exactly one of --certificate-oidc-issuer, --certificate-oidc-issuer-regexp',
    ]);
    const badRe = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, '--certificate-identity-regexp', '(', ...flags.slice(2)]);
    expect([badRe.code, badRe.err.split('\n')[0]]).toEqual([
      2,
      'error: verify: --certificate-identity-regexp: Invalid regular expression: /(/u: Unterminated group',
    ]);
  });

  it('pull and run admit what a trusted identity signed under require-signature and refuse another identity', async () => {
    const policy = writeTrustPolicy(env, {
      version: 1,
      trustedRoots: { 'acme-sigstore': { path: join(env.HOME!, 'trusted_root.json') } },
      scopes: { [`${reg.host}/acme`]: { require: 'require-signature', identities: [{ subject: WORKFLOW, issuer: GITHUB }], trustedRoot: 'acme-sigstore' } },
    });
    expect(policy).toBe(trustPolicyFile(env));
    const ok = await ebpm(['pull', `${reg.host}/acme/sigsnoop:1.2.0`]);
    expect([ok.code, ok.err]).toEqual([0, '']);
    const stored = await ebpm(['verify', `${reg.host}/acme/sigsnoop:1.2.0`, '--json']);
    expect(JSON.parse(stored.out)).toMatchObject({
      verified: true,
      from: 'store',
      keys: 'policy',
      signedBy: [{ format: 'bundle', keyLabel: 'acme-sigstore', identity: { subject: WORKFLOW, issuer: GITHUB } }],
    });
    const why = `signed, but not by a trusted key: bundle signature: keyless signature by subject "${MALLORY}", issuer "${GITHUB}", not by a trusted identity (subject "${WORKFLOW}", issuer "${GITHUB}") (require-signature by scope ${reg.host}/acme in ${policy})`;
    const pull = await ebpm(['pull', `${reg.host}/acme/mallory:1.2.0`]);
    expect(pull.code).toBe(3);
    expect(pull.err).toBe(
      `error: pull ${reg.host}/acme/mallory:1.2.0: refused ${reg.host}/acme/mallory@${digest}: ${why}\n` +
        `hint: sign it with a trusted key (ebpm sign <ref> --key <key>), or trust its signer's public key or certificate identity in ${policy}\n`,
    );
    const run = await ebpm(['run', `${reg.host}/acme/mallory:1.2.0`, '--duration', '1']);
    expect(run.code).toBe(3);
    expect(run.out).toBe('');
    expect(run.err.split('\n')[0]).toContain(`refused ${reg.host}/acme/mallory@${digest}: ${why}`);
  });
});

describeWith(['registry'], 'keyless admission and decision records', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(() => reg?.stop());

  it('admits a package a trusted identity signed, records the identity, and reuses the record', async () => {
    const authority = await keylessAuthority();
    const repository = `${reg.host}/acme/tool`;
    const remote = new Registry(reg.host).repository('acme/tool');
    const pkg = await pushPackage(remote, '1.0.0', new TextEncoder().encode('keyless object'));
    const sig = bundleReferrerManifest(pkg.manifest, await signKeyless(authority, pkg.manifest.digest, { subject: WORKFLOW, issuer: GITHUB }), CREATED);
    for (const blob of sig.blobs) await remote.push(blob.descriptor, [blob.bytes]);
    await remote.push(sig.descriptor, [sig.bytes]);
    const dir = tempDir('keyless-policy-');
    writeFileSync(join(dir, 'root.json'), JSON.stringify(authority.trustedRoot));
    const path = join(dir, 'trust-policy.json');
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        trustedRoots: { ci: { path: 'root.json' } },
        scopes: {
          [`${reg.host}/acme`]: {
            require: 'require-signature',
            identities: [{ subjectRegExp: '^https://github\\.com/acme/', issuer: GITHUB }],
            trustedRoot: 'ci',
          },
        },
      }),
    );
    const policy = loadPolicy(path);
    const store = await OciLayout.open(tempDir('keyless-store-'));
    const req = { repository, subject: pkg.manifest, policy, signatures: remote, store, now: CREATED };
    const first = await admitPackage(req);
    expect(first.cached).toBe(false);
    const key = { label: 'ci', fingerprint: first.decision.key!.fingerprint, format: 'bundle', identity: { subject: WORKFLOW, issuer: GITHUB } };
    expect(first.decision).toMatchObject({ allow: true, level: 'require-signature', reason: 'signed', key, warn: false, message: '' });
    expect(key.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(readRecord(store.root, repository, pkg.manifest.digest)).toEqual({
      repository,
      policyDigest: policy.digest,
      scope: `${reg.host}/acme`,
      level: 'require-signature',
      digest: pkg.manifest.digest,
      allow: true,
      reason: 'signed',
      key,
      checkedAt: CREATED.toISOString(),
    });
    const again = await admitPackage(req);
    expect([again.cached, again.decision.key]).toEqual([true, key]);
  });
});
