// Reader for `.BTF.ext` (kernel Documentation/bpf/llvm_reloc.rst and libbpf's
// struct btf_ext_header / bpf_core_relo in libbpf_internal.h and relo_core.h): per-section
// func_info, line_info and CO-RE relocation records. In an object file every insn_off is a
// byte offset into the named ELF section; we report instruction indexes (offset / 8).
import { resolveType, skipModifiers, type Btf, type BtfType } from './btf.js';
import { bpfError, Cursor, cstring, type Where } from './cursor.js';

/** CO-RE relocation kinds, numbered as `enum bpf_core_relo_kind` (uapi linux/bpf.h, 5.x-6.x). */
export const CORE_RELO_KINDS = [
  'field_byte_offset',
  'field_byte_size',
  'field_exists',
  'field_signed',
  'field_lshift_u64',
  'field_rshift_u64',
  'type_id_local',
  'type_id_target',
  'type_exists',
  'type_size',
  'enumval_exists',
  'enumval_value',
  'type_matches',
] as const;
export type CoreReloKind = (typeof CORE_RELO_KINDS)[number];

export interface FuncInfo {
  readonly section: string;
  readonly insn: number;
  readonly typeId: number;
}

export interface LineInfo {
  readonly section: string;
  readonly insn: number;
  readonly file: string;
  /** The source line's text, as the compiler recorded it. */
  readonly source: string;
  readonly line: number;
  readonly column: number;
}

/** One CO-RE relocation: which instruction depends on which kernel type or field. */
export interface CoreRelocation {
  readonly section: string;
  readonly insn: number;
  readonly kind: CoreReloKind;
  /** The local BTF type the access starts from. */
  readonly typeId: number;
  /** The name of that type, as libbpf matches it against kernel BTF (`task_struct`). */
  readonly typeName: string;
  /** The raw access string (`0:57:2`). */
  readonly access: string;
  /** The access made readable: `task_struct.real_parent`, `sk_buff.cb[2]`, `pid_type::PIDTYPE_TGID`, `task_struct`. */
  readonly path: string;
}

export interface BtfExt {
  readonly funcInfo: readonly FuncInfo[];
  readonly lineInfo: readonly LineInfo[];
  readonly coreRelocations: readonly CoreRelocation[];
}

/** libbpf's rule: `task_struct___pre514` is a flavour of `task_struct`, matched by the name before `___`. */
export function essentialName(name: string): string {
  const i = name.indexOf('___');
  return i < 0 ? name : name.slice(0, i);
}

/** libbpf's BPF_CORE_SPEC_MAX_LEN: longer access strings are rejected. */
const MAX_ACCESS_LEN = 64;

/** `parseBtfExt` decodes `.BTF.ext`; names and types are looked up in the object's `btf` and `strings`. */
export function parseBtfExt(bytes: Uint8Array, btf: Btf, strings: Uint8Array): BtfExt {
  const h = new Cursor(bytes, 'BTF_MALFORMED', 'btf.ext header');
  const magic = h.u16(0, 'magic');
  if (magic !== 0xeb9f) throw h.fail(`bad magic 0x${magic.toString(16)}`);
  const version = h.u8(2, 'version');
  if (version !== 1) throw h.fail(`unsupported version ${version}`);
  const hdrLen = h.u32(4, 'hdr_len');
  if (hdrLen < 24) throw h.fail(`hdr_len ${hdrLen} shorter than 24`);
  h.check(0, hdrLen, `${hdrLen}-byte header`);
  const str = (off: number, where: Where) => cstring(strings, off, 'BTF_MALFORMED', where);
  const info = (field: number, what: string, minRec: number) =>
    records(h, hdrLen, h.u32(field, `${what}_off`), h.u32(field + 4, `${what}_len`), what, minRec, str);

  // `records` checked that every record lies inside its block, so fields are read directly.
  const funcInfo = info(8, 'func_info', 8).map(({ section, insn, v, at }) => ({ section, insn, typeId: v.getUint32(at + 4, true) }));
  const lineInfo = info(16, 'line_info', 16).map(({ section, insn, v, at }): LineInfo => {
    const col = v.getUint32(at + 12, true);
    return {
      section,
      insn,
      file: str(v.getUint32(at + 4, true), () => `btf.ext line_info ${section}+${insn} file`),
      source: str(v.getUint32(at + 8, true), () => `btf.ext line_info ${section}+${insn} line`),
      line: col >>> 10,
      column: col & 0x3ff,
    };
  });
  // The CO-RE section exists only with the 32-byte header (LLVM 12+).
  const coreRelocations =
    hdrLen < 32
      ? []
      : info(24, 'core_relo', 16).map(({ section, insn, v, at }, n): CoreRelocation => {
          const where = `btf.ext core_relo ${n} (${section}+${insn})`;
          const typeId = v.getUint32(at + 4, true);
          const access = str(v.getUint32(at + 8, true), `${where} access`);
          const kindNo = v.getUint32(at + 12, true);
          const kind = CORE_RELO_KINDS[kindNo];
          if (kind === undefined) throw bpfError('BTF_MALFORMED', `${where}: unknown kind ${kindNo}`);
          const { typeName, path } = accessPath(btf, typeId, access, kind, where);
          return { section, insn, kind, typeId, typeName, access, path };
        });
  return { funcInfo, lineInfo, coreRelocations };
}

