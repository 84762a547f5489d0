/**
 * The package metadata: the config blob of an ebpm package (registry-spec/package-v1.md §3,
 * schema registry-spec/schemas/package-metadata.schema.json). Everything a consumer needs to
 * list, configure, verify and decode a package without parsing its BPF objects again.
 */
import type { TypeLayout } from '../bpf/layout.js';
import type { Digest } from '../core/digest.js';
import type { AttachDoc, SampleSpec } from './doc-comments.js';

export type { TypeLayout, SampleSpec };

/**
 * `DefaultTarget` is where a tc or xdp program attaches when `ebpm run` is given no `--attach`
 * for it: eunomia's `@tchook`/`@ifindex`, an interface of the running machine by index.
 */
export type DefaultTarget = AttachDoc;

/** `PackageDescription` is what a package says about itself, in `ebpm.json` and in its metadata alike. */
export interface PackageDescription {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly license?: string;
  readonly keywords: readonly string[];
  readonly authors: readonly string[];
  readonly homepage?: string;
  readonly repository?: string;
}

export interface PackageMetadata extends PackageDescription {
  readonly schemaVersion: 1;
  /** OCI/Go architecture name the objects were compiled for (`amd64`). */
  readonly architecture: string;
  /** Every BPF object the package declares; a runtime loads no other. */
  readonly objects: readonly BpfObjectMeta[];
  readonly wasm?: WasmMeta;
  /** BTF carried for kernels without `/sys/kernel/btf/vmlinux`, one per release (`ebpm build --btf-for`). */
  readonly btf?: readonly KernelBtfMeta[];
  readonly requirements: Requirements;
}

/** `KernelBtfMeta` is the layer `btf/<release>.btf`: the BTF CO-RE relocates against on that kernel. */
export interface KernelBtfMeta {
  /** The kernel release as `uname -r` prints it: `6.1.0-57-amd64`. */
  readonly release: string;
  readonly digest: Digest;
  readonly size: number;
}

/** What a kernel release may look like: `uname -r`'s characters, no `/`, so it is also part of a layer title. */
export const KERNEL_RELEASE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$/;

/** `btfTitle` is the layer title of the BTF carried for `release`. */
export function btfTitle(release: string): string {
  return `btf/${release}.btf`;
}

export interface BpfObjectMeta {
  /** File name, `sigsnoop.bpf.o`; the layer's `org.opencontainers.image.title`. */
  readonly name: string;
  readonly digest: Digest;
  readonly size: number;
  /** Carried as its own layer. */
  readonly layer: boolean;
  /** Found in the Wasm module's data segments. */
  readonly embedded: boolean;
  /** The ELF `license` section. */
  readonly license?: string;
  readonly programs: readonly ProgramMeta[];
  readonly maps: readonly MapMeta[];
  readonly parameters: readonly ParameterMeta[];
  readonly exports: readonly ExportMeta[];
}

export interface ProgramMeta {
  /** The C function name. */
  readonly name: string;
  /** The ELF section, `tracepoint/signal/signal_generate`. */
  readonly section: string;
  /** libbpf's program type for the section prefix: `tracepoint`, `kprobe`, `tracing`, … */
  readonly type: string;
  /** What the section names after the prefix (`signal/signal_generate`), when it names one. */
  readonly attach?: string;
  /** tc (with a direction) and xdp programs only. */
  readonly defaultTarget?: DefaultTarget;
}

export interface MapMeta {
  readonly name: string;
  /** Kernel map type without `BPF_MAP_TYPE_`, lower case: `hash`, `ringbuf`, `perf_event_array`. */
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly description?: string;
  /** Layouts of key and value, when the map declares its types in BTF (`__type(key, u32)`). */
  readonly key?: TypeLayout;
  readonly value?: TypeLayout;
  readonly sample?: SampleSpec;
}

/** How a parameter's flag value is parsed and encoded into the global's bytes. */
export type ParameterKind = 'int' | 'uint' | 'bool' | 'float' | 'string' | 'bytes';
export const PARAMETER_KINDS: readonly ParameterKind[] = ['int', 'uint', 'bool', 'float', 'string', 'bytes'];

export interface ParameterMeta {
  readonly name: string;
  /** `.rodata` (`const volatile`), `.data`, `.bss` or a `.rodata.*` / `.data.*` section. */
  readonly section: string;
  readonly offset: number;
  readonly size: number;
  /** The C type as written, typedefs kept: `pid_t`, `unsigned long long`, `char[16]`. */
  readonly type: string;
  readonly kind: ParameterKind;
  /**
   * The initial value: a number (a decimal string beyond ±2^53), a boolean, the string up to its
   * first NUL for `string`, lower-case hex for `bytes`.
   */
  readonly default: number | string | boolean;
  readonly description?: string;
  readonly flag: { readonly long: string; readonly short?: string };
}

/** `ExportMeta` says that ring buffer or perf event array `map` carries records of layout `type`. */
export interface ExportMeta {
  readonly map: string;
  readonly type: TypeLayout;
  /**
   * Set when the package declares no type and ebpm found one: in the object's BTF by its name,
   * or from what the object's instructions write into the records (`programs` names the programs).
   */
  readonly inferredBy?: 'name' | 'instructions';
  /** With `inferredBy: instructions`: the programs whose writes gave the layout. */
  readonly programs?: readonly string[];
  /** With `inferredBy: instructions`: where each field's bytes came from, in the order of `type`'s fields. */
  readonly origins?: readonly string[];
}

export interface WasmImport {
  readonly module: string;
  readonly name: string;
  readonly kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
}

export interface WasmMeta {
  /** File name, `sigsnoop.wasm`. */
  readonly name: string;
  readonly digest: Digest;
  readonly size: number;
  readonly imports: readonly WasmImport[];
  readonly exports: readonly string[];
}

export interface Requirements {
  readonly programTypes: readonly string[];
  readonly mapTypes: readonly string[];
  /** BPF helper names the programs call. */
  readonly helpers: readonly string[];
  /** Kernel types CO-RE relocations refer to (`task_struct`). */
  readonly kernelTypes: readonly string[];
  /** Whether the kernel must expose BTF (CO-RE relocations, tp_btf/fentry/lsm programs). */
  readonly kernelBtf: boolean;
}
