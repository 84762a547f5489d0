import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory.js';
import {
  descriptorFor,
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  manifestBytes,
  MEDIA_TYPE_IMAGE_CONFIG,
  MEDIA_TYPE_IMAGE_INDEX,
  MEDIA_TYPE_IMAGE_MANIFEST,
  type Descriptor,
  type ImageManifest,
} from '../../src/core/oci.js';
import * as mt from '../../src/package/media-types.js';
import { inspectTarget } from '../../src/services/inspect.js';
import { exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

async function put(store: MemoryStore, mediaType: string, bytes: Uint8Array, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
  const d = descriptorFor(mediaType, bytes, extra);
  await store.push(d, [bytes]);
  return d;
}

async function artifact(
  layers: { mediaType: string; bytes: Uint8Array; title?: string }[],
  config: { mediaType: string; bytes: Uint8Array },
  extra: Partial<ImageManifest> = {},
) {
  const store = new MemoryStore();
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_IMAGE_MANIFEST,
    config: await put(store, config.mediaType, config.bytes),
    layers: await Promise.all(
      layers.map((l) => put(store, l.mediaType, l.bytes, l.title ? { annotations: { 'org.opencontainers.image.title': l.title } } : {})),
    ),
    ...extra,
  };
  const d = await put(store, MEDIA_TYPE_IMAGE_MANIFEST, manifestBytes(m));
  await store.tag(d, '1.0.0');
  return { store, d };
}

describeWith(['clang', 'btf', 'bpftool'], 'reading foreign artifacts', () => {
  it('Inspektor Gadget: an index per arch, the ebpf layer, title and description annotations', async () => {
    const elf = await exampleObject('execsnoop');
    const { store, d } = await artifact(
      [{ mediaType: mt.GADGET_EBPF, bytes: elf, title: 'amd64.bpf.o' }],
      { mediaType: mt.GADGET_CONFIG, bytes: new TextEncoder().encode('name: trace_exec\n') },
      {
        artifactType: mt.GADGET_ARTIFACT_TYPE,
        annotations: {
          'org.opencontainers.image.title': 'trace_exec',
          'org.opencontainers.image.description': 'trace exec',
          'org.opencontainers.image.source': 'https://github.com/x/y',
        },
      },
    );
    const index = {
      schemaVersion: 2 as const,
      mediaType: MEDIA_TYPE_IMAGE_INDEX,
      manifests: [
        { ...d, platform: { architecture: 'arm64', os: 'linux' } },
        { ...d, platform: { architecture: 'amd64', os: 'linux' } },
      ],
    };
    const id = await put(store, MEDIA_TYPE_IMAGE_INDEX, manifestBytes(index));
    await store.tag(id, 'latest');
    const r = await inspectTarget(store, 'latest', { source: 'ghcr.io/x/trace_exec', name: 'trace_exec' });
    expect(r).toMatchObject({
      format: 'gadget',
      digest: id.digest,
      metadata: { name: 'trace_exec', version: '0.0.0', description: 'trace exec', repository: 'https://github.com/x/y' },
    });
    expect(r.metadata.objects.map((o) => [o.name, o.programs.map((p) => p.name)])).toEqual([
      ['amd64.bpf.o', ['tracepoint__syscalls__sys_enter_execve', 'tracepoint__syscalls__sys_exit_execve']],
    ]);
  });

  it('bumblebee: the program layer, version from the tag', async () => {
    const { store } = await artifact([{ mediaType: mt.BUMBLEBEE_PROGRAM, bytes: await exampleObject('opensnoop'), title: 'program.o' }], {
      mediaType: mt.BUMBLEBEE_CONFIG,
      bytes: EMPTY_JSON,
    });
    const r = await inspectTarget(store, '1.0.0', { source: 'x', name: 'opensnoop' });
    expect(r).toMatchObject({ format: 'bumblebee', metadata: { name: 'opensnoop', version: '1.0.0' } });
    expect(r.metadata.objects[0]!.maps.map((m) => m.name)).toEqual(['start', 'events']);
  });

  it('bpfman: the .o inside a tar+gzip layer of a container image with io.ebpf labels', async () => {
    const pack = tar.pack();
    pack.entry({ name: 'runqlat.bpf.o' }, Buffer.from(await exampleObject('runqlat')));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'io.ebpf.programs': '{"sched_switch":"tracing"}', 'io.ebpf.maps': '{"hists":"hash"}' } },
      rootfs: { type: 'layers', diff_ids: [] },
    };
    const { store } = await artifact([{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', bytes: gzipSync(Buffer.concat(chunks)) }], {
      mediaType: MEDIA_TYPE_IMAGE_CONFIG,
      bytes: new TextEncoder().encode(JSON.stringify(config)),
    });
    const r = await inspectTarget(store, '1.0.0', { source: 'quay.io/bpfman-bytecode/runqlat', name: 'runqlat' });
    expect(r).toMatchObject({ format: 'bpfman', metadata: { name: 'runqlat', version: '1.0.0' } });
    expect(r.metadata.objects[0]!.programs.map((p) => p.name)).toEqual(['sched_wakeup', 'sched_wakeup_new', 'sched_switch']);
  });

  it('refuses an OCI artifact of no known format with FORMAT_UNKNOWN', async () => {
    const { store } = await artifact(
      [{ mediaType: 'application/x-thing', bytes: new Uint8Array([1]) }],
      { mediaType: EMPTY_DESCRIPTOR.mediaType, bytes: EMPTY_JSON },
      { artifactType: 'application/x-thing' },
    );
    await expect(inspectTarget(store, '1.0.0', { source: 'x', name: 'x' })).rejects.toThrowWithCode('FORMAT_UNKNOWN');
  });
});

describeWith(['clang', 'btf', 'bpftool', 'wasi'], 'reading Wasm artifacts', () => {
  it('wasm-bpf/ecli and CNCF Wasm images: objects found in the module are declared embedded', async () => {
    const { build } = await import('../../src/services/build.js');
    const { cpSync, mkdtempSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = mkdtempSync(join(process.env.EBPM_TEST_ROOT!, 'wasm-'));
    cpSync(new URL('../../examples/bootstrap', import.meta.url).pathname, join(root, 'bootstrap'), { recursive: true });
    const built = await build({ dir: join(root, 'bootstrap'), env: process.env });
    const wasmBytes = new Uint8Array(readFileSync(join(root, 'bootstrap', 'out', 'blobs', 'sha256', built.metadata.wasm!.digest.slice(7))));
    for (const [layer, config, format] of [
      [mt.WASM_BPF_LAYER, mt.WASM_BPF_CONFIG, 'wasm-bpf'],
      [mt.CNCF_WASM_LAYER, mt.CNCF_WASM_CONFIG, 'cncf-wasm'],
    ] as const) {
      const { store } = await artifact(
        [{ mediaType: layer, bytes: wasmBytes, title: 'app.wasm' }],
        { mediaType: config, bytes: EMPTY_JSON },
        { annotations: { 'org.opencontainers.image.title': 'bootstrap' } },
      );
      const r = await inspectTarget(store, '1.0.0', { source: 'ghcr.io/eunomia-bpf/bootstrap', name: 'bootstrap' });
      expect(r.format).toBe(format);
      expect(r.metadata.wasm).toMatchObject({ name: 'app.wasm', digest: built.metadata.wasm!.digest });
      expect(r.metadata.objects.map((o) => [o.digest, o.layer, o.embedded])).toEqual([[built.metadata.objects[0]!.digest, false, true]]);
    }
  });
});
