// Tracepoint record formats, as tracefs describes them in events/<category>/<name>/format
// (kernel Documentation/trace/events.rst, "Event formats"): the field names a tracepoint
// program reads from its context, for naming the fields of records inferred from instructions.
import { readFileSync } from 'node:fs';
import { sectionInfo } from '../bpf/sections.js';
import type { TracepointField, TracepointFieldInfo } from '../bpf/record-layout.js';

/** Where tracefs is mounted: its own mount point, then the older one under debugfs. */
export const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/**
 * `parseTracepointFormat` describes each field by its offset (`field:long ret;	offset:16;
 * size:8;	signed:1;` → 16 → `{ name: 'ret', signed: true }`). Pure.
 */
export function parseTracepointFormat(text: string): Map<number, TracepointFieldInfo> {
  const symbols = printedSymbols(text);
  const out = new Map<number, TracepointFieldInfo>();
  for (const m of text.matchAll(/^\s*field:([^;]*);\s*offset:(\d+);\s*size:\d+;\s*signed:(\d);/gm)) {
    const name = /([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])?\s*$/.exec(m[1]!)?.[1];
    if (name === undefined || out.has(Number(m[2]))) continue;
    const values = symbols.get(name);
    out.set(Number(m[2]), { name, signed: m[3] === '1', ...(values ? { values } : {}) });
  }
  return out;
}

/** The value names of each field the print format prints with `__print_symbolic(REC->field, { 1, "NAME" }, …)`. */
function printedSymbols(text: string): Map<string, { name: string; value: number }[]> {
  const out = new Map<string, { name: string; value: number }[]>();
  for (const m of text.matchAll(/__print_symbolic\(REC->(\w+),((?:\s*\{\s*-?\d+,\s*"[^"]*"\s*\},?)+)\s*\)/g)) {
    const values = [...m[2]!.matchAll(/\{\s*(-?\d+),\s*"([^"]*)"\s*\}/g)].map((v) => ({ name: v[2]!, value: Number(v[1]) }));
    if (!out.has(m[1]!)) out.set(m[1]!, values);
  }
  return out;
}

/**
 * `tracepointFields` names context fields of `tracepoint/<category>/<name>` programs from this
 * machine's tracefs, each format read once, when first asked. Other programs' contexts, and
 * tracepoints tracefs does not describe, name nothing.
 */
export function tracepointFields(): TracepointField {
  const formats = new Map<string, Map<number, TracepointFieldInfo> | undefined>();
  return (section, offset) => {
    const info = sectionInfo(section);
    if (info?.type !== 'tracepoint' || info.target === null) return undefined;
    const target = info.target;
    if (!formats.has(target)) formats.set(target, read(target));
    return formats.get(target)?.get(offset);
  };
}

function read(target: string): Map<number, TracepointFieldInfo> | undefined {
  if (!/^[\w-]+\/[\w-]+$/.test(target)) return undefined;
  for (const root of TRACEFS) {
    try {
      return parseTracepointFormat(readFileSync(`${root}/events/${target}/format`, 'utf8'));
    } catch {
      // not mounted there, or no such tracepoint: try the next place
    }
  }
  return undefined;
}
