/**
 * Package parameters as command-line flags (registry-spec/package-v1.md §3.4): which flags a
 * package offers, how a flag's text becomes a typed value (range-checked by the C type), and how
 * that value is encoded into the bytes of its data section before load. Pure: no I/O.
 *
 * Flags follow ecli's generated arguments (eunomia `meta/arg_builder.rs`) with one change: a
 * `bool` is a switch `--name` with its negation `--no-name`, instead of ecli's
 * `--enable-`/`--disable-` spelling that depends on the default. An eunomia `package.json`
 * keeps ecli's spellings (`EcliFlag`): its flags answer to ecli's names and to ebpm's.
 */
import { EbpmError } from '../core/errors.js';
import { compact } from '../core/json.js';
import type { BpfObjectMeta, ParameterMeta } from './metadata.js';

/** A parsed parameter value: integers as bigint, floats as number, bytes for `bytes` kind. */
export type ParamValue = bigint | number | boolean | string | Uint8Array;

/** How ecli offers a parameter of an eunomia package (eunomia `meta/arg_builder.rs`). */
export interface EcliFlag {
  /** `cmdarg.long`, else the variable's name as written (`filtered_pid`). */
  readonly long: string;
  /** `cmdarg.default`, else the variable's `value`: what ecli sets when the flag is absent. */
  readonly fill?: ParamValue;
}

/** `FlagSpec` is one generated flag: the parameter it sets, in which object. */
export interface FlagSpec {
  /** The spelling shown: ecli's for an eunomia package, else the metadata's `flag.long`. */
  readonly long: string;
  readonly short?: string;
  /** The object (`sigsnoop.bpf.o`) whose global the flag sets. */
  readonly object: string;
  readonly parameter: ParameterMeta;
  /** Whether the flag is a switch (bool) rather than taking a value. */
  readonly isSwitch: boolean;
  /** Every long spelling, without `--`: for a switch, the value it sets (`no-x`: false); undefined for a flag taking a value. */
  readonly spellings: ReadonlyMap<string, boolean | undefined>;
  /** Set when the flag is absent (ecli's default); undefined: the global keeps its initial value. */
  readonly fill?: ParamValue;
}

function invalid(message: string, hint: string, data?: Record<string, unknown>): EbpmError {
  return new EbpmError('INVALID_PARAMETER', message, data === undefined ? { hint } : { hint, data });
}

/**
 * `flagSpecs` lists the flags of every parameter of `objects`. A flag may not repeat within the
 * package nor take a name in `reserved` (the command's own flags): either is
 * `PARAMETER_FLAG_CONFLICT`, since the package could then not be configured unambiguously.
 * `ecli` (an eunomia package's, by parameter name) adds ecli's spellings: its long name, and
 * `--enable-<long>`/`--disable-<long>` for switches whatever the default.
 */
export function flagSpecs(objects: readonly BpfObjectMeta[], reserved: readonly string[] = [], ecli?: ReadonlyMap<string, EcliFlag>): FlagSpec[] {
  const out: FlagSpec[] = [];
  const taken = new Map<string, string>(reserved.map((r) => [r, 'a flag of the command']));
  const claim = (flag: string, owner: string) => {
    const prior = taken.get(flag);
    if (prior !== undefined) {
      throw new EbpmError('PARAMETER_FLAG_CONFLICT', `flag ${flag} of ${owner} is also ${prior}`, {
        hint: 'give the parameter another name with `/// @cmdarg {"long": …, "short": …}` and rebuild the package',
      });
    }
    taken.set(flag, owner);
  };
  for (const obj of objects) {
    for (const p of obj.parameters) {
      const owner = `parameter ${p.name} (${obj.name})`;
      const isSwitch = p.kind === 'bool';
      const e = ecli?.get(p.name);
      const long = e?.long ?? p.flag.long;
      const spellings = new Map<string, boolean | undefined>();
      for (const name of new Set([long, p.flag.long])) {
        spellings.set(name, isSwitch ? true : undefined);
        if (isSwitch) spellings.set(`no-${name}`, false);
      }
      if (e && isSwitch) spellings.set(`enable-${long}`, true).set(`disable-${long}`, false);
      for (const name of spellings.keys()) claim(`--${name}`, owner);
      if (p.flag.short !== undefined) claim(`-${p.flag.short}`, owner);
      out.push(compact({ long, short: p.flag.short, object: obj.name, parameter: p, isSwitch, spellings, fill: e?.fill }));
    }
  }
  return out;
}

/** Byte sizes of the integer kinds a parameter may have (8 to 128 bits). */
const INT_SIZES = new Set([1, 2, 4, 8, 16]);

/** `intRange` is the inclusive range of a C integer of `size` bytes. */
export function intRange(size: number, signed: boolean): readonly [bigint, bigint] {
  const bits = BigInt(size * 8);
  return signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
}

