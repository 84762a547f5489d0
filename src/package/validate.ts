/**
 * `validateMetadata` narrows an untrusted config blob to `PackageMetadata`, listing every bad
 * field. It and registry-spec/schemas/package-metadata.schema.json say the same thing; the
 * tests hold them to it.
 */
import { isSemver } from './version.js';
import { digestProblem } from '../core/digest.js';
import { EbpmError } from '../core/errors.js';
import type { TypeLayout } from '../bpf/layout.js';
import { SAMPLE_KINDS } from './doc-comments.js';
import { compact } from '../core/json.js';
import { Checks } from './fields.js';
import {
  KERNEL_RELEASE,
  PARAMETER_KINDS,
  type BpfObjectMeta,
  type KernelBtfMeta,
  type DefaultTarget,
  type MapMeta,
  type PackageMetadata,
  type ParameterMeta,
  type ProgramMeta,
} from './metadata.js';
import { PACKAGE_NAME } from './source-manifest.js';

const U32 = 0xffffffff;
const IDENT = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const TITLE = /^[^/\0]+$/;
const SAFE_LAYOUT_DEPTH = 64;

export function validateMetadata(v: unknown): PackageMetadata {
  const f = new Checks();
  const o = f.object(v, '(root)') ?? {};
  f.known(
    o,
    [
      'schemaVersion',
      'name',
      'version',
      'description',
      'license',
      'keywords',
      'authors',
      'homepage',
      'repository',
      'architecture',
      'objects',
      'wasm',
      'btf',
      'requirements',
    ],
    '',
  );
  if (f.required(o, 'schemaVersion', '') !== undefined && o.schemaVersion !== 1) f.add('schemaVersion', 'not 1');
  const name = f.text(f.required(o, 'name', ''), 'name', { pattern: PACKAGE_NAME, max: 128, why: 'not a package name' });
  const version = f.text(f.required(o, 'version', ''), 'version');
  if (version !== undefined && !isSemver(version)) f.add('version', 'not a semantic version');
  const objects = f.array(f.required(o, 'objects', ''), 'objects', (x, p) => object(f, x, p)) ?? [];
  if (Array.isArray(o.objects) && o.objects.length === 0) f.add('objects', 'empty');
  const names = objects.map((x) => x.name);
  for (const [i, n] of names.entries()) if (names.indexOf(n) !== i) f.add(`objects[${i}].name`, `duplicate ${n}`);
  const flags = objects.flatMap((x) => x.parameters.map((p) => p.flag.long));
  for (const [i, fl] of flags.entries()) if (flags.indexOf(fl) !== i) f.add('objects', `flag --${fl} declared twice`);
  const meta: PackageMetadata = compact({
    schemaVersion: 1 as const,
    name: name ?? '',
    version: version ?? '',
    description: f.text(o.description, 'description'),
    license: f.text(o.license, 'license'),
    keywords: f.strings(f.required(o, 'keywords', ''), 'keywords') ?? [],
    authors: f.strings(f.required(o, 'authors', ''), 'authors') ?? [],
    homepage: f.text(o.homepage, 'homepage'),
    repository: f.text(o.repository, 'repository'),
    architecture: f.text(f.required(o, 'architecture', ''), 'architecture', { pattern: /^[a-z0-9_]+$/, why: 'not an architecture name' }) ?? '',
    objects,
    wasm: o.wasm === undefined ? undefined : wasm(f, o.wasm, 'wasm'),
    btf: o.btf === undefined ? undefined : kernelBtf(f, o.btf),
    requirements: requirements(f, f.required(o, 'requirements', ''), 'requirements'),
  });
  if (f.problems.length) {
    throw new EbpmError(
      'METADATA_INVALID',
      `package metadata: ${f.problems.slice(0, 20).join('; ')}${f.problems.length > 20 ? `; and ${f.problems.length - 20} more` : ''}`,
      {
        hint: 'the package config is not ebpm package format v1; rebuild the package with ebpm build',
        data: { problems: f.problems },
      },
    );
  }
  return meta;
}

function digestField(f: Checks, o: Record<string, unknown>, path: string): string {
  const d = f.required(o, 'digest', path);
  const problem = d === undefined ? undefined : digestProblem(d);
  if (problem) f.add(`${path}.digest`, problem);
  return typeof d === 'string' ? d : '';
}

