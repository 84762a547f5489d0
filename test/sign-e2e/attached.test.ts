// Everything attached to a package travels with it, so verification stays offline: a package
// carrying one of each (a legacy `.sig`, an ebpm bundle, a cosign OCI 1.1 signature referrer,
// an in-toto attestation, an SBOM and a Notation signature as referrers, and cosign's `.att`
// and `.sbom` tags) is pulled through the real registry with and without the referrers API,
// exported, imported into a fresh store and verified there with no registry running: every
// attached manifest and blob arrives byte for byte, and `ebpm verify` finds what it found at
// the registry. The manifests are built by hand with the right media types, minimal on purpose.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory.js';
import { fetchAll, pushBytes } from '../../src/content/storage.js';
import { EMPTY_DESCRIPTOR, EMPTY_JSON, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes, type Descriptor, type ImageManifest } from '../../src/core/oci.js';
import { Registry } from '../../src/registry/client.js';
import type { Repository } from '../../src/registry/repository.js';
import { openContext } from '../../src/services/context.js';
import { push } from '../../src/services/push.js';
import { MAX_ATTACHED, MAX_ATTACHED_BYTES, copySignatures, signPackage } from '../../src/services/sign.js';
import { ANNOTATION_COSIGN_SIGNATURE, MEDIA_TYPE_SIMPLE_SIGNING, buildPayload, cosignTag, signPayload } from '../../src/sign/payload.js';
import { OciLayout } from '../../src/store/layout.js';
import { ebpm, packageLayout, sandbox } from '../cli/helpers.js';
import { describeWith } from '../helpers/prereq.js';
import { REGISTRY_KINDS, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { plainKey, tempDir } from './fixtures.js';

const IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
const utf8 = (s: string) => new TextEncoder().encode(s);

interface Part {
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly annotations?: Record<string, string>;
}

/** Pushes a manifest of `config` and `layers` (blobs first) and returns it and every descriptor it is made of. */
async function attach(
  repo: Repository | MemoryStore,
  config: Part,
  layers: Part[],
  extra: Pick<ImageManifest, 'artifactType' | 'subject' | 'annotations'>,
): Promise<{ manifest: Descriptor; parts: Descriptor[] }> {
  const c = await pushBytes(repo, config.mediaType, config.bytes);
  const ls: Descriptor[] = [];
  for (const l of layers) ls.push(await pushBytes(repo, l.mediaType, l.bytes, l.annotations ? { annotations: l.annotations } : {}));
  const m: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_MANIFEST, config: c, layers: ls, ...extra };
  const manifest = await pushBytes(repo, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes(m));
  return { manifest, parts: [manifest, c, ...ls] };
}

