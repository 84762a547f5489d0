/**
 * The two numbers `--max-memory` is read with, apart from memory-limit.ts so that reading the
 * flag (on every run, BPF-only ones too) does not load the Wasm parser.
 */

/** Wasm's page, the unit of `memory.grow`. */
export const WASM_PAGE = 65536;
/** Default `--max-memory`: ample for wasm-bpf guests (WAMR gives them 1 MiB heap + 1 MiB stack). */
export const DEFAULT_MAX_MEMORY = 128 << 20;
