/**
 * Helpers to narrow untrusted JSON: a `Fields` collector gathers every bad field with its path
 * (`layers[2].digest: not a digest`), so one error can list them all instead of stopping at the first.
 */

/** `JsonObject` is a parsed JSON object whose fields are not yet checked. */
export type JsonObject = Record<string, unknown>;

/** `isObject` tells a plain JSON object from arrays, null and scalars. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `Fields` collects problems, each as `path: problem`. */
export class Fields {
  readonly problems: string[] = [];

  add(path: string, problem: string): void {
    this.problems.push(`${path}: ${problem}`);
  }

  /** `string` returns `o[key]` if it is a string, recording a problem otherwise (or if required and absent). */
  string(o: JsonObject, key: string, path: string, required: boolean): string | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.add(join(path, key), 'missing');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.add(join(path, key), 'not a string');
      return undefined;
    }
    return v;
  }

  /** `stringMap` checks an optional string→string map (annotations). */
  stringMap(o: JsonObject, key: string, path: string): Record<string, string> | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (!isObject(v)) {
      this.add(join(path, key), 'not an object');
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') this.add(`${join(path, key)}[${JSON.stringify(k)}]`, 'not a string');
      else out[k] = val;
    }
    return out;
  }
}

/** `join` builds a field path: `join('layers[2]', 'digest')` is `layers[2].digest`. */
export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** `decodeJson` parses UTF-8 JSON bytes, returning `undefined` instead of throwing. */
export function decodeJson(bytes: Uint8Array): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
  } catch {
    return undefined;
  }
}

/** `notObjectReason` says why a `decodeJson` result that failed `isObject` did: bad JSON, or JSON of another kind. */
export function notObjectReason(doc: { value: unknown } | undefined): string {
  return doc === undefined ? 'not valid JSON' : 'not a JSON object';
}

/**
 * `canonicalJson` serialises a JSON value deterministically: object keys sorted by code unit,
 * no whitespace, `undefined` fields dropped. The same value always gives the same bytes, hence the same digest.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => (value as JsonObject)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as JsonObject)[k])}`).join(',')}}`;
}

/** `T` with every field that may be `undefined` made optional and never `undefined`: what `compact` returns. */
export type Compact<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/**
 * `compact` drops `undefined` fields, so optional fields are absent rather than present and empty:
 * parsed values then compare and serialise like the input.
 */
export function compact<T extends object>(o: T): Compact<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Compact<T>;
}
