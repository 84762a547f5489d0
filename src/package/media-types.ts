/**
 * Media types of the ebpm package format v1 (registry-spec/package-v1.md §"OCI mapping") and of
 * the foreign formats ebpm reads (§"Compatibility"). Names follow RFC 6838's vendor tree and the
 * image-spec v1.1 artifact guidance: `artifactType` names the package kind, the config blob
 * carries the metadata, layers carry files whose names are in `org.opencontainers.image.title`.
 */

/** `artifactType` of every ebpm package manifest. */
export const EBPM_ARTIFACT_TYPE = 'application/vnd.ebpm.package.v1';
/** The config blob: the package metadata as canonical JSON (schemas/package-metadata.schema.json). */
export const EBPM_CONFIG = 'application/vnd.ebpm.package.config.v1+json';
/** One BPF object: a raw, stripped ELF relocatable for the BPF target, with BTF. */
export const EBPM_BPF_OBJECT = 'application/vnd.ebpm.bpf.object.v1+elf';
/** The user-space program: a raw `wasm32-wasi` module importing the `wasm_bpf` host ABI. */
export const EBPM_WASM_MODULE = 'application/vnd.ebpm.wasm.module.v1+wasm';
/** Minimized BTF of one kernel release (`bpftool gen min_core_btf`), for kernels without their own; raw BTF. */
export const EBPM_BTF = 'application/vnd.ebpm.btf.v1';
/** The README, CommonMark (RFC 7763). */
export const EBPM_README = 'text/markdown';
/** The package sources as a deterministic tar+gzip. */
export const EBPM_SOURCE = 'application/vnd.ebpm.source.v1.tar+gzip';

/** wasm-bpf / ecli images (bpf-oci, oci-distribution): one Wasm layer, `{}` config. */
export const WASM_BPF_LAYER = 'application/vnd.wasm.content.layer.v1+wasm';
export const WASM_BPF_CONFIG = 'application/vnd.wasm.config.v1+json';
/** The CNCF TAG-Runtime Wasm OCI artifact. */
export const CNCF_WASM_LAYER = 'application/wasm';
export const CNCF_WASM_CONFIG = 'application/vnd.wasm.config.v0+json';
/** Inspektor Gadget (`pkg/oci/build.go`). */
export const GADGET_ARTIFACT_TYPE = 'application/vnd.gadget.v1+binary';
export const GADGET_CONFIG = 'application/vnd.gadget.config.v1+yaml';
export const GADGET_EBPF = 'application/vnd.gadget.ebpf.program.v1+binary';
export const GADGET_WASM = 'application/vnd.gadget.wasm.program.v1+binary';
/** bumblebee (`pkg/spec/spec.go`). */
export const BUMBLEBEE_CONFIG = 'application/ebpf.oci.image.config.v1+json';
export const BUMBLEBEE_PROGRAM = 'application/ebpf.oci.image.program.v1+binary';
/** bpfman: a container image whose config labels describe the bytecode. */
export const BPFMAN_LABEL_PROGRAMS = 'io.ebpf.programs';
export const BPFMAN_LABEL_MAPS = 'io.ebpf.maps';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
