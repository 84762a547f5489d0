/**
 * The kernel's BTF cut down to what one object's CO-RE relocations read, for libbpf's
 * `btf_custom_path`: libbpf then parses a few hundred bytes instead of the megabytes of
 * /sys/kernel/btf/vmlinux, and computes the same relocations. Pure: kernel BTF bytes and a
 * parsed object in, raw BTF out.
 *
 * Why the result relocates exactly as the whole kernel BTF does (libbpf 1.x, src/libbpf.c and
 * src/relo_core.c):
 * - bpf_core_find_cands takes as candidates every target type of a compatible kind whose
 *   essential name (before `___`) is the local root's; every kernel type of that name is kept,
 *   whatever its kind, in kernel order, so the candidate list is the same.
 * - With a custom BTF libbpf never looks in module BTFs; with the kernel's, it does when vmlinux
 *   has no candidate. A root without a candidate in vmlinux is refused.
 * - Field and enumerator relocations (bpf_core_spec_match, bpf_core_fields_are_compat,
 *   bpf_core_calc_field_relo) read names, kinds, sizes, offsets, int encodings and enumerators
 *   of the types embedded in the root, and of a pointer only its kind: pointers are kept as
 *   pointers to void. `btf__resolve_size` of a pointer is the size of the target's first `long`
 *   int (determine_ptr_size), which is kept.
 * - bpf_core_types_are_compat (type_exists, type_size) follows pointers, arrays, typedefs,
 *   modifiers and function prototypes but stops at structs and unions: those are kept as stubs
 *   (name, kind, size, no members). bpf_core_types_match (type_matches) also compares the
 *   members of composites not behind a pointer, so those keep their members.
 * - type_id_target's result is a type id of the BTF libbpf read: refused, as are objects for
 *   which libbpf reads the kernel's BTF anyway (BTF-attached programs, kfuncs, `__ksym`).
 */
import { essentialName, type CoreReloKind } from './btf-ext.js';
import { extraSize, split } from './btf.js';
import { bpfError, cstring } from './cursor.js';
import type { ObjectSpec } from './object.js';

/**
 * What a root is read for, as bits: the three ways libbpf compares types (the module comment):
 * `stub` composites by name, kind and size; `fields` embedded types, pointers by kind; `match`
 * composites by members, what they point to by name.
 */
export const READ = { stub: 1, fields: 2, match: 4 } as const;
const STUB = READ.stub;
const FIELDS = READ.fields;
const MATCH = READ.match;

/** Per relocation kind, what its root is read for; undefined: no kernel type (type_id_local). */
function readFor(kind: CoreReloKind): number | undefined {
  switch (kind) {
    case 'type_exists':
    case 'type_size':
      return STUB;
    case 'type_matches':
      return MATCH;
    case 'type_id_local':
    case 'type_id_target':
      return undefined;
    default:
      return FIELDS;
  }
}

/** A minimal BTF, or why there is none (never an error: the load then reads the kernel's BTF). */
export type MinimalBtf = { readonly btf: Uint8Array } | { readonly refused: string };

/** Program types whose attach point libbpf resolves in the kernel's own BTF (prog_needs_vmlinux_btf, and freplace). */
const KERNEL_BTF_PROGRAMS: ReadonlySet<string> = new Set(['tracing', 'lsm', 'struct_ops', 'ext']);

/**
 * `coreRoots` is what `spec`'s CO-RE relocations read of the kernel: each root's essential
 * name with what it is read for, or why a minimal BTF cannot stand in for the kernel's.
 */
export function coreRoots(spec: ObjectSpec): ReadonlyMap<string, number> | { readonly refused: string } {
  const btf = spec.btf;
  if (btf === null) return { refused: 'no BTF' };
  const p = spec.programs.find((q) => q.needsKernelBtf || KERNEL_BTF_PROGRAMS.has(q.type) || q.kfuncs.length > 0);
  if (p !== undefined) return { refused: `program ${p.name} (${p.section}) makes libbpf read the kernel's BTF` };
  if (spec.maps.some((m) => m.type === 'struct_ops')) return { refused: 'struct_ops maps make libbpf read the kernel BTF' };
  if (btf.types.some((t) => t.kind === 'datasec' && t.name === '.ksyms' && t.vars.length > 0)) return { refused: '__ksym externs' };
  const roots = new Map<string, number>();
  for (const r of spec.coreRelocations) {
    if (r.kind === 'type_id_target') return { refused: `${r.section}+${r.insn}: type_id_target relocation` };
    const mode = readFor(r.kind);
    if (mode === undefined) continue;
    // libbpf names the candidates after the relocation's own type, typedef or not.
    const name = essentialName(btf.types[r.typeId]?.name ?? '');
    if (name === '') return { refused: `${r.section}+${r.insn}: relocation of an anonymous type` };
    roots.set(name, (roots.get(name) ?? 0) | mode);
  }
  if (roots.size === 0) return { refused: 'no CO-RE relocations against kernel types' };
  return roots;
}

