// `ebpm verify <ref>` through the built CLI on packages carrying the shapes of
// test/helpers/cosign-shapes.ts, against the real registry: what it says, and its exit code.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pushBytes } from '../../src/content/storage.js';
import { parseDigest } from '../../src/core/digest.js';
import { MEDIA_TYPE_EMPTY_JSON, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes } from '../../src/core/oci.js';
import { Registry } from '../../src/registry/client.js';
import type { SigningKey } from '../../src/sign/keys.js';
import { ARTIFACT_TYPE_COSIGN_SIGNATURE } from '../../src/sign/referrer.js';
import { cliEnv, runEbpm, sandboxDir } from '../helpers/cli.js';
import { copySignatures, storedRepository } from '../../src/services/sign.js';
import { OciLayout } from '../../src/store/layout.js';
import { bundleReferrer, legacyTag, notationReferrer, ociReferrer, selfSignedCertificate, signedBundle, tagSchemaIndex } from '../helpers/cosign-shapes.js';
import { describeWith } from '../helpers/prereq.js';
import { keylessAuthority, signKeyless } from '../sign/keyless.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { plainKey, pushPackage, type TestPackage } from './fixtures.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

describeWith(['registry'], 'ebpm verify on cosign and Notation shapes', () => {
  let reg: RunningRegistry;
  let env: Record<string, string>;
  let alice: { key: SigningKey; publicPem: string };
  let notarised: TestPackage;
  let ociSigned: TestPackage;
  let jwsManifest: string;
  beforeAll(async () => {
    reg = await startRegistry();
    env = cliEnv(sandboxDir('shapes-cli-'), { EBPM_REGISTRY: reg.host });
    alice = await plainKey();
    writeFileSync(join(env.HOME!, 'alice.pub'), alice.publicPem);
    const bytes = (s: string) => new TextEncoder().encode(s);
    const notary = new Registry(reg.host).repository('shapes/notary');
    notarised = await pushPackage(notary, '1.0.0', bytes('notation signed'));
    const jws = await notationReferrer(notary, notarised.manifest, { jws: selfSignedCertificate('/CN=release signer/O=Example Corp') });
    jwsManifest = jws.manifest.digest;
    await tagSchemaIndex(notary, notarised.manifest, [{ manifest: jws.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON }]);
    const oci = new Registry(reg.host).repository('shapes/oci11');
    ociSigned = await pushPackage(oci, '1.0.0', bytes('oci 1.1 signed'));
    const sig = await ociReferrer(oci, alice.key, `${reg.host}/shapes/oci11`, ociSigned.manifest);
    await tagSchemaIndex(oci, ociSigned.manifest, [{ manifest: sig.manifest, configMediaType: ARTIFACT_TYPE_COSIGN_SIGNATURE }]);
  });
  afterAll(() => reg?.stop());

  it('lists everything attached, each with its shape, signer and verdict, and exits 0', async () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    const r = new Registry(reg.host).repository('shapes/everything');
    const pkg = await pushPackage(r, '1.0.0', bytes('everything attached'));
    const bob = await plainKey();
    const legacy = await legacyTag(r, alice.key, `${reg.host}/shapes/everything`, pkg.manifest);
    const oci = await ociReferrer(r, bob.key, `${reg.host}/shapes/everything`, pkg.manifest);
    const bundle = await bundleReferrer(r, pkg.manifest, await signedBundle(alice.key, pkg.manifest));
    const att = await bundleReferrer(r, pkg.manifest, await signedBundle(alice.key, pkg.manifest), { predicateType: 'https://slsa.dev/provenance/v1' });
    const notation = await notationReferrer(r, pkg.manifest, { jws: selfSignedCertificate('/CN=release signer/O=Example Corp') });
    const sbomLayer = await pushBytes(r, 'application/vnd.cyclonedx+json', bytes('{"bomFormat":"CycloneDX"}'));
    const config = await pushBytes(r, MEDIA_TYPE_EMPTY_JSON, bytes('{}'));
    const sbom = await pushBytes(
      r,
      MEDIA_TYPE_IMAGE_MANIFEST,
      manifestBytes({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
        artifactType: 'application/vnd.cyclonedx+json',
        config,
        layers: [sbomLayer],
        subject: pkg.manifest,
      }),
    );
    const hex = parseDigest(pkg.manifest.digest).encoded;
    const attTag = await pushBytes(
      r,
      MEDIA_TYPE_IMAGE_MANIFEST,
      manifestBytes({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config, layers: [sbomLayer] }),
    );
    await r.tag(attTag, `sha256-${hex}.att`);
    const referrers = [
      { manifest: oci.manifest, configMediaType: ARTIFACT_TYPE_COSIGN_SIGNATURE },
      { manifest: bundle.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
      { manifest: att.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
      { manifest: notation.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON },
      { manifest: sbom, configMediaType: MEDIA_TYPE_EMPTY_JSON },
    ];
    await tagSchemaIndex(r, pkg.manifest, referrers);
    const line: Record<string, string> = {
      [oci.manifest.digest]:
        `signature (OCI 1.1 referrer ${oci.manifest.digest}): signed, but not by a trusted key: no trusted key verifies this signature (another signer, or altered content)`,
      [bundle.manifest.digest]: `signature (bundle referrer ${bundle.manifest.digest}), key ${alice.key.publicKey.fingerprint}: trusted (alice)`,
      [att.manifest.digest]:
        `attestation (bundle referrer ${att.manifest.digest}, https://slsa.dev/provenance/v1), key ${alice.key.publicKey.fingerprint}: an attestation, not a signature`,
      [notation.manifest.digest]:
        `notation (OCI 1.1 referrer ${notation.manifest.digest}, JWS envelope), CN=release signer, O=Example Corp: not verified: ebpm verifies cosign and sigstore signatures`,
      [sbom.digest]: `sbom (OCI 1.1 referrer ${sbom.digest}, application/vnd.cyclonedx+json): not a signature`,
    };
    const sorted = referrers.map((x) => x.manifest.digest).sort();
    const ref = `${reg.host}/shapes/everything:1.0.0`;
    const out = await runEbpm(['verify', ref, '--key', 'alice.pub', '--list'], { env, cwd: env.HOME! });
    expect([out.code, out.stderr]).toEqual([0, '']);
    expect(out.stdout.trimEnd().split('\n')).toEqual([
      `${reg.host}/shapes/everything@${pkg.manifest.digest} (from the registry)`,
      `├── signature (legacy tag sha256-${hex}.sig), key ${alice.key.publicKey.fingerprint}: trusted (alice)`,
      ...sorted.map((d) => `├── ${line[d]}`),
      `└── attestation (legacy tag sha256-${hex}.att): an attestation, not a signature`,
    ]);
    const json = await runEbpm(['verify', ref, '--key', 'alice.pub', '--list', '--json'], { env, cwd: env.HOME! });
    expect(json.code).toBe(0);
    const listing = JSON.parse(json.stdout);
    expect(listing).toMatchObject({ repository: `${reg.host}/shapes/everything`, digest: pkg.manifest.digest, from: 'registry', keys: 'given' });
    expect(listing.items[0]).toEqual({
      kind: 'signature',
      shape: 'legacy-tag',
      manifest: legacy.manifest.digest,
      tag: `sha256-${hex}.sig`,
      signer: { key: alice.key.publicKey.fingerprint },
      trust: { status: 'trusted', key: 'alice' },
    });
    expect(listing.items.map((i: { kind: string; shape: string }) => `${i.kind}:${i.shape}`).sort()).toEqual([
      'attestation:bundle',
      'attestation:legacy-tag',
      'notation:oci-1.1-referrer',
      'sbom:oci-1.1-referrer',
      'signature:bundle',
      'signature:legacy-tag',
      'signature:oci-1.1-referrer',
    ]);
  });

  it('lists offline from the store when the store holds the package', async () => {
    const r = new Registry(reg.host).repository('shapes/stored');
    const pkg = await pushPackage(r, '1.0.0', new TextEncoder().encode('stored'));
    const sig = await ociReferrer(r, alice.key, `${reg.host}/shapes/stored`, pkg.manifest);
    await tagSchemaIndex(r, pkg.manifest, [{ manifest: sig.manifest, configMediaType: ARTIFACT_TYPE_COSIGN_SIGNATURE }]);
    // Stored under a registry nothing listens on: any network access would fail the command.
    const offline = '127.0.0.1:1/shapes/stored';
    const store = await OciLayout.open(env.EBPM_STORE!);
    await pushPackage(store, `${offline}:1.0.0`, pkg.layer, pkg.config);
    await copySignatures(r, storedRepository(store, offline), pkg.manifest);
    const out = await runEbpm(['verify', `${offline}:1.0.0`, '--key', 'alice.pub', '--list'], { env, cwd: env.HOME! });
    expect([out.code, out.stderr]).toEqual([0, '']);
    expect(out.stdout).toBe(
      `${offline}@${pkg.manifest.digest} (from the store)\n` +
        `└── signature (OCI 1.1 referrer ${sig.manifest.digest}), key ${alice.key.publicKey.fingerprint}: trusted (alice)\n`,
    );
  });

  it("names a keyless legacy signature's certificate identity and issuer", async () => {
    const r = new Registry(reg.host).repository('shapes/keyless');
    const pkg = await pushPackage(r, '1.0.0', new TextEncoder().encode('keyless'));
    // cosign's keyless test certificate (Fulcio, GitHub login); the signature is alice's, so no key vouches for it here.
    const der = JSON.parse(readFileSync(join(ROOT, 'test/sign/fixtures/cosign-oci-attestation.sigstore.json'), 'utf8')).verificationMaterial.certificate
      .rawBytes;
    const pem = `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
    const sig = await legacyTag(r, alice.key, `${reg.host}/shapes/keyless`, pkg.manifest, { certificate: pem });
    const bob = await plainKey();
    writeFileSync(join(env.HOME!, 'bob.pub'), bob.publicPem);
    const out = await runEbpm(['verify', `${reg.host}/shapes/keyless:1.0.0`, '--key', 'bob.pub', '--list', '--json'], { env, cwd: env.HOME! });
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).items).toEqual([
      {
        kind: 'signature',
        shape: 'legacy-tag',
        manifest: sig.manifest.digest,
        tag: `sha256-${parseDigest(pkg.manifest.digest).encoded}.sig`,
        signer: { identity: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' },
        trust: { status: 'untrusted-key', detail: 'no trusted key verifies this signature (another signer, or altered content)' },
      },
    ]);
  });

  it('lists a keyless bundle by its certificate identity, trusted only for the identity given', async () => {
    const r = new Registry(reg.host).repository('shapes/fulcio');
    const pkg = await pushPackage(r, '1.0.0', new TextEncoder().encode('keyless bundle'));
    const authority = await keylessAuthority();
    writeFileSync(join(env.HOME!, 'trusted_root.json'), JSON.stringify(authority.trustedRoot));
    const workflow = 'https://github.com/acme/tool/.github/workflows/release.yml@refs/tags/v1.0.0';
    const github = 'https://token.actions.githubusercontent.com';
    const sig = await bundleReferrer(r, pkg.manifest, await signKeyless(authority, pkg.manifest.digest, { subject: workflow, issuer: github }));
    await tagSchemaIndex(r, pkg.manifest, [{ manifest: sig.manifest, configMediaType: MEDIA_TYPE_EMPTY_JSON }]);
    const list = (identity: string) =>
      runEbpm(
        [
          'verify',
          `${reg.host}/shapes/fulcio:1.0.0`,
          '--list',
          '--certificate-identity',
          identity,
          '--certificate-oidc-issuer',
          github,
          '--trusted-root',
          'trusted_root.json',
        ],
        { env, cwd: env.HOME! },
      );
    const head = `${reg.host}/shapes/fulcio@${pkg.manifest.digest} (from the registry)`;
    const trusted = await list(workflow);
    expect([trusted.code, trusted.stderr, trusted.stdout]).toEqual([
      0,
      '',
      `${head}\n└── signature (bundle referrer ${sig.manifest.digest}), ${workflow} (issuer ${github}): trusted (trusted_root)\n`,
    ]);
    const mallory = 'https://github.com/mallory/tool/.github/workflows/release.yml@refs/heads/main';
    const other = await list(mallory);
    expect(other.code).toBe(0);
    expect(other.stdout).toBe(
      `${head}\n└── signature (bundle referrer ${sig.manifest.digest}), ${workflow} (issuer ${github}): signed, but not by a trusted key: ` +
        `keyless signature by subject "${workflow}", issuer "${github}", not by a trusted identity (subject "${mallory}", issuer "${github}")\n`,
    );
  });

  it('refuses --list without a reference as bad usage', async () => {
    const out = await runEbpm(['verify', '--list'], { env, cwd: env.HOME! });
    expect([out.code, out.stdout, out.stderr]).toEqual([2, '', 'error: verify: --list needs a reference\nhint: ebpm verify <reference> --list\n']);
  });

  it('says when nothing is attached', async () => {
    const r = new Registry(reg.host).repository('shapes/bare');
    const pkg = await pushPackage(r, '1.0.0', new TextEncoder().encode('bare'));
    const out = await runEbpm(['verify', `${reg.host}/shapes/bare:1.0.0`, '--list'], { env, cwd: env.HOME! });
    expect([out.code, out.stderr, out.stdout]).toEqual([
      0,
      '',
      `${reg.host}/shapes/bare@${pkg.manifest.digest} (from the registry, keys of the trust policy)\n└── nothing attached\n`,
    ]);
  });

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
      notation: [{ manifest: jwsManifest, envelope: 'jws', signer: 'CN=release signer, O=Example Corp' }],
    });
  });

  it("verifies cosign's OCI 1.1 simple-signing referrer with the signer's key", async () => {
    const ref = `${reg.host}/shapes/oci11:1.0.0`;
    const r = await runEbpm(['verify', ref, '--key', 'alice.pub'], { env, cwd: env.HOME! });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe(
      `verified ${reg.host}/shapes/oci11@${ociSigned.manifest.digest} (from the registry)\n  signed by alice (key ${alice.key.publicKey.fingerprint}), OCI 1.1 referrer signature\n`,
    );
    writeFileSync(join(env.HOME!, 'carol.pub'), (await plainKey()).publicPem);
    const wrong = await runEbpm(['verify', ref, '--key', 'carol.pub'], { env, cwd: env.HOME! });
    expect([wrong.code, wrong.stdout, wrong.stderr.split('\n')[0]]).toEqual([
      3,
      '',
      `error: verify ${ref}: ${reg.host}/shapes/oci11@${ociSigned.manifest.digest}: signed, but not by a trusted key: OCI 1.1 referrer signature: no trusted key verifies this signature (another signer, or altered content)`,
    ]);
  });
});