interface Rec {
  readonly section: string;
  readonly insn: number;
  readonly v: DataView;
  readonly at: number;
}

/** Each info block is `u32 rec_size` then `{u32 sec_name_off; u32 num_info; rec[num_info]}*`. */
function records(h: Cursor, hdrLen: number, off: number, len: number, what: string, minRec: number, str: (off: number, where: Where) => string): Rec[] {
  if (len === 0) return [];
  const c = new Cursor(h.slice(hdrLen + off, len, `${what} section`), 'BTF_MALFORMED', `btf.ext ${what}`);
  const recSize = c.u32(0, 'rec_size');
  // Newer compilers may append fields; a record must hold at least the ones we read.
  if (recSize < minRec || recSize % 4 !== 0) throw c.fail(`rec_size ${recSize} invalid (need >= ${minRec}, multiple of 4)`);
  const out: Rec[] = [];
  let at = 4;
  while (at < c.length) {
    const section = str(c.u32(at, 'sec_name_off'), () => `btf.ext ${what} section name`);
    const n = c.u32(at + 4, `${section} num_info`);
    at += 8;
    c.check(at, n * recSize, `${section}: ${n} records of ${recSize} bytes`);
    for (let i = 0; i < n; i++, at += recSize) {
      const byteOff = c.view.getUint32(at, true);
      if (byteOff % 8 !== 0) throw c.fail(`${section} record ${i}: insn_off ${byteOff} not a multiple of 8`);
      out.push({ section, insn: byteOff / 8, v: c.view, at });
    }
  }
  return out;
}

function displayName(t: BtfType): string {
  return t.name || `(anon ${t.kind})`;
}

/**
 * `accessPath` turns a CO-RE access string into a path the way libbpf's bpf_core_parse_spec
 * walks it: type-based kinds use `0` and name the type; enumval kinds index the enumerators;
 * field kinds index the root as an array, then members (anonymous members add no name) and
 * array elements.
 */
function accessPath(btf: Btf, typeId: number, access: string, kind: CoreReloKind, where: string): { typeName: string; path: string } {
  const fail = (msg: string) => bpfError('BTF_MALFORMED', `${where}: access ${JSON.stringify(access)}: ${msg}`, { typeId });
  if (typeId === 0) throw fail('type id 0 (void)');
  const parts = access.split(':');
  if (parts.length > MAX_ACCESS_LEN || parts.some((p) => !/^\d{1,9}$/.test(p))) throw fail('not a list of indexes');
  const idx = parts.map(Number);
  const named = skipModifiers(btf, typeId);
  if (kind.startsWith('type_')) {
    if (access !== '0') throw fail('type relocations take access "0"');
    return { typeName: displayName(named), path: displayName(named) };
  }
  const root = resolveType(btf, typeId);
  const typeName = displayName(root);
  if (kind.startsWith('enumval_')) {
    if (root.kind !== 'enum' && root.kind !== 'enum64') throw fail(`type ${typeName} is a ${root.kind}, not an enum`);
    const e = idx.length === 1 ? root.values[idx[0]!] : undefined;
    if (e === undefined) throw fail(`enumerator index out of range (${root.values.length} values)`);
    return { typeName, path: `${typeName}::${e.name}` };
  }
  let path = typeName + (idx[0] === 0 ? '' : `[${idx[0]}]`);
  let t = root;
  for (const i of idx.slice(1)) {
    if (t.kind === 'struct' || t.kind === 'union') {
      const m = t.members[i];
      if (m === undefined) throw fail(`member ${i} out of range in ${t.kind} ${displayName(t)} (${t.members.length} members)`);
      if (m.name) path += `.${m.name}`;
      t = resolveType(btf, m.type);
    } else if (t.kind === 'array') {
      path += `[${i}]`;
      t = resolveType(btf, t.type);
    } else {
      throw fail(`cannot index into ${t.kind} ${displayName(t)}`);
    }
  }
  return { typeName, path };
}
