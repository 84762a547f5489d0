/**
 * A tiny JSON Schema (2020-12) checker for the keywords registry-spec/schemas use: type, const,
 * enum, pattern, min/maxLength, minimum/maximum, properties, required, additionalProperties
 * false, items, minItems, oneOf, allOf and local `$ref`s. It returns the paths that fail.
 */
type Schema = Record<string, unknown>;

export function check(schema: Schema, value: unknown, root: Schema = schema, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((s, k) => (s as Schema)[k], root);
    return check(target as Schema, value, root, path);
  }
  const errs: string[] = [];
  const fail = (why: string) => errs.push(`${path}: ${why}`);
  const types = schema.type === undefined ? undefined : ([] as string[]).concat(schema.type as string);
  if (types && !types.some((t) => is(t, value))) return [`${path}: not ${types.join('|')}`];
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) fail('const');
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) fail('enum');
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) fail(`pattern ${schema.pattern}`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) fail('maxLength');
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail('minimum');
    if (typeof schema.maximum === 'number' && value > schema.maximum) fail('maximum');
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) fail('minItems');
    if (schema.items) for (const [i, v] of value.entries()) errs.push(...check(schema.items as Schema, v, root, `${path}[${i}]`));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in o)) fail(`missing ${r}`);
    for (const [k, v] of Object.entries(o)) {
      if (props[k]) errs.push(...check(props[k], v, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) fail(`unknown ${k}`);
    }
  }
  if (Array.isArray(schema.allOf)) for (const s of schema.allOf) errs.push(...check(s as Schema, value, root, path));
  if (Array.isArray(schema.oneOf)) {
    const ok = schema.oneOf.filter((s) => check(s as Schema, value, root, path).length === 0).length;
    if (ok !== 1) fail(`matches ${ok} of oneOf`);
  }
  return errs;
}

function is(t: string, v: unknown): boolean {
  switch (t) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    default:
      return false;
  }
}
