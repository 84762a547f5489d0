/**
 * `unresolvedExterns` finds what a BPF object uses but nothing will resolve: libbpf resolves an
 * undefined symbol only when its BTF places it in `.ksyms` (kernel functions and variables,
 * `__ksym`) or `.kconfig` (`__kconfig`); any other (a misspelt helper, a function called
 * undeclared or never defined) fails the load, so a build must fail instead.
 */
import { parseBtf } from './btf.js';
import { SHN_UNDEF, elfSection, parseElf } from './elf.js';

const RESOLVED_SECTIONS = new Set(['.ksyms', '.kconfig']);

/** The names of `object`'s undefined symbols that neither `.ksyms` nor `.kconfig` holds, sorted. */
export function unresolvedExterns(object: Uint8Array): string[] {
  const undefinedNames = parseElf(object)
    .symbols.filter((s) => s.section === SHN_UNDEF && s.name !== '')
    .map((s) => s.name);
  if (undefinedNames.length === 0) return [];
  const btfBytes = elfSection(object, '.BTF');
  const resolved = new Set<string>();
  if (btfBytes !== undefined) {
    const { types } = parseBtf(btfBytes);
    for (const t of types) {
      if (t.kind !== 'datasec' || !RESOLVED_SECTIONS.has(t.name)) continue;
      for (const v of t.vars) resolved.add(types[v.type]!.name);
    }
  }
  return [...new Set(undefinedNames.filter((n) => !resolved.has(n)))].sort();
}