const INTEGER = /^[+-]?(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i;
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * `parseValue` reads a flag's text as the value of parameter `p`: integers in decimal, `0x`,
 * `0o` or `0b` and within the range of the C type; floats finite and within range; strings that
 * fit with their terminating NUL; `bytes` as exactly `size` bytes of hex. Anything else is
 * `INVALID_PARAMETER` naming the flag, the text and the type.
 */
export function parseValue(p: ParameterMeta, text: string, flag = `--${p.flag.long}`): ParamValue {
  const where = `${flag}: ${JSON.stringify(text)}`;
  switch (p.kind) {
    case 'bool': {
      if (text === 'true' || text === '1') return true;
      if (text === 'false' || text === '0') return false;
      throw invalid(`${where}: not a boolean`, `${flag} is a switch: give \`${flag}\` or \`--no-${p.flag.long}\``);
    }
    case 'int':
    case 'uint': {
      if (!INT_SIZES.has(p.size)) throw invalid(`${flag}: ${p.type}: unsupported integer size ${p.size}`, 'integer parameters are 1, 2, 4, 8 or 16 bytes');
      const t = text.trim();
      if (!INTEGER.test(t)) throw invalid(`${where}: not an integer`, `${flag} takes a ${p.type} (decimal, 0x hex, 0o octal or 0b binary)`);
      const negative = t.startsWith('-');
      const magnitude = BigInt(t.replace(/^[+-]/, ''));
      const v = negative ? -magnitude : magnitude;
      const [min, max] = intRange(p.size, p.kind === 'int');
      if (v < min || v > max) {
        // C would wrap a negative sentinel (`(uid_t)-1`); a flag says which value that is.
        const wrapped = p.kind === 'uint' && v < 0n && -v <= max ? ` (${p.type} is unsigned: (${p.type})${v} is ${max + 1n + v})` : '';
        throw invalid(`${where}: out of range for ${p.type} [${min}, ${max}]`, `give ${flag} a value from ${min} to ${max}${wrapped}`, {
          min: String(min),
          max: String(max),
        });
      }
      return v;
    }
    case 'float': {
      const v = text.trim() === '' ? NaN : Number(text);
      const limit = p.size === 4 ? FLOAT32_MAX : Number.MAX_VALUE;
      if (!Number.isFinite(v)) throw invalid(`${where}: not a finite number`, `${flag} takes a ${p.type}`);
      if (Math.abs(v) > limit) throw invalid(`${where}: out of range for ${p.type}`, `give ${flag} a value within ±${limit}`);
      return v;
    }
    case 'string': {
      const bytes = new TextEncoder().encode(text);
      if (bytes.includes(0)) throw invalid(`${where}: contains a NUL byte`, `${flag} takes text without NUL characters`);
      if (bytes.length > p.size - 1) {
        throw invalid(`${where}: ${bytes.length} bytes do not fit ${p.type}`, `${flag} takes at most ${p.size - 1} bytes (the C string keeps one for its NUL)`);
      }
      return text;
    }
    case 'bytes': {
      const hex = text.trim().replace(/^0x/i, '');
      if (!/^([0-9a-f]{2})*$/i.test(hex)) throw invalid(`${where}: not hex`, `${flag} takes ${p.size} bytes as ${p.size * 2} hex digits`);
      if (hex.length !== p.size * 2)
        throw invalid(`${where}: ${hex.length / 2} bytes, ${p.type} has ${p.size}`, `${flag} takes ${p.size} bytes as ${p.size * 2} hex digits`);
      return Uint8Array.from(Buffer.from(hex, 'hex'));
    }
  }
}

/** `encodeValue` lays out a value parsed for `p` as the `p.size` little-endian bytes of its global. */
export function encodeValue(p: ParameterMeta, v: ParamValue): Uint8Array {
  const out = new Uint8Array(p.size);
  const view = new DataView(out.buffer);
  if (typeof v === 'boolean') {
    out[0] = v ? 1 : 0;
  } else if (typeof v === 'bigint') {
    let x = BigInt.asUintN(p.size * 8, v);
    for (let i = 0; i < p.size; i++, x >>= 8n) out[i] = Number(x & 0xffn);
  } else if (typeof v === 'number') {
    if (p.size === 4) view.setFloat32(0, v, true);
    else view.setFloat64(0, v, true);
  } else if (typeof v === 'string') {
    out.set(new TextEncoder().encode(v));
  } else {
    out.set(v);
  }
  return out;
}

/** `Assignment` is one parameter set on the command line, ready to patch its section. */
export interface Assignment {
  readonly object: string;
  readonly section: string;
  readonly offset: number;
  readonly bytes: Uint8Array;
  readonly parameter: string;
}

/**
 * `applyAssignments` returns a copy of `section` (the initial bytes of `name` in one object)
 * with every assignment for it written in. An assignment beyond the section is
 * `PARAMETER_OUT_OF_SECTION`: the metadata does not match the object.
 */
export function applyAssignments(name: string, section: Uint8Array, assignments: readonly Assignment[]): Uint8Array {
  const out = new Uint8Array(section);
  for (const a of assignments) {
    if (a.section !== name) continue;
    if (a.offset + a.bytes.length > out.length) {
      throw new EbpmError(
        'PARAMETER_OUT_OF_SECTION',
        `parameter ${a.parameter}: bytes ${a.offset}..${a.offset + a.bytes.length} beyond ${name} (${out.length} bytes)`,
        {
          hint: 'the package metadata does not match its BPF object; rebuild or re-pull the package',
        },
      );
    }
    out.set(a.bytes, a.offset);
  }
  return out;
}

/**
 * `assignments` turns the parsed values into section patches, and the `fill` of every flag of
 * `specs` not given: the globals ecli would set.
 */
export function assignments(values: ReadonlyMap<FlagSpec, ParamValue>, specs: readonly FlagSpec[] = []): Assignment[] {
  const all = new Map(values);
  for (const s of specs) if (s.fill !== undefined && !all.has(s)) all.set(s, s.fill);
  return [...all].map(([s, v]) => ({
    object: s.object,
    section: s.parameter.section,
    offset: s.parameter.offset,
    bytes: encodeValue(s.parameter, v),
    parameter: s.parameter.name,
  }));
}