/** `determine_ptr_size`'s names of `long` (libbpf src/btf.c). */
const LONG_NAMES: ReadonlySet<string> = new Set([
  'long',
  'long int',
  'int long',
  'unsigned long',
  'long unsigned',
  'unsigned long int',
  'unsigned int long',
  'long unsigned int',
  'long int unsigned',
  'int unsigned long',
  'int long unsigned',
]);

// BTF kind numbers (uapi linux/btf.h).
const INT = 1;
const PTR = 2;
const ARRAY = 3;
const STRUCT = 4;
const UNION = 5;
const ENUM = 6;
const FUNC_PROTO = 13;
const DATASEC = 15;
const ENUM64 = 19;

/**
 * `minimalBtf` is `kernel` (raw BTF, /sys/kernel/btf/vmlinux) cut down to what `roots`
 * (`coreRoots`) read. It reads the type section once without decoding it: only candidates'
 * names are decoded, and only the kept types are visited.
 */
export function minimalBtf(kernel: Uint8Array, roots: ReadonlyMap<string, number>): MinimalBtf {
  const { typeBytes, strings } = split(kernel);
  const v = new DataView(typeBytes.buffer, typeBytes.byteOffset, typeBytes.byteLength);
  const name = (off: number) => cstring(strings, off, 'BTF_MALFORMED', 'kernel btf type name');
  const wanted = candidateNames(strings, roots);
  // Type offsets by id (id 0 is void); a type is at least 12 bytes.
  const offsets = new Uint32Array(Math.floor(typeBytes.length / 12) + 1);
  const modes = new Uint8Array(offsets.length);
  const found = new Set<string>();
  const work: number[] = [];
  let count = 1;
  let long = 0;
  for (let at = 0; at < typeBytes.length; count++) {
    if (at + 12 > typeBytes.length) throw bpfError('BTF_MALFORMED', `kernel btf type [${count}]: header past the type section`);
    offsets[count] = at;
    const nameOff = v.getUint32(at, true);
    const info = v.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const want = wanted.get(nameOff);
    if (want !== undefined && essentialName(name(nameOff)) === want) {
      found.add(want);
      modes[count] = roots.get(want)!;
      work.push(count);
    } else if (long === 0 && kind === INT && nameOff !== 0 && LONG_NAMES.has(name(nameOff))) {
      const size = v.getUint32(at + 8, true);
      if (size === 4 || size === 8) {
        long = count;
        modes[count] = STUB;
      }
    }
    at += 12 + extraSize(kind, info & 0xffff);
    if (at > typeBytes.length) throw bpfError('BTF_MALFORMED', `kernel btf type [${count}]: past the type section`);
  }
  const missing = [...roots.keys()].filter((r) => !found.has(r));
  if (missing.length > 0) return { refused: `not in the kernel's vmlinux BTF (libbpf would look in modules): ${missing.join(', ')}` };

  const mark = (id: number, mode: number) => {
    if (id >= count) throw bpfError('BTF_MALFORMED', `kernel btf: reference to type [${id}] of ${count - 1}`);
    if (id === 0 || (modes[id]! | mode) === modes[id]) return;
    modes[id]! |= mode;
    work.push(id);
  };
  while (work.length > 0) {
    const id = work.pop()!;
    const mode = modes[id]!;
    const at = offsets[id]!;
    const info = v.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const ref = v.getUint32(at + 8, true);
    switch (kind) {
      case PTR:
        if (mode & (STUB | MATCH)) mark(ref, STUB);
        break;
      case ARRAY:
        mark(v.getUint32(at + 12, true), mode);
        mark(v.getUint32(at + 16, true), STUB);
        break;
      case STRUCT:
      case UNION:
        if (mode & (FIELDS | MATCH)) for (let i = 0; i < vlen; i++) mark(v.getUint32(at + 16 + 12 * i, true), mode & (FIELDS | MATCH));
        break;
      case FUNC_PROTO:
        mark(ref, mode);
        for (let i = 0; i < vlen; i++) mark(v.getUint32(at + 16 + 8 * i, true), mode);
        break;
      case DATASEC:
        for (let i = 0; i < vlen; i++) mark(v.getUint32(at + 12 + 12 * i, true), STUB);
        break;
      case 8: // typedef
      case 9: // volatile
      case 10: // const
      case 11: // restrict
      case 18: // type_tag
        mark(ref, mode);
        break;
      case 12: // func
      case 14: // var
      case 17: // decl_tag
        mark(ref, STUB);
        break;
      default: // int, enum, fwd, float, enum64: no references
    }
  }
  return { btf: emit(v, name, offsets, modes, count) };
}

