import { Fields, isObject, join } from '../core/json.js';

export { join };

interface StringRules {
  readonly pattern?: RegExp;
  readonly max?: number;
  /** What the pattern means, said in the problem instead of the regular expression. */
  readonly why?: string;
}

/**
 * `Checks` extends core's `Fields` collector with the value checks package validators need:
 * every bad field is recorded with its path (`objects[0].programs[1].section: not a string`)
 * and the caller throws once with the whole list.
 */
export class Checks extends Fields {
  object(v: unknown, path: string): Record<string, unknown> | undefined {
    if (isObject(v)) return v;
    this.add(path, 'not an object');
    return undefined;
  }

  /** Reports keys of `o` that are not in `known`. */
  known(o: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const k of Object.keys(o)) if (!known.includes(k)) this.add(join(path, k), 'unknown field');
  }

  /** A required field: records `missing` when absent. */
  required(o: Record<string, unknown>, key: string, path: string): unknown {
    if (o[key] === undefined) this.add(join(path, key), 'missing');
    return o[key];
  }

  text(v: unknown, path: string, rules: StringRules = {}): string | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return void this.add(path, 'not a string');
    if (rules.max !== undefined && v.length > rules.max) return void this.add(path, `longer than ${rules.max} characters`);
    if (rules.pattern && !rules.pattern.test(v)) return void this.add(path, rules.why ?? `does not match ${rules.pattern}`);
    return v;
  }

  integer(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) return void this.add(path, 'not an integer');
    if (v < min || v > max) return void this.add(path, `out of range [${min}, ${max}]`);
    return v;
  }

  boolean(v: unknown, path: string): boolean | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') return void this.add(path, 'not true or false');
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (v === undefined) return undefined;
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    return void this.add(path, `not one of ${values.join(', ')}`);
  }

  array<T>(v: unknown, path: string, item: (x: unknown, path: string) => T | undefined): T[] | undefined {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return void this.add(path, 'not an array');
    const out: T[] = [];
    v.forEach((x, i) => {
      const r = item(x, `${path}[${i}]`);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  strings(v: unknown, path: string, rules: StringRules = {}): string[] | undefined {
    return this.array(v, path, (x, p) => (x === undefined ? void this.add(p, 'not a string') : this.text(x, p, rules)));
  }
}
