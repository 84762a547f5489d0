// `ebpm verify <ref>` through the built CLI on packages carrying the shapes of
// test/helpers/cosign-shapes.ts, against the real registry: what it says, and its exit code.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MEDIA_TYPE_EMPTY_JSON } from '../../src/core/oci.js';
import { Registry } from '../../src/registry/client.js';
import type { SigningKey } from '../../src/sign/keys.js';
import { ARTIFACT_TYPE_COSIGN_SIGNATURE } from '../../src/sign/referrer.js';
import { cliEnv, runEbpm, sandboxDir } from '../helpers/cli.js';
import { notationReferrer, ociReferrer, selfSignedCertificate, tagSchemaIndex } from '../helpers/cosign-shapes.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { plainKey, pushPackage, type TestPackage } from './fixtures.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

describeWith(['registry'], 'ebpm verify on cosign and Notation shapes', () => {
  let reg: RunningRegistry;
  let env: Record<string, string>;
  let alice: { key: SigningKey; publicPem: string };
  let notarised: TestPackage;
  let ociSigned: TestPackage;
  beforeAll(async () => {
    reg = await startRegistry();
    env = cliEnv(sandboxDir('shapes-cli-'), { EBPM_REGISTRY: reg.host });
    alice = await plainKey();
    writeFileSync(join(env.HOME!, 'alice.pub'), alice.publicPem);
    const bytes = (s: string) => new TextEncoder().encode(s);
    const notary = new Registry(reg.host).repository('shapes/notary');
    notarised = await pushPackage(notary, '1.0.0', bytes('notation signed'));
    const jws = await notationReferrer(notary, notarised.manifest, { jws: selfSignedCertificate('/CN=release signer/O=Example Corp') });
    await tagSchemaIndex(notary, notarised.manifest, [{ manifest: jws.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON }]);
    const oci = new Registry(reg.host).repository('shapes/oci11');
    ociSigned = await pushPackage(oci, '1.0.0', bytes('oci 1.1 signed'));
    const sig = await ociReferrer(oci, alice.key, `${reg.host}/shapes/oci11`, ociSigned.manifest);
    await tagSchemaIndex(oci, ociSigned.manifest, [{ manifest: sig.manifest, configMediaType: ARTIFACT_TYPE_COSIGN_SIGNATURE }]);
  });
  afterAll(() => reg?.stop());

  it('says who signed with Notation instead of "not signed", and still exits 3', async () => {
    const ref = `${reg.host}/shapes/notary:1.0.0`;
    const r = await runEbpm(['verify', ref, '--key', 'alice.pub'], { env, cwd: env.HOME! });
    expect([r.code, r.stdout]).toEqual([3, '']);
    expect(r.stderr.split('\n')[0]).toBe(
      `error: verify ${ref}: ${reg.host}/shapes/notary@${notarised.manifest.digest}: signed with Notation by CN=release signer, O=Example Corp; not verified: ebpm verifies cosign and sigstore signatures`,
    );
    const j = await runEbpm(['verify', ref, '--key', 'alice.pub', '--json'], { env, cwd: env.HOME! });
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toMatchObject({
      verified: false,
      reason: 'no-signature',
      notation: [{ envelope: 'jws', signer: 'CN=release signer, O=Example Corp' }],
    });
  });

  it("verifies cosign's OCI 1.1 simple-signing referrer with the signer's key", async () => {
    const ref = `${reg.host}/shapes/oci11:1.0.0`;
    const r = await runEbpm(['verify', ref, '--key', 'alice.pub'], { env, cwd: env.HOME! });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(
      `verified ${reg.host}/shapes/oci11@${ociSigned.manifest.digest} (from the registry)\n  signed by alice (key ${alice.key.publicKey.fingerprint}), legacy signature\n`,
    );
  });
});