/**
 * `candidateNames` maps each string-table offset whose string may have a root's essential name
 * (starts with it, followed by NUL or `___`) to that name. A name offset may point into the
 * middle of a longer string, so every occurrence counts, not only those after a NUL.
 */
function candidateNames(strings: Uint8Array, roots: ReadonlyMap<string, number>): Map<number, string> {
  const table = Buffer.from(strings.buffer, strings.byteOffset, strings.length);
  const out = new Map<number, string>();
  for (const root of roots.keys()) {
    const needle = Buffer.from(root, 'utf8');
    for (let i = table.indexOf(needle); i >= 0; i = table.indexOf(needle, i + 1)) {
      const next = i + needle.length;
      if (table[next] === 0 || (table[next] === 0x5f && table[next + 1] === 0x5f && table[next + 2] === 0x5f)) out.set(i, root);
    }
  }
  return out;
}

/** Writes the kept types in kernel order with new ids and a string table of their names only. */
function emit(v: DataView, name: (off: number) => string, offsets: Uint32Array, modes: Uint8Array, count: number): Uint8Array {
  const ids = new Uint32Array(count);
  let kept = 0;
  let typeLen = 0;
  const sizes: number[] = [];
  for (let id = 1; id < count; id++) {
    if (modes[id] === 0) continue;
    ids[id] = ++kept;
    const at = offsets[id]!;
    const info = v.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const stub = (kind === STRUCT || kind === UNION) && (modes[id]! & (FIELDS | MATCH)) === 0;
    const size = 12 + (stub ? 0 : extraSize(kind, info & 0xffff));
    sizes.push(size);
    typeLen += size;
  }
  const strs = new Map<number, number>([[0, 0]]);
  const chunks: Uint8Array[] = [new Uint8Array(1)];
  let strLen = 1;
  const str = (off: number): number => {
    let at = strs.get(off);
    if (at === undefined) {
      const bytes = Buffer.from(`${name(off)}\0`, 'utf8');
      at = strLen;
      strs.set(off, at);
      chunks.push(bytes);
      strLen += bytes.length;
    }
    return at;
  };
  const types = new Uint8Array(typeLen);
  const out = new DataView(types.buffer);
  const src = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let w = 0;
  let n = 0;
  for (let id = 1; id < count; id++) {
    if (modes[id] === 0) continue;
    const at = offsets[id]!;
    const size = sizes[n++]!;
    types.set(src.subarray(at, at + size), w);
    const info = v.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = size === 12 ? 0 : info & 0xffff;
    const u32 = (o: number) => out.getUint32(w + o, true);
    const set = (o: number, x: number) => out.setUint32(w + o, x, true);
    set(0, str(u32(0)));
    set(4, (info & 0xffff0000) | vlen);
    switch (kind) {
      case PTR:
        set(8, modes[id]! & (STUB | MATCH) ? ids[u32(8)]! : 0);
        break;
      case ARRAY:
        set(12, ids[u32(12)]!);
        set(16, ids[u32(16)]!);
        break;
      case STRUCT:
      case UNION:
        for (let i = 0; i < vlen; i++) {
          set(12 + 12 * i, str(u32(12 + 12 * i)));
          set(16 + 12 * i, ids[u32(16 + 12 * i)]!);
        }
        break;
      case ENUM:
        for (let i = 0; i < vlen; i++) set(12 + 8 * i, str(u32(12 + 8 * i)));
        break;
      case ENUM64:
        for (let i = 0; i < vlen; i++) set(12 + 12 * i, str(u32(12 + 12 * i)));
        break;
      case FUNC_PROTO:
        set(8, ids[u32(8)]!);
        for (let i = 0; i < vlen; i++) {
          set(12 + 8 * i, str(u32(12 + 8 * i)));
          set(16 + 8 * i, ids[u32(16 + 8 * i)]!);
        }
        break;
      case DATASEC:
        for (let i = 0; i < vlen; i++) set(12 + 12 * i, ids[u32(12 + 12 * i)]!);
        break;
      case 8:
      case 9:
      case 10:
      case 11:
      case 12:
      case 14:
      case 17:
      case 18:
        set(8, ids[u32(8)]!);
        break;
      default: // int, fwd, float: size or nothing after the name
    }
    w += size;
  }
  const blob = new Uint8Array(24 + typeLen + strLen);
  const h = new DataView(blob.buffer);
  h.setUint16(0, 0xeb9f, true);
  h.setUint8(2, 1); // version
  h.setUint32(4, 24, true); // hdr_len
  h.setUint32(8, 0, true); // type_off
  h.setUint32(12, typeLen, true);
  h.setUint32(16, typeLen, true); // str_off
  h.setUint32(20, strLen, true);
  blob.set(types, 24);
  let s = 24 + typeLen;
  for (const c of chunks) {
    blob.set(c, s);
    s += c.length;
  }
  return blob;
}
