// An instance file of `ebpm agent`: one tool the machine should always run. Pure: text in, a
// validated spec (or one error listing every bad field) out, and the `ebpm run` line it means.
import { EbpmError } from '../../core/errors.js';

/** Where an instance's output goes: the agent's stdout (one JSON line per line, with the instance's name) or a size-rotated file. */
export type InstanceOutput = { readonly kind: 'stdout' } | { readonly kind: 'file'; readonly path: string; readonly maxBytes: number; readonly keep: number };

export type ParamValue = string | number | boolean;

/** `InstanceSpec` is one validated instance file. */
export interface InstanceSpec {
  readonly name: string;
  /** A package reference as `ebpm run` takes it: a registry reference (range allowed) or a local OCI layout path. */
  readonly ref: string;
  /** The package's parameters, given to `ebpm run` as `--<name> <value>` flags. */
  readonly params: Readonly<Record<string, ParamValue | readonly ParamValue[]>>;
  /** Arguments after `--` (a Wasm program's). */
  readonly args: readonly string[];
  readonly follow: boolean;
  readonly output: InstanceOutput;
  /** Seconds; the run ends by itself after that and is not restarted. */
  readonly duration: number | undefined;
}

const FIELDS = new Set(['name', 'ref', 'params', 'args', 'follow', 'output', 'duration']);
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const PARAM = /^[a-z0-9][a-z0-9-]*$/i;
/** Defaults of a file output: 10 MiB per file, 3 rotated files besides the current one. */
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const DEFAULT_KEEP = 3;

/**
 * `parseInstance` validates the JSON text of instance file `file`. Every bad field is listed in
 * one `INSTANCE_INVALID` error, so a user fixes the file in one pass.
 */
export function parseInstance(file: string, text: string): InstanceSpec {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid(file, [`not JSON: ${(e as Error).message}`]);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(file, ['expected a JSON object']);
  const o = doc as Record<string, unknown>;
  const bad: string[] = [];
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) bad.push(`${k}: unknown field`);
  if (typeof o.name !== 'string' || !NAME.test(o.name)) bad.push('name: expected lower-case letters, digits, ".", "_" or "-" (at most 63)');
  if (typeof o.ref !== 'string' || o.ref === '' || o.ref.startsWith('-')) bad.push('ref: expected a package reference or an OCI layout path');
  const params = parseParams(o.params, bad);
  if (o.args !== undefined && !(Array.isArray(o.args) && o.args.every((a) => typeof a === 'string'))) bad.push('args: expected an array of strings');
  if (o.follow !== undefined && typeof o.follow !== 'boolean') bad.push('follow: expected true or false');
  const output = parseOutput(o.output, bad);
  if (o.duration !== undefined && !(typeof o.duration === 'number' && Number.isFinite(o.duration) && o.duration > 0)) {
    bad.push('duration: expected a positive number of seconds');
  }
  if (bad.length > 0) throw invalid(file, bad);
  return {
    name: o.name as string,
    ref: o.ref as string,
    params,
    args: (o.args as string[] | undefined) ?? [],
    follow: o.follow === true,
    output: output!,
    duration: o.duration as number | undefined,
  };
}

function parseParams(v: unknown, bad: string[]): InstanceSpec['params'] {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    bad.push('params: expected an object of parameter names and values');
    return {};
  }
  const scalar = (x: unknown) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'boolean';
  for (const [k, x] of Object.entries(v)) {
    if (!PARAM.test(k)) bad.push(`params.${k}: not a parameter name`);
    else if (!(scalar(x) || (Array.isArray(x) && x.every(scalar)))) bad.push(`params.${k}: expected a string, number, boolean or an array of them`);
  }
  return v as InstanceSpec['params'];
}

function parseOutput(v: unknown, bad: string[]): InstanceOutput | undefined {
  if (v === undefined || v === 'stdout') return { kind: 'stdout' };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    bad.push('output: expected "stdout" or { "file": path, "maxBytes": n, "keep": k }');
    return undefined;
  }
  const o = v as Record<string, unknown>;
  const before = bad.length;
  for (const k of Object.keys(o)) if (!['file', 'maxBytes', 'keep'].includes(k)) bad.push(`output.${k}: unknown field`);
  if (typeof o.file !== 'string' || !o.file.startsWith('/')) bad.push('output.file: expected an absolute path');
  const whole = (x: unknown, min: number) => x === undefined || (Number.isSafeInteger(x) && (x as number) >= min);
  if (!whole(o.maxBytes, 1)) bad.push('output.maxBytes: expected a positive whole number of bytes');
  if (!whole(o.keep, 0)) bad.push('output.keep: expected a whole number of rotated files (0 or more)');
  if (bad.length > before) return undefined;
  return {
    kind: 'file',
    path: o.file as string,
    maxBytes: (o.maxBytes as number | undefined) ?? DEFAULT_MAX_BYTES,
    keep: (o.keep as number | undefined) ?? DEFAULT_KEEP,
  };
}

function invalid(file: string, problems: readonly string[]): EbpmError {
  return new EbpmError('INSTANCE_INVALID', `instance ${file}: ${problems.join('; ')}`, {
    hint: 'fix the file; the agent reads it again when it changes (or on SIGHUP)',
    data: { problems },
  });
}

/**
 * `runArgs` is the `ebpm run` command line of an instance: JSON lines on stdout (what the agent
 * counts and forwards), the parameters as flags, `--follow` when asked, the guest's arguments
 * after `--`.
 */
export function runArgs(spec: InstanceSpec): string[] {
  const out = ['run', spec.ref, '--json'];
  for (const [k, v] of Object.entries(spec.params)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      // A false switch is the flag left out: run's switches are off unless given.
      if (x === true) out.push(`--${k}`);
      else if (x !== false) out.push(`--${k}`, String(x));
    }
  }
  if (spec.follow) out.push('--follow');
  if (spec.duration !== undefined) out.push('--duration', String(spec.duration));
  if (spec.args.length > 0) out.push('--', ...spec.args);
  return out;
}