for (const { kind, referrersApi } of REGISTRY_KINDS) {
  describeWith(['registry', 'clang'], `attached artifacts travel with the package (${kind})`, () => {
    let reg: RunningRegistry;
    let repo: Repository;
    let subject: Descriptor;
    let keys: string[];
    /** The attached referrers, and every manifest and blob of every attached artifact, referrer or tag. */
    const referrers: string[] = [];
    const attached: Descriptor[] = [];
    let tags: string[];

    beforeAll(async () => {
      reg = await startRegistry({ referrersApi });
      const sb = sandbox({ EBPM_REGISTRY: reg.host });
      const pkg = await packageLayout(join(sb.root, 'src'), { version: '1.2.0' });
      await push(await openContext(sb.env), { path: pkg.dir, destination: 'acme/sigsnoop' });
      repo = new Registry(reg.host).repository('acme/sigsnoop');
      subject = await repo.resolve('1.2.0');
      const [alice, bob] = [await plainKey(), await plainKey()];
      const dir = tempDir('attached-keys-');
      keys = ['alice', 'bob'].map((k) => join(dir, `${k}.pub`));
      writeFileSync(keys[0]!, alice.publicPem);
      writeFileSync(keys[1]!, bob.publicPem);
      const repository = `${reg.host}/acme/sigsnoop`;
      await signPackage(repo, subject, alice.key, { format: 'legacy', repository });
      const bundle = await signPackage(repo, subject, bob.key, { format: 'bundle', repository });
      referrers.push(bundle.manifest.digest);

      const payload = buildPayload(repository, subject.digest);
      const plain: Descriptor = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };
      const made = [
        // cosign --registry-referrers-mode=oci-1-1: a simple-signing referrer
        await attach(
          repo,
          { mediaType: 'application/vnd.dev.cosign.artifact.sig.v1+json', bytes: EMPTY_JSON },
          [{ mediaType: MEDIA_TYPE_SIMPLE_SIGNING, bytes: payload, annotations: { [ANNOTATION_COSIGN_SIGNATURE]: signPayload(alice.key, payload) } }],
          { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: plain },
        ),
        await attach(
          repo,
          { mediaType: EMPTY_DESCRIPTOR.mediaType, bytes: EMPTY_JSON },
          [
            {
              mediaType: 'application/vnd.in-toto+json',
              bytes: utf8('{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1"}'),
            },
          ],
          { artifactType: 'application/vnd.in-toto+json', subject: plain },
        ),
        await attach(
          repo,
          { mediaType: EMPTY_DESCRIPTOR.mediaType, bytes: EMPTY_JSON },
          [{ mediaType: 'application/spdx+json', bytes: utf8('{"spdxVersion":"SPDX-2.3","name":"sigsnoop"}') }],
          { artifactType: 'application/spdx+json', subject: plain, annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' } },
        ),
        await attach(
          repo,
          { mediaType: EMPTY_DESCRIPTOR.mediaType, bytes: EMPTY_JSON },
          [{ mediaType: 'application/jose+json', bytes: utf8('{"payload":"e30","protected":"e30","header":{},"signature":"AA"}') }],
          { artifactType: 'application/vnd.cncf.notary.signature', subject: plain, annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '["00"]' } },
        ),
      ];
      for (const m of made) referrers.push(m.manifest.digest);
      // cosign attest and cosign attach sbom (tag schemes): image manifests under `.att` and `.sbom`.
      const att = await attach(
        repo,
        { mediaType: IMAGE_CONFIG, bytes: utf8('{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}') },
        [
          {
            mediaType: 'application/vnd.dsse.envelope.v1+json',
            bytes: utf8('{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}'),
          },
        ],
        {},
      );
      const sbom = await attach(
        repo,
        { mediaType: IMAGE_CONFIG, bytes: utf8('{"architecture":"","os":""}') },
        [{ mediaType: 'text/spdx+json', bytes: utf8('{"spdxVersion":"SPDX-2.3"}') }],
        {},
      );
      tags = [cosignTag(subject.digest, 'att'), cosignTag(subject.digest, 'sbom')];
      await repo.tag(att.manifest, tags[0]!);
      await repo.tag(sbom.manifest, tags[1]!);
      attached.push(...made.flatMap((m) => m.parts), bundle.manifest, ...att.parts, ...sbom.parts);
    });
    afterAll(() => reg?.stop());

    it('pull, export and import carry every referrer and the .att and .sbom tags; verify offline finds what the registry had', async () => {
      const ref = `${reg.host}/acme/sigsnoop:1.2.0`;
      const keyArgs = keys.flatMap((k) => ['--key', k]);
      const sb = sandbox({ EBPM_REGISTRY: reg.host });
      const atRegistry = await ebpm(['verify', ref, ...keyArgs, '--json'], sb.env);
      expect([atRegistry.code, atRegistry.err]).toEqual([0, '']);
      const online = JSON.parse(atRegistry.out) as Record<string, unknown>;
      expect(online.from).toBe('registry');
      expect((online.signedBy as { format: string }[]).map((s) => s.format)).toEqual(['legacy', 'referrer', 'bundle']);

      const pulled = await ebpm(['pull', ref], sb.env);
      expect([pulled.code, pulled.err]).toEqual([0, '']);
      const tar = join(sb.root, 'sigsnoop.tar');
      expect((await ebpm(['export', ref, tar], sb.env)).code).toBe(0);
      await reg.stop();

      const fresh = sandbox();
      const imported = await ebpm(['import', tar], fresh.env);
      expect([imported.code, imported.err]).toEqual([0, '']);
      for (const env of [sb.env, fresh.env]) {
        const store = await OciLayout.open(env.EBPM_STORE!);
        expect((await store.referrers(subject)).map((d) => d.digest).sort()).toEqual([...referrers].sort());
        const held = await store.tags();
        for (const t of tags) expect(held).toContain(`${reg.host}/acme/sigsnoop:${t}`);
        // Present, of its size and hashing to its digest: byte for byte what was attached.
        for (const d of attached) expect((await fetchAll(store, d, MAX_ATTACHED_BYTES)).byteLength).toBe(d.size);
        const offline = await ebpm(['verify', ref, ...keyArgs, '--json'], env);
        expect([offline.code, offline.err]).toEqual([0, '']);
        expect(JSON.parse(offline.out)).toEqual({ ...online, from: 'store' });
      }
    });
  });
}

