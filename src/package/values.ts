import type { TypeLayout } from '../bpf/layout.js';
import type { ParameterKind, ParameterMeta } from './metadata.js';

/**
 * `parameterKind` says how a global of this layout takes a value from a flag
 * (registry-spec/package-v1.md §3.4): integers and enums by signedness, `bool`, floats of 4 or
 * 8 bytes, `char[N]` as a string, everything else as raw bytes.
 */
export function parameterKind(layout: TypeLayout): ParameterKind {
  switch (layout.kind) {
    case 'int':
      if (layout.bool) return 'bool';
      return layout.size <= 16 ? (layout.signed ? 'int' : 'uint') : 'bytes';
    case 'enum':
      return layout.signed ? 'int' : 'uint';
    case 'float':
      return layout.size === 4 || layout.size === 8 ? 'float' : 'bytes';
    case 'string':
      return 'string';
    case 'array':
    case 'struct':
    case 'union':
    case 'pointer':
    case 'opaque':
      return 'bytes';
  }
}

/**
 * `decodeDefault` reads a global's initial bytes as the value its flag would take: a number
 * (a decimal string beyond ±2^53), a boolean, the string before the first NUL, or lower-case hex.
 * `bytes` shorter than the layout (a truncated section) read as zero-padded.
 */
export function decodeDefault(layout: TypeLayout, bytes: Uint8Array): ParameterMeta['default'] {
  const b = new Uint8Array(layout.size);
  b.set(bytes.subarray(0, layout.size));
  const kind = parameterKind(layout);
  switch (kind) {
    case 'bool':
      return b.some((x) => x !== 0);
    case 'int':
    case 'uint': {
      let v = 0n;
      for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
      if (kind === 'int') v = BigInt.asIntN(b.length * 8, v);
      return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    }
    case 'float': {
      const view = new DataView(b.buffer);
      return b.length === 4 ? view.getFloat32(0, true) : view.getFloat64(0, true);
    }
    case 'string': {
      const end = b.indexOf(0);
      return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
    }
    case 'bytes':
      return Buffer.from(b).toString('hex');
  }
}

/** `cTypeName` spells a layout as C: `pid_t`, `unsigned int`, `char[16]`, `struct event`. */
export function cTypeName(layout: TypeLayout): string {
  switch (layout.kind) {
    case 'string':
      return layout.name ?? `char[${layout.size}]`;
    case 'array':
      return layout.name ?? `${cTypeName(layout.element)}[${layout.count}]`;
    case 'struct':
    case 'union':
      return layout.name === undefined ? `${layout.kind} {…}` : `${layout.kind} ${layout.name}`;
    case 'pointer':
      return layout.name ?? 'void *';
    case 'int':
    case 'enum':
    case 'float':
    case 'opaque':
      return layout.name ?? `${layout.kind}${layout.size * 8}`;
  }
}
