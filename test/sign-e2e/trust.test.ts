// src/services/trust.ts: the policy applied to packages in the real registry (with and without
// the referrers API) and in the store,
// decision records kept beside the stored package, and a policy change re-checking them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isEbpmError, type EbpmError } from '../../src/core/errors.js';
import { Registry } from '../../src/registry/client.js';
import type { SigningKey } from '../../src/sign/keys.js';
import { DEFAULT_POLICY } from '../../src/sign/policy.js';
import { copySignatures, signPackage, storedRepository } from '../../src/services/sign.js';
import { admitPackage, readRecord, recordPath, type AdmitRequest } from '../../src/services/trust.js';
import { OciLayout } from '../../src/store/layout.js';
import { describeWith } from '../helpers/prereq.js';
import { REGISTRY_KINDS, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { plainKey, pushPackage, tempDir, writePolicy } from './fixtures.js';

const NOW = new Date('2026-03-04T05:06:07.000Z');

async function refusal(p: Promise<unknown>): Promise<EbpmError> {
  try {
    await p;
  } catch (e) {
    if (isEbpmError(e)) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

for (const { kind, referrersApi } of REGISTRY_KINDS)
  describeWith(['registry'], `trust policy over the registry (${kind}) and the store`, () => trustSuite(referrersApi));

/** The suite, against a registry with the referrers API or without it (the tag schema). */
function trustSuite(referrersApi: boolean): void {
  let reg: RunningRegistry;
  let alice: { key: SigningKey; publicPem: string };
  let bob: { key: SigningKey; publicPem: string };
  beforeAll(async () => {
    reg = await startRegistry({ referrersApi });
    [alice, bob] = [await plainKey(), await plainKey()];
  });
  afterAll(() => reg?.stop());

  const bytes = (s: string) => new TextEncoder().encode(s);

  it('admits a signed package, records who admitted it, reuses the record, and re-checks when the policy changes', async () => {
    const repository = `${reg.host}/acme/sigsnoop`;
    const remote = new Registry(reg.host).repository('acme/sigsnoop');
    const pkg = await pushPackage(remote, '1.2.0', bytes('signed object'));
    await signPackage(remote, pkg.manifest, alice.key, { format: 'legacy', repository });
    const dir = tempDir('policy-');
    const strict = writePolicy(dir, { alice: alice.publicPem }, { [`${reg.host}/acme`]: { require: 'require-signature', keys: ['alice'] } });
    const store = await OciLayout.open(tempDir('store-'));
    const req: AdmitRequest = { repository, subject: pkg.manifest, policy: strict.policy, signatures: remote, store, now: NOW };

    const first = await admitPackage(req);
    const key = { label: 'alice', fingerprint: alice.key.publicKey.fingerprint, format: 'legacy' };
    expect(first.cached).toBe(false);
    expect(first.decision).toMatchObject({ allow: true, level: 'require-signature', reason: 'signed', key, warn: false, message: '' });
    const path = recordPath(store.root, repository, pkg.manifest.digest);
    expect(path).toBe(join(store.root, 'trust', `${pkg.manifest.digest.slice(7)}.${path.split('.').at(-2)}.json`));
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      repository,
      policyDigest: strict.policy.digest,
      scope: `${reg.host}/acme`,
      level: 'require-signature',
      digest: pkg.manifest.digest,
      allow: true,
      reason: 'signed',
      key,
      checkedAt: '2026-03-04T05:06:07.000Z',
    });

    // The package and its signatures go into the store; from now on the store answers, offline.
    await pushPackage(store, `${repository}:1.2.0`, pkg.layer, pkg.config);
    const local = storedRepository(store, repository);
    expect(await copySignatures(remote, local, pkg.manifest)).toEqual({ legacy: 1, bundles: 0, referrers: 0, tags: [], skipped: 0 });
    expect(await store.tags()).toEqual([`${repository}:1.2.0`, `${repository}:sha256-${pkg.manifest.digest.slice(7)}.sig`]);
    const again = await admitPackage({ ...req, signatures: local });
    expect([again.cached, again.decision.key]).toEqual([true, key]);

    // Bob replaces alice: the record is stale, the stored signatures are checked again and refused.
    const changed = writePolicy(tempDir('policy-'), { bob: bob.publicPem }, { [`${reg.host}/acme`]: { require: 'require-signature', keys: ['bob'] } });
    const e = await refusal(admitPackage({ ...req, policy: changed.policy, signatures: local }));
    expect(e.code).toBe('TRUST_REFUSED');
    expect(e.message).toBe(
      `refused ${repository}@${pkg.manifest.digest}: signed, but not by a trusted key: legacy signature: signed by key ${alice.key.publicKey.fingerprint}, which is not trusted (require-signature by scope ${reg.host}/acme in ${changed.path})`,
    );
    expect(e.data).toEqual({ repository, digest: pkg.manifest.digest, reason: 'untrusted-key', scope: `${reg.host}/acme`, policy: changed.path });
    expect(e.hint).toBe(
      `sign it with a trusted key (ebpm sign <ref> --key <key>), or trust its signer's public key or certificate identity in ${changed.path}`,
    );
    expect(readRecord(store.root, repository, pkg.manifest.digest)).toMatchObject({
      policyDigest: changed.policy.digest,
      allow: false,
      reason: 'untrusted-key',
    });

    // Bob signs in the store: admitted again, by bob, recorded.
    await signPackage(local, pkg.manifest, bob.key, { format: 'bundle', repository });
    const byBob = await admitPackage({ ...req, policy: changed.policy, signatures: local });
    expect([byBob.cached, byBob.decision.key]).toEqual([false, { label: 'bob', fingerprint: bob.key.publicKey.fingerprint, format: 'bundle' }]);
    // Reformatting the policy file keeps its meaning, and the record.
    writeFileSync(changed.path, JSON.stringify(JSON.parse(readFileSync(changed.path, 'utf8'))));
    const { loadPolicy } = await import('../../src/sign/policy-file.js');
    expect((await admitPackage({ ...req, policy: loadPolicy(changed.path), signatures: local })).cached).toBe(true);
  });

  it('refuses an unsigned package where a signature is required, naming it, its digest and why', async () => {
    const repository = `${reg.host}/acme/unsigned`;
    const remote = new Registry(reg.host).repository('acme/unsigned');
    const pkg = await pushPackage(remote, '1.0.0', bytes('unsigned object'));
    const { path, policy } = writePolicy(tempDir('policy-'), { alice: alice.publicPem }, { [reg.host]: { require: 'require-signature', keys: ['alice'] } });
    const e = await refusal(admitPackage({ repository, subject: pkg.manifest, policy, signatures: remote }));
    expect([e.code, e.message, e.data?.reason]).toEqual([
      'TRUST_REFUSED',
      `refused ${repository}@${pkg.manifest.digest}: not signed (require-signature by scope ${reg.host} in ${path})`,
      'no-signature',
    ]);
  });

  it('refuses a signature moved from another package as a digest mismatch', async () => {
    const repository = `${reg.host}/acme/moved`;
    const remote = new Registry(reg.host).repository('acme/moved');
    const real = await pushPackage(remote, '1.0.0', bytes('real'));
    const fake = await pushPackage(remote, '1.0.1', bytes('fake'));
    const sig = await signPackage(remote, real.manifest, alice.key, { format: 'legacy', repository });
    await remote.tag(sig.manifest, `sha256-${fake.manifest.digest.slice(7)}.sig`);
    const { policy } = writePolicy(tempDir('policy-'), { alice: alice.publicPem }, { '*': { require: 'require-signature', keys: ['alice'] } });
    const e = await refusal(admitPackage({ repository, subject: fake.manifest, policy, signatures: remote }));
    expect(e.data?.reason).toBe('digest-mismatch');
    expect(e.message).toContain(`: a trusted key signed a different digest: legacy signature: payload is for ${real.manifest.digest} (`);
    expect((await admitPackage({ repository, subject: real.manifest, policy, signatures: remote })).decision.reason).toBe('signed');
  });

  it('warns about unsigned packages under the built-in default, and says nothing under none', async () => {
    const repository = `${reg.host}/acme/quickstart`;
    const remote = new Registry(reg.host).repository('acme/quickstart');
    const pkg = await pushPackage(remote, '1.0.0', bytes('quick start'));
    const store = await OciLayout.open(tempDir('store-'));
    const warned = await admitPackage({ repository, subject: pkg.manifest, policy: DEFAULT_POLICY, signatures: remote, store, now: NOW });
    expect(warned.decision).toMatchObject({ allow: true, warn: true, reason: 'no-signature', level: 'warn' });
    expect(warned.decision.message).toBe(`${repository}@${pkg.manifest.digest}: not signed (warn by the built-in default policy)`);
    // A warning is not cached: every run says it again. The same decision is not recorded again.
    const later = new Date(NOW.getTime() + 60_000);
    expect((await admitPackage({ repository, subject: pkg.manifest, policy: DEFAULT_POLICY, signatures: remote, store, now: later })).cached).toBe(false);
    const recorded = () => readRecord(store.root, repository, pkg.manifest.digest);
    expect(recorded()).toMatchObject({ reason: 'no-signature', checkedAt: NOW.toISOString() });
    const { policy } = writePolicy(tempDir('policy-'), {}, { [reg.host]: { require: 'none' } });
    const quiet = await admitPackage({ repository, subject: pkg.manifest, policy, signatures: remote, store, now: later });
    expect(quiet.decision).toMatchObject({ allow: true, warn: false, reason: 'not-required', message: '' });
    expect(recorded()).toMatchObject({ reason: 'not-required', checkedAt: later.toISOString() });
  });

  it('treats a damaged or foreign record as no record', async () => {
    const repository = `${reg.host}/acme/records`;
    const remote = new Registry(reg.host).repository('acme/records');
    const pkg = await pushPackage(remote, '1.0.0', bytes('records'));
    await signPackage(remote, pkg.manifest, alice.key, { format: 'bundle', repository });
    const { policy } = writePolicy(tempDir('policy-'), { alice: alice.publicPem }, { '*': { require: 'require-signature', keys: ['alice'] } });
    const store = await OciLayout.open(tempDir('store-'));
    const req = { repository, subject: pkg.manifest, policy, signatures: remote, store };
    await admitPackage(req);
    const path = recordPath(store.root, repository, pkg.manifest.digest);
    const good = readFileSync(path, 'utf8');
    for (const bad of [
      '{',
      '[]',
      good.replace('"allow":true', '"allow":"yes"'),
      good.replace(repository, `${repository}x`),
      good.replace('"reason":"signed"', '"reason":"trust me"'),
    ]) {
      writeFileSync(path, bad);
      expect(readRecord(store.root, repository, pkg.manifest.digest)).toBeUndefined();
      expect((await admitPackage(req)).cached).toBe(false);
      expect(readFileSync(path, 'utf8').startsWith(`{"repository":"${repository}"`)).toBe(true);
    }
    expect(existsSync(join(store.root, 'trust'))).toBe(true);
  });
}