describe('the bounds on what travels', () => {
  const packageOf = async (src: MemoryStore, name: string) =>
    (
      await attach(
        src,
        { mediaType: EMPTY_DESCRIPTOR.mediaType, bytes: EMPTY_JSON },
        [{ mediaType: 'application/vnd.ebpm.test.object.v1', bytes: utf8(name) }],
        {},
      )
    ).manifest;
  const sbomOf = (src: MemoryStore, subject: Descriptor, n: number) =>
    attach(src, { mediaType: EMPTY_DESCRIPTOR.mediaType, bytes: EMPTY_JSON }, [{ mediaType: 'application/spdx+json', bytes: utf8(`{"n":${n}}`) }], {
      artifactType: 'application/spdx+json',
      subject,
    });

  it(`copies at most ${MAX_ATTACHED} referrers`, async () => {
    const src = new MemoryStore();
    const subject = await packageOf(src, 'subject');
    for (let i = 0; i < MAX_ATTACHED + 2; i++) await sbomOf(src, subject, i);
    const dst = new MemoryStore();
    expect(await copySignatures(src, dst, subject)).toEqual({ legacy: 0, bundles: 0, referrers: MAX_ATTACHED, tags: [], skipped: 2 });
    expect(await dst.referrers(subject)).toHaveLength(MAX_ATTACHED);
  });

  it('carries MAX_ATTACHED_BYTES in all: of two referrers that do not both fit, the second in the listing stays behind', async () => {
    const src = new MemoryStore();
    const subject = await packageOf(src, 'subject');
    const big = async (fill: number) =>
      attach(
        src,
        { mediaType: EMPTY_DESCRIPTOR.mediaType, bytes: EMPTY_JSON },
        [{ mediaType: 'application/spdx+json', bytes: Buffer.alloc(Math.floor(MAX_ATTACHED_BYTES * 0.6), fill) }],
        {
          artifactType: 'application/spdx+json',
          subject,
        },
      );
    const [first, second] = [await big(1), await big(2)].sort((a, b) => (a.manifest.digest < b.manifest.digest ? -1 : 1));
    const dst = new MemoryStore();
    expect(await copySignatures(src, dst, subject)).toEqual({ legacy: 0, bundles: 0, referrers: 1, tags: [], skipped: 1 });
    expect([await dst.exists(first!.parts[2]!), await dst.exists(second!.parts[2]!), await dst.exists(second!.manifest)]).toEqual([true, false, false]);
  });

  it('leaves behind a referrer declaring more than MAX_ATTACHED_BYTES, and one whose manifest names another subject', async () => {
    const src = new MemoryStore();
    const subject = await packageOf(src, 'subject');
    const other = await packageOf(src, 'other');
    const good = await sbomOf(src, subject, 1);
    const elsewhere = await sbomOf(src, other, 2);
    // The layer is never pushed: the bound refuses before any child is asked for.
    const huge: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
      artifactType: 'application/spdx+json',
      config: EMPTY_DESCRIPTOR,
      layers: [{ mediaType: 'application/spdx+json', digest: `sha256:${'1'.repeat(64)}`, size: MAX_ATTACHED_BYTES }],
      subject,
    };
    const big = await pushBytes(src, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes(huge));
    // A listing (the registry's, or another client's tag-schema index) naming a referrer of another subject.
    const lying = Object.assign(Object.create(src) as MemoryStore, {
      referrers: async (d: Descriptor) => [...(await src.referrers(d)), elsewhere.manifest],
    });
    const dst = new MemoryStore();
    expect(await copySignatures(lying, dst, subject)).toEqual({ legacy: 0, bundles: 0, referrers: 1, tags: [], skipped: 2 });
    expect((await dst.referrers(subject)).map((d) => d.digest)).toEqual([good.manifest.digest]);
    expect([await dst.exists(big), await dst.exists(elsewhere.manifest)]).toEqual([false, false]);
  });
});
