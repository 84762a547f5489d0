/**
 * The wasm-bpf host ABI as the upstream runtimes define it (eunomia-bpf/wasm-bpf c9c6012,
 * `runtime/cpp/src/wasm-bpf.cpp`; guest side `libbpf-wasm.h`), and the check that a module
 * imports only what ebpm provides, with the exact signatures, before it is instantiated.
 */
import { EbpmError } from '../core/errors.js';
import type { FuncType, Import, ValType, WasmModule } from '../wasm/module.js';

/** Import module of the six host functions. */
export const WASM_BPF = 'wasm_bpf';
/** TinyGo variant: poll without a table index, calling the guest's `go-callback` export. */
export const CALLBACK_WRAPPER = 'callback-wrapper';
export const GO_CALLBACK = 'go-callback';
export const WASI = 'wasi_snapshot_preview1';

type Sig = readonly [params: readonly ValType[], results: readonly ValType[]];

/** Exact core types, from the type sections of upstream guests (reference §1.1). */
export const WASM_BPF_SIGNATURES: Readonly<Record<string, readonly Sig[]>> = {
  wasm_load_bpf_object: [[['i32', 'i32'], ['i64']]],
  wasm_attach_bpf_program: [[['i64', 'i32', 'i32'], ['i32']]],
  wasm_bpf_map_fd_by_name: [[['i64', 'i32'], ['i32']]],
  // The Rust and Go SDKs declare the three pointers as i64; accept both.
  wasm_bpf_map_operate: [
    [['i32', 'i32', 'i32', 'i32', 'i32', 'i64'], ['i32']],
    [['i32', 'i32', 'i64', 'i64', 'i64', 'i64'], ['i32']],
  ],
  wasm_bpf_buffer_poll: [[['i64', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], ['i32']]],
  wasm_close_bpf_object: [[['i64'], ['i32']]],
};

const CALLBACK_WRAPPER_SIGNATURES: Readonly<Record<string, readonly Sig[]>> = {
  wasm_bpf_buffer_poll: [[['i64', 'i32', 'i32', 'i32', 'i32', 'i32'], ['i32']]],
};

/**
 * `callbackProbe` compiles a module importing one function of type (i32, i32, i32) -> i32, the
 * type of a guest's poll callback (`int (*)(void *ctx, void *data, size_t size)`).
 * Instantiating it with a Wasm function of any other type is a LinkError (JS API §"read the
 * imports"): the one exact type check the JS API offers, where `length` counts only parameters
 * and i64 ones fail at the call. A guest's thread is handed it compiled by the main thread: as
 * that thread's first Wasm compile it took about a millisecond on the way to the first event.
 */
export function callbackProbe(): WebAssembly.Module {
  return new WebAssembly.Module(
    Uint8Array.of(
      ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      ...[0x01, 0x08, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f], // type section: (i32 i32 i32) -> i32
      ...[0x02, 0x07, 0x01, 0x01, 0x6d, 0x01, 0x66, 0x00, 0x00], // import section: "m" "f" func type 0
    ),
  );
}

/** errno values the host returns negated (Linux asm-generic/errno-base.h). */
export const Errno = { EPERM: 1, ENOENT: 2, EINTR: 4, EBADF: 9, EFAULT: 14, EBUSY: 16, EINVAL: 22 } as const;

/** `bpf_cmd` numbers the guest passes to `wasm_bpf_map_operate` (linux/bpf.h). */
export const MapCmd = { LOOKUP_ELEM: 1, UPDATE_ELEM: 2, DELETE_ELEM: 3, GET_NEXT_KEY: 4 } as const;

function same(t: FuncType, sig: Sig): boolean {
  const eq = (a: readonly ValType[], b: readonly ValType[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  return eq(t.params, sig[0]) && eq(t.results, sig[1]);
}

function show(params: readonly ValType[], results: readonly ValType[]): string {
  return `(${params.join(', ')}) -> ${results.join(', ') || '()'}`;
}

function checkFunction(imp: Import, table: Readonly<Record<string, readonly Sig[]>>, where: string): void {
  const sigs = table[imp.name];
  if (!sigs) {
    throw new EbpmError('WASM_UNSUPPORTED_IMPORT', `${where}: ${imp.module}.${imp.name} is not a wasm-bpf host function`, {
      hint: `ebpm provides ${Object.keys(table).join(', ')}`,
    });
  }
  if (imp.kind !== 'function' || !sigs.some((s) => same(imp.type, s))) {
    const got = imp.kind === 'function' ? show(imp.type.params, imp.type.results) : `a ${imp.kind}`;
    throw new EbpmError('WASM_BAD_SIGNATURE', `${where}: ${imp.module}.${imp.name} is declared as ${got}`, {
      hint: `the host ABI is ${sigs.map((s) => show(s[0], s[1])).join(' or ')}; use libbpf-wasm.h`,
    });
  }
}

/**
 * `checkGuestModule` accepts a WASI preview1 command (exports `memory` and `_start`) whose
 * imports come from WASI and the wasm-bpf modules with the ABI's signatures. It returns
 * whether the guest uses the BPF host at all, so a plain WASI program never loads the addon.
 */
export function checkGuestModule(mod: WasmModule, where: string): { usesBpf: boolean } {
  let usesBpf = false;
  for (const imp of mod.imports) {
    if (imp.module === WASI) continue;
    if (imp.module === WASM_BPF) checkFunction(imp, WASM_BPF_SIGNATURES, where);
    else if (imp.module === CALLBACK_WRAPPER) checkFunction(imp, CALLBACK_WRAPPER_SIGNATURES, where);
    else {
      throw new EbpmError('WASM_UNSUPPORTED_IMPORT', `${where}: imports ${imp.module}.${imp.name}, which ebpm does not provide`, {
        hint: `guests may import only ${WASI}, ${WASM_BPF} and ${CALLBACK_WRAPPER}`,
      });
    }
    usesBpf = true;
  }
  for (const [name, kind] of [
    ['memory', 'memory'],
    ['_start', 'function'],
  ] as const) {
    if (!mod.exports.some((e) => e.name === name && e.kind === kind)) {
      throw new EbpmError('WASM_MISSING_EXPORT', `${where}: the module does not export ${kind} "${name}"`, {
        hint: 'build a WASI command: clang --target=wasm32-wasi --sysroot=/usr -Wl,--export-table main.c',
      });
    }
  }
  return { usesBpf };
}
