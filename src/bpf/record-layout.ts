// The record layout of an event map whose struct is not in BTF, built from what the programs
// write into it (record-fields.ts). A field is named only from a source that proves the name,
// in this order: the map value member it was copied from, the kernel field a CO-RE relocation
// read, the tracepoint field the context held (named by the caller, who reads the format file),
// a helper's result; else `field_<offset>`. Pure.
import type { CompositeLayout, FieldLayout, TypeLayout } from './layout.js';
import type { FieldFact, FieldSource, RecordFacts } from './record-fields.js';

/** A tracepoint record's field, as its format file describes it. */
export interface TracepointFieldInfo {
  readonly name: string;
  readonly signed: boolean;
  /** The names the tracepoint's own print format gives its values (`__print_symbolic`), if any. */
  readonly values?: readonly { readonly name: string; readonly value: number }[];
}

/** `TracepointField` describes the field at `offset` of the context of the program in `section`, if known. */
export type TracepointField = (section: string, offset: number) => TracepointFieldInfo | undefined;

/** Rank of each kind of source: lower proves more. */
const RANK: Record<FieldSource['kind'], number> = { member: 0, core: 1, ctx: 2, helper: 3, bytes: 4, number: 5 };

/** What the halves of the 64-bit helper results are (bpf_get_current_pid_tgid, bpf_get_current_uid_gid). */
const HALVES: Record<string, { readonly lo32: string; readonly hi32: string }> = {
  pid_tgid: { lo32: 'tid', hi32: 'pid' },
  uid_gid: { lo32: 'uid', hi32: 'gid' },
};

/** `name`, with how the value was derived from it when that changes what it is (`exit_code>>8`). */
function derived(name: string, op: string): string {
  if (op === '' || op === 'lo32') return name;
  return op === 'hi32' ? `${name}>>32` : `${name}${op}`;
}

interface Named {
  readonly name: string;
  readonly signed?: boolean;
  readonly values?: TracepointFieldInfo['values'];
}

function nameOf(f: FieldFact, tracepointField: TracepointField): Named | undefined {
  const s = f.source;
  if (s.kind === 'ctx') {
    const field = tracepointField(s.section, s.offset);
    const whole = s.op === '' || s.op === 'lo32';
    return field && { name: derived(field.name, s.op), signed: field.signed && whole, ...(whole && field.values ? { values: field.values } : {}) };
  }
  const name = plainName(f);
  return name === undefined ? undefined : { name };
}

function plainName(f: FieldFact): string | undefined {
  const s = f.source;
  switch (s.kind) {
    case 'member':
      return s.name;
    case 'core':
      return derived(s.name, s.op);
    case 'helper': {
      const halves = HALVES[s.helper];
      if (halves !== undefined && (s.op === 'lo32' || s.op === 'hi32')) return halves[s.op];
      return derived(s.helper, s.op);
    }
    case 'ctx':
    case 'bytes':
    case 'number':
      return undefined;
  }
}

/** What the helper keys of record-fields.ts call. */
const HELPER_CALLS: Record<string, string> = {
  ts: 'bpf_ktime_get_ns()',
  cpu: 'bpf_get_smp_processor_id()',
  pid_tgid: 'bpf_get_current_pid_tgid()',
  uid_gid: 'bpf_get_current_uid_gid()',
  comm: 'bpf_get_current_comm()',
};

function opText(op: string): string {
  if (op === '') return '';
  if (op === 'lo32') return ', low 32 bits';
  return op === 'hi32' ? ' >> 32' : ` ${op.slice(0, op.startsWith('>>') ? 2 : 1)} ${op.slice(op.startsWith('>>') ? 2 : 1)}`;
}

/** `originText` says where a field's bytes came from: `bpf_get_current_pid_tgid() >> 32`, `CO-RE task_struct.exit_code`. */
function originText(f: FieldFact, tracepointField: TracepointField): string {
  const s = f.source;
  switch (s.kind) {
    case 'member':
      return `${s.through ? 'string at ' : ''}member ${s.name} of map ${s.map}'s value`;
    case 'core':
      return `${s.text ? 'string at ' : ''}CO-RE ${s.path}${opText(s.op)}`;
    case 'ctx': {
      const field = tracepointField(s.section, s.offset);
      const what = field === undefined ? `context offset ${s.offset}` : `tracepoint field ${field.name}`;
      return `${s.text ? 'string at ' : ''}${what} of ${s.section}${opText(s.op)}`;
    }
    case 'helper':
      return `${HELPER_CALLS[s.helper] ?? s.helper}${opText(s.op)}`;
    case 'bytes':
      return s.text ? 'a string from an address of unknown origin' : 'bytes of unknown origin';
    case 'number':
      return 'a value of unknown origin';
  }
}

function layoutOf(f: FieldFact, named: Named | undefined): TypeLayout {
  const s = f.source;
  const signed = named?.signed ?? false;
  if (s.kind === 'member') return s.layout;
  if ('text' in s && s.text === true) return { kind: 'string', size: f.size };
  if (named?.values && (f.size === 1 || f.size === 2 || f.size === 4 || f.size === 8)) return { kind: 'enum', size: f.size, signed, values: named.values };
  if (f.size === 1 || f.size === 2 || f.size === 4 || f.size === 8) return { kind: 'int', size: f.size, signed, name: `${signed ? 's' : 'u'}${f.size * 8}` };
  return { kind: 'opaque', size: f.size };
}

/** An inferred record type: its layout, where each field came from (in field order), and the programs that send it. */
export interface InferredRecord {
  readonly layout: CompositeLayout;
  readonly origins: readonly string[];
  readonly programs: readonly string[];
}

/**
 * `inferRecordLayout` lays out the record `facts` describe. Where several programs or paths
 * write the same bytes, the most certain source wins, then the widest. Undefined when the
 * writes cover less than half of the record: then nothing is known well enough to print.
 */
export function inferRecordLayout(facts: RecordFacts, tracepointField: TracepointField): InferredRecord | undefined {
  const named = facts.fields.map((f) => ({ fact: f, name: nameOf(f, tracepointField) }));
  const rank = (x: (typeof named)[number]) => (x.name === undefined ? RANK.bytes + (x.fact.source.kind === 'bytes' ? 0 : 1) : RANK[x.fact.source.kind]);
  const chosen: typeof named = [];
  for (const x of [...named].sort((a, b) => rank(a) - rank(b) || b.fact.size - a.fact.size || a.fact.offset - b.fact.offset)) {
    if (!chosen.some((y) => x.fact.offset < y.fact.offset + y.fact.size && y.fact.offset < x.fact.offset + x.fact.size)) chosen.push(x);
  }
  chosen.sort((a, b) => a.fact.offset - b.fact.offset);
  const covered = chosen.reduce((n, x) => n + x.fact.size, 0);
  if (covered * 2 < facts.size) return undefined;
  const taken = new Set<string>();
  const fields = chosen.map(({ fact, name: n }): FieldLayout => {
    // Two fields from one source (the pids of two tasks) keep their offset to stay apart.
    const name = n?.name;
    const unique = name === undefined ? `field_${fact.offset}` : taken.has(name) ? `${name}_${fact.offset}` : name;
    taken.add(unique);
    return { name: unique, offset: fact.offset, layout: layoutOf(fact, n) };
  });
  return {
    layout: { kind: 'struct', size: facts.size, fields },
    origins: chosen.map(({ fact }) => originText(fact, tracepointField)),
    programs: facts.programs,
  };
}