function object(f: Checks, v: unknown, path: string): BpfObjectMeta | undefined {
  const o = f.object(v, path);
  if (!o) return undefined;
  f.known(o, ['name', 'digest', 'size', 'layer', 'embedded', 'license', 'programs', 'maps', 'parameters', 'exports'], path);
  const layer = f.boolean(f.required(o, 'layer', path), `${path}.layer`) ?? false;
  const embedded = f.boolean(f.required(o, 'embedded', path), `${path}.embedded`) ?? false;
  if (o.layer === false && o.embedded === false) f.add(path, 'neither a layer nor embedded');
  const list = <T>(key: string, item: (x: unknown, p: string) => T | undefined) => f.array(f.required(o, key, path), `${path}.${key}`, item) ?? [];
  return compact({
    name: f.text(f.required(o, 'name', path), `${path}.name`, { pattern: TITLE, why: 'not a file name' }) ?? '',
    digest: digestField(f, o, path),
    size: f.integer(f.required(o, 'size', path), `${path}.size`) ?? 0,
    layer,
    embedded,
    license: f.text(o.license, `${path}.license`),
    programs: list('programs', (x, p) => program(f, x, p)),
    maps: list('maps', (x, p) => map(f, x, p)),
    parameters: list('parameters', (x, p) => parameter(f, x, p)),
    exports: list('exports', (x, p) => {
      const e = f.object(x, p);
      if (!e) return undefined;
      f.known(e, ['map', 'type', 'inferredBy', 'programs', 'origins'], p);
      return compact({
        map: f.text(f.required(e, 'map', p), `${p}.map`, { pattern: IDENT, why: 'not an identifier' }) ?? '',
        type: layout(f, f.required(e, 'type', p), `${p}.type`, 0),
        inferredBy: f.oneOf(e.inferredBy, `${p}.inferredBy`, ['name', 'instructions'] as const),
        programs: f.strings(e.programs, `${p}.programs`, { pattern: IDENT, why: 'not an identifier' }),
        origins: f.strings(e.origins, `${p}.origins`, { max: 200 }),
      });
    }),
  });
}

function program(f: Checks, v: unknown, path: string): ProgramMeta | undefined {
  const o = f.object(v, path);
  if (!o) return undefined;
  f.known(o, ['name', 'section', 'type', 'attach', 'defaultTarget'], path);
  return compact({
    name: f.text(f.required(o, 'name', path), `${path}.name`, { pattern: IDENT, why: 'not an identifier' }) ?? '',
    section: f.text(f.required(o, 'section', path), `${path}.section`, { max: 256 }) ?? '',
    type: f.text(f.required(o, 'type', path), `${path}.type`, { pattern: /^[a-z0-9_]+$/, why: 'not a program type name' }) ?? '',
    attach: f.text(o.attach, `${path}.attach`, { max: 256 }),
    defaultTarget: o.defaultTarget === undefined ? undefined : defaultTarget(f, o.defaultTarget, `${path}.defaultTarget`),
  });
}

function defaultTarget(f: Checks, v: unknown, path: string): DefaultTarget | undefined {
  const o = f.object(v, path);
  if (!o) return undefined;
  f.known(o, ['ifindex', 'direction', 'priority'], path);
  return compact({
    ifindex: f.integer(f.required(o, 'ifindex', path), `${path}.ifindex`, 1, 0x7fffffff) ?? 1,
    direction: f.oneOf(o.direction, `${path}.direction`, ['ingress', 'egress'] as const),
    priority: f.integer(o.priority, `${path}.priority`, 0, 0xffff),
  });
}

