/**
 * `headerStructs` lists the structs a C header defines (`struct name {`), each once, in the
 * order written: ecc's reading of a tool's header (`export_types.rs`), comments skipped so a
 * struct mentioned in one is not taken. Pure text, no preprocessor: a struct under `#if 0`
 * counts too, as it does for ecc.
 */
export function headerStructs(header: string): string[] {
  const code = header.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  return [...new Set([...code.matchAll(/\bstruct\s+([A-Za-z_]\w*)\s*\{/g)].map((m) => m[1]!))];
}
