// The multi-platform pieces without a compiler run twice: `--platform` parsing, the index
// `packIndex` writes, `readPackages`' checks, and `selectPlatform`, the one place a platform is
// chosen, over the in-memory store.
import { expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory.js';
import { parsePlatforms } from '../../src/core/arch.js';
import { MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, descriptorFor, manifestBytes, type Descriptor, type ImageIndex } from '../../src/core/oci.js';
import { packIndex, packPackage, readPackages } from '../../src/package/artifact.js';
import { describeFiles } from '../../src/package/loose.js';
import { EBPM_BPF_OBJECT } from '../../src/package/media-types.js';
import { selectPlatform } from '../../src/services/resolve.js';
import { describeWith } from '../helpers/prereq.js';
import { exampleObject } from '../helpers/objects.js';

const HINT = 'give os/architecture, comma-separated: linux/amd64, linux/arm64, linux/arm, linux/s390x, linux/ppc64le, linux/riscv64, linux/loong64';

it('parses --platform lists in order, and refuses what eBPF cannot be built for', () => {
  expect(parsePlatforms('linux/arm64,linux/amd64')).toEqual([
    { os: 'linux', architecture: 'arm64' },
    { os: 'linux', architecture: 'amd64' },
  ]);
  expect(() => parsePlatforms('linux/386')).toThrowWithCode('USAGE', '--platform "linux/386": unknown architecture');
  expect(() => parsePlatforms('darwin/arm64')).toThrowWithCode('USAGE', '--platform "darwin/arm64": eBPF runs on linux only');
  expect(() => parsePlatforms('amd64')).toThrowWithCode('USAGE', '--platform "amd64": not os/architecture');
  expect(() => parsePlatforms('linux/amd64,,linux/arm64')).toThrowWithCode('USAGE', '--platform "": not os/architecture');
  expect(() => parsePlatforms('linux/amd64,linux/amd64')).toThrowWithCode('USAGE', '--platform "linux/amd64": given twice');
  expect(() => parsePlatforms('linux/sparc')).toThrow(expect.objectContaining({ hint: HINT }));
});

describeWith(['clang', 'btf'], 'multi-platform indexes', () => {
  /** Two packages of sigsnoop's object labelled amd64 and arm64, their index, all in one store. */
  async function fixture() {
    const obj = await exampleObject('sigsnoop');
    const store = new MemoryStore();
    const packages = ['amd64', 'arm64'].map((architecture) => {
      const metadata = { ...describeFiles({ name: 'sigsnoop', architecture }, [{ name: 'sigsnoop.bpf.o', bytes: obj }]), version: '1.2.0' };
      return { metadata, packed: packPackage(metadata, [{ title: 'sigsnoop.bpf.o', mediaType: EBPM_BPF_OBJECT, bytes: obj }], '2026-01-01T00:00:00Z') };
    });
    const packed = packIndex(packages, '2026-01-01T00:00:00Z');
    for (const b of packed.blobs) await store.push(b.descriptor, [b.bytes]);
    const put = async (index: ImageIndex) => {
      const bytes = manifestBytes(index);
      const d = descriptorFor(MEDIA_TYPE_IMAGE_INDEX, bytes);
      await store.push(d, [bytes]);
      return d;
    };
    return { store, packages, packed, put };
  }

  it('packIndex lists each package with its platform, and every blob once', async () => {
    const { packages, packed } = await fixture();
    expect(packed.index).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_IMAGE_INDEX,
      artifactType: 'application/vnd.ebpm.package.v1',
      manifests: packages.map((p) => ({ ...p.packed.descriptor, platform: { architecture: p.metadata.architecture, os: 'linux' } })),
      annotations: {
        'org.opencontainers.image.title': 'sigsnoop',
        'org.opencontainers.image.version': '1.2.0',
        'org.opencontainers.image.created': '2026-01-01T00:00:00Z',
      },
    });
    // Index, two manifests, two configs, and the one object both share.
    expect(packed.blobs.map((b) => b.descriptor.mediaType)).toEqual([
      MEDIA_TYPE_IMAGE_INDEX,
      MEDIA_TYPE_IMAGE_MANIFEST,
      'application/vnd.ebpm.package.config.v1+json',
      EBPM_BPF_OBJECT,
      MEDIA_TYPE_IMAGE_MANIFEST,
      'application/vnd.ebpm.package.config.v1+json',
    ]);
  });

  it('selectPlatform picks the entry for the platform, refuses an index without it, and reads a plain manifest as is', async () => {
    const { store, packages, packed, put } = await fixture();
    const [amd64, arm64] = packed.index.manifests;
    expect(await selectPlatform(store, packed.descriptor, { os: 'linux', architecture: 'arm64' })).toEqual({ descriptor: arm64, platforms: [amd64, arm64] });
    await expect(selectPlatform(store, packed.descriptor, { os: 'linux', architecture: 'riscv64' })).rejects.toThrowWithCode(
      'PACKAGE_WRONG_ARCH',
      'no linux/riscv64 package: built for linux/amd64, linux/arm64',
    );
    expect((await selectPlatform(store, packed.descriptor, { os: 'linux', architecture: 'riscv64' }, { orFirst: true })).descriptor).toEqual(amd64);
    const plain = packages[1]!.packed.descriptor;
    expect(await selectPlatform(store, plain, { os: 'linux', architecture: 'amd64' })).toEqual({ descriptor: plain, platforms: [] });
    // An index none of whose entries names a platform (a foreign artifact) gives its first.
    const bare = await put({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [plain] });
    expect((await selectPlatform(store, bare, { os: 'linux', architecture: 'amd64' })).descriptor).toEqual(plain);
    const empty = await put({ schemaVersion: 2, mediaType: MEDIA_TYPE_IMAGE_INDEX, manifests: [] });
    await expect(selectPlatform(store, empty, { os: 'linux', architecture: 'amd64' })).rejects.toThrowWithCode(
      'NOT_FOUND',
      `${empty.digest}: the index lists no manifest`,
    );
  });

  it('readPackages reads every platform, and refuses an index whose platforms and metadata disagree', async () => {
    const { store, packages, packed, put } = await fixture();
    expect((await readPackages(store, packed.descriptor)).map((p) => p.metadata.architecture)).toEqual(['amd64', 'arm64']);
    const [amd64, arm64] = packages.map((p) => p.packed.descriptor) as [Descriptor, Descriptor];
    const swapped = await put({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_IMAGE_INDEX,
      manifests: [
        { ...amd64, platform: { os: 'linux', architecture: 'arm64' } },
        { ...arm64, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    });
    await expect(readPackages(store, swapped)).rejects.toThrowWithCode(
      'PACKAGE_INVALID',
      `index ${swapped.digest}: ${amd64.digest} is amd64 but listed as arm64`,
    );
  });
});