function map(f: Checks, v: unknown, path: string): MapMeta | undefined {
  const o = f.object(v, path);
  if (!o) return undefined;
  f.known(o, ['name', 'type', 'keySize', 'valueSize', 'maxEntries', 'flags', 'description', 'key', 'value', 'sample'], path);
  const u32 = (k: string) => f.integer(f.required(o, k, path), `${path}.${k}`, 0, U32) ?? 0;
  let sample: MapMeta['sample'];
  if (o.sample !== undefined) {
    const s = f.object(o.sample, `${path}.sample`);
    if (s) {
      f.known(s, ['interval', 'type', 'unit', 'clearMap'], `${path}.sample`);
      sample = compact({
        interval: f.integer(f.required(s, 'interval', `${path}.sample`), `${path}.sample.interval`, 1, 86_400_000) ?? 0,
        type: f.oneOf(f.required(s, 'type', `${path}.sample`), `${path}.sample.type`, SAMPLE_KINDS) ?? 'default_kv',
        unit: f.text(s.unit, `${path}.sample.unit`),
        clearMap: f.boolean(f.required(s, 'clearMap', `${path}.sample`), `${path}.sample.clearMap`) ?? false,
      });
    }
  }
  return compact({
    name: f.text(f.required(o, 'name', path), `${path}.name`, { pattern: IDENT, why: 'not an identifier' }) ?? '',
    type: f.text(f.required(o, 'type', path), `${path}.type`, { pattern: /^[a-z0-9_#]+$/, why: 'not a map type name' }) ?? '',
    keySize: u32('keySize'),
    valueSize: u32('valueSize'),
    maxEntries: u32('maxEntries'),
    flags: u32('flags'),
    description: f.text(o.description, `${path}.description`),
    key: o.key === undefined ? undefined : layout(f, o.key, `${path}.key`, 0),
    value: o.value === undefined ? undefined : layout(f, o.value, `${path}.value`, 0),
    sample,
  });
}

function parameter(f: Checks, v: unknown, path: string): ParameterMeta | undefined {
  const o = f.object(v, path);
  if (!o) return undefined;
  f.known(o, ['name', 'section', 'offset', 'size', 'type', 'kind', 'default', 'description', 'flag'], path);
  const d = f.required(o, 'default', path);
  if (d !== undefined && typeof d !== 'number' && typeof d !== 'string' && typeof d !== 'boolean') f.add(`${path}.default`, 'not a number, string or boolean');
  const flag = f.object(f.required(o, 'flag', path), `${path}.flag`) ?? {};
  f.known(flag, ['long', 'short'], `${path}.flag`);
  return compact({
    name: f.text(f.required(o, 'name', path), `${path}.name`, { pattern: IDENT, why: 'not an identifier' }) ?? '',
    section: f.text(f.required(o, 'section', path), `${path}.section`, { pattern: /^\.(rodata|data|bss)(\..+)?$/, why: 'not .rodata, .data or .bss' }) ?? '',
    offset: f.integer(f.required(o, 'offset', path), `${path}.offset`, 0, U32) ?? 0,
    size: f.integer(f.required(o, 'size', path), `${path}.size`, 0, U32) ?? 0,
    type: f.text(f.required(o, 'type', path), `${path}.type`, { max: 256 }) ?? '',
    kind: f.oneOf(f.required(o, 'kind', path), `${path}.kind`, PARAMETER_KINDS) ?? 'bytes',
    default: (d ?? 0) as ParameterMeta['default'],
    description: f.text(o.description, `${path}.description`),
    flag: compact({
      long: f.text(f.required(flag, 'long', `${path}.flag`), `${path}.flag.long`, { pattern: /^[a-z0-9][a-z0-9-]*$/, why: 'not a long flag name' }) ?? '',
      short: f.text(flag.short, `${path}.flag.short`, { pattern: /^[A-Za-z0-9]$/, why: 'not one letter or digit' }),
    }),
  });
}

function wasm(f: Checks, v: unknown, path: string): PackageMetadata['wasm'] {
  const o = f.object(v, path) ?? {};
  f.known(o, ['name', 'digest', 'size', 'imports', 'exports'], path);
  return {
    name: f.text(f.required(o, 'name', path), `${path}.name`, { pattern: TITLE, why: 'not a file name' }) ?? '',
    digest: digestField(f, o, path),
    size: f.integer(f.required(o, 'size', path), `${path}.size`) ?? 0,
    imports:
      f.array(f.required(o, 'imports', path), `${path}.imports`, (x, p) => {
        const i = f.object(x, p);
        if (!i) return undefined;
        f.known(i, ['module', 'name', 'kind'], p);
        return {
          module: f.text(f.required(i, 'module', p), `${p}.module`) ?? '',
          name: f.text(f.required(i, 'name', p), `${p}.name`) ?? '',
          kind: f.oneOf(f.required(i, 'kind', p), `${p}.kind`, ['function', 'table', 'memory', 'global', 'tag'] as const) ?? 'function',
        };
      }) ?? [],
    exports: f.strings(f.required(o, 'exports', path), `${path}.exports`) ?? [],
  };
}

function kernelBtf(f: Checks, v: unknown): KernelBtfMeta[] {
  const list =
    f.array(v, 'btf', (x, p) => {
      const o = f.object(x, p);
      if (!o) return undefined;
      f.known(o, ['release', 'digest', 'size'], p);
      return {
        release: f.text(f.required(o, 'release', p), `${p}.release`, { pattern: KERNEL_RELEASE, why: 'not a kernel release' }) ?? '',
        digest: digestField(f, o, p),
        size: f.integer(f.required(o, 'size', p), `${p}.size`) ?? 0,
      };
    }) ?? [];
  const releases = list.map((b) => b.release);
  for (const [i, r] of releases.entries()) if (releases.indexOf(r) !== i) f.add(`btf[${i}].release`, `duplicate ${r}`);
  return list;
}

function requirements(f: Checks, v: unknown, path: string): PackageMetadata['requirements'] {
  const o = f.object(v, path) ?? {};
  f.known(o, ['programTypes', 'mapTypes', 'helpers', 'kernelTypes', 'kernelBtf'], path);
  const list = (k: string) => f.strings(f.required(o, k, path), `${path}.${k}`) ?? [];
  return {
    programTypes: list('programTypes'),
    mapTypes: list('mapTypes'),
    helpers: list('helpers'),
    kernelTypes: list('kernelTypes'),
    kernelBtf: f.boolean(f.required(o, 'kernelBtf', path), `${path}.kernelBtf`) ?? false,
  };
}

const LAYOUT_KINDS = ['int', 'float', 'enum', 'string', 'array', 'struct', 'union', 'pointer', 'opaque'] as const;

/** `layout` checks a `TypeLayout` (src/bpf/layout.ts) recursively, bounded in depth. */
function layout(f: Checks, v: unknown, path: string, depth: number): TypeLayout {
  const opaque: TypeLayout = { kind: 'opaque', size: 0 };
  const o = f.object(v, path);
  if (!o) return opaque;
  if (depth > SAFE_LAYOUT_DEPTH) {
    f.add(path, `nested deeper than ${SAFE_LAYOUT_DEPTH}`);
    return opaque;
  }
  const kind = f.oneOf(f.required(o, 'kind', path), `${path}.kind`, LAYOUT_KINDS);
  const size = f.integer(f.required(o, 'size', path), `${path}.size`) ?? 0;
  const name = f.text(o.name, `${path}.name`);
  const base = { size, ...(name !== undefined ? { name } : {}) };
  switch (kind) {
    case undefined:
      return opaque;
    case 'int': {
      f.known(o, ['kind', 'size', 'name', 'signed', 'bool'], path);
      const bool = o.bool === undefined ? undefined : o.bool === true ? true : void f.add(`${path}.bool`, 'not true');
      return { kind, ...base, signed: f.boolean(f.required(o, 'signed', path), `${path}.signed`) ?? false, ...(bool ? { bool } : {}) };
    }
    case 'enum': {
      f.known(o, ['kind', 'size', 'name', 'signed', 'values'], path);
      const values =
        f.array(f.required(o, 'values', path), `${path}.values`, (x, p) => {
          const e = f.object(x, p);
          if (!e) return undefined;
          f.known(e, ['name', 'value'], p);
          const value = f.required(e, 'value', p);
          if (value !== undefined && typeof value !== 'number' && !(typeof value === 'string' && /^-?\d+$/.test(value))) f.add(`${p}.value`, 'not an integer');
          return { name: f.text(f.required(e, 'name', p), `${p}.name`) ?? '', value: value as number | string };
        }) ?? [];
      return { kind, ...base, signed: f.boolean(f.required(o, 'signed', path), `${path}.signed`) ?? false, values };
    }
    case 'array': {
      f.known(o, ['kind', 'size', 'name', 'count', 'element'], path);
      const count = f.integer(f.required(o, 'count', path), `${path}.count`) ?? 0;
      return { kind, ...base, count, element: layout(f, f.required(o, 'element', path), `${path}.element`, depth + 1) };
    }
    case 'struct':
    case 'union': {
      f.known(o, ['kind', 'size', 'name', 'fields'], path);
      const fields =
        f.array(f.required(o, 'fields', path), `${path}.fields`, (x, p) => {
          const m = f.object(x, p);
          if (!m) return undefined;
          f.known(m, ['name', 'offset', 'bitOffset', 'bitSize', 'layout'], p);
          return compact({
            name: f.text(f.required(m, 'name', p), `${p}.name`) ?? '',
            offset: f.integer(f.required(m, 'offset', p), `${p}.offset`) ?? 0,
            bitOffset: f.integer(m.bitOffset, `${p}.bitOffset`, 0, 7),
            bitSize: f.integer(m.bitSize, `${p}.bitSize`, 1, 128),
            layout: layout(f, f.required(m, 'layout', p), `${p}.layout`, depth + 1),
          });
        }) ?? [];
      return { kind, ...base, fields };
    }
    case 'float':
    case 'string':
    case 'pointer':
    case 'opaque':
      f.known(o, ['kind', 'size', 'name'], path);
      return { kind, ...base };
  }
}
