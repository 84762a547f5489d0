/**
 * The flags of `ebpm run` that only packages with a Wasm program take: what the guest may see
 * (`--env`, `--dir`), how much memory it may use (`--max-memory`) and what it may load and
 * attach (`--allow-attach`, `--allow-undeclared-bpf`). They are taken out of the command line
 * before the package is resolved, so a bad value is a `USAGE` error before anything is built or
 * loaded. Pure: no file is touched.
 */
import { isAbsolute, resolve } from 'node:path';
import { EbpmError } from '../../core/errors.js';
import { DEFAULT_MAX_MEMORY, WASM_PAGE } from '../../runtime/memory-defaults.js';
import type { Flags } from '../command.js';

/** What the guest gets, from the flags. */
export interface WasmFlags {
  /** `--env KEY=VALUE`: the guest's whole environment. */
  readonly env: Readonly<Record<string, string>>;
  /** `--dir host[:guest]`, host made absolute; guest defaults to that path; `allowSystem` from `--allow-system-dir`. */
  readonly preopens: readonly { readonly host: string; readonly guest: string; readonly allowSystem: boolean }[];
  /** `--max-memory`, bytes; undefined: the runtime's default (DEFAULT_MAX_MEMORY_TEXT). */
  readonly maxMemoryBytes?: number;
  readonly allowAttach: readonly string[];
  readonly allowUndeclared: boolean;
  /** The flags given, as `--name`, to refuse them for a package without a Wasm program. */
  readonly given: readonly string[];
}

/** The runtime's default `--max-memory`, as help shows it. */
export const DEFAULT_MAX_MEMORY_TEXT = `${DEFAULT_MAX_MEMORY / 1024 ** 2}M`;

/** The Wasm flags with their help; `takeWasmFlags` reads them. */
export const WASM_FLAGS = {
  env: {
    type: 'string',
    multiple: true,
    valueName: 'KEY=VALUE',
    description: "set a variable of the program's environment (it has none otherwise)",
  },
  dir: {
    type: 'string',
    multiple: true,
    valueName: 'host[:guest]',
    description: 'show it a host directory at path guest, default the host path (it sees no files otherwise)',
  },
  'max-memory': {
    type: 'string',
    valueName: '<size>',
    description: `cap its memory: bytes, or K, M, G (powers of 1024), 64K to 4G (default ${DEFAULT_MAX_MEMORY_TEXT})`,
  },
  'allow-attach': { type: 'string', multiple: true, valueName: '<target>', description: 'let it attach to this cgroup path or network interface' },
  'allow-undeclared-bpf': { type: 'boolean', description: 'let it load BPF objects the package does not declare' },
  'allow-system-dir': {
    type: 'boolean',
    description: "let --dir show it /, or a directory under /proc, /sys or /dev (the host's files, processes, kernel settings, devices)",
  },
} as const satisfies Flags;

const VALUED = Object.keys(WASM_FLAGS).filter((f) => WASM_FLAGS[f as keyof typeof WASM_FLAGS].type === 'string');
const REPEATABLE = new Set(Object.entries(WASM_FLAGS).flatMap(([f, o]) => ('multiple' in o ? [f] : [])));
const SWITCHES = Object.keys(WASM_FLAGS).filter((f) => WASM_FLAGS[f as keyof typeof WASM_FLAGS].type === 'boolean');

/** Their names, for the package flag generator to keep clear of. */
export const WASM_FLAG_NAMES: readonly string[] = Object.keys(WASM_FLAGS).map((f) => `--${f}`);

const UNITS: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** The wasm32 address space. */
const MAX_MEMORY = 4 * 1024 ** 3;

/**
 * `parseSize` reads `--max-memory`: a whole number of bytes, optionally with K, M or G (powers
 * of 1024, any case, an optional trailing B or iB), from 64K (one Wasm page) to 4G (the wasm32
 * address space). Undefined for anything else.
 */
export function parseSize(text: string): number | undefined {
  const m = /^(\d{1,10})(?:([kmg])(?:i?b)?|b)?$/i.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]) * (m[2] === undefined ? 1 : UNITS[m[2].toLowerCase()]!);
  return n >= WASM_PAGE && n <= MAX_MEMORY ? n : undefined;
}

/**
 * `takeWasmFlags` removes the Wasm flags from `args` (up to `--`; the guest's own arguments
 * after it are left alone) and validates their values; relative `--dir` paths are resolved
 * against `cwd`.
 */
export function takeWasmFlags(args: readonly string[], cwd: string, usage: string): { args: string[]; flags: WasmFlags } {
  const bad = (message: string, hint = `usage: ${usage}`) => new EbpmError('USAGE', `run: ${message}`, { hint });
  const rest: string[] = [];
  const values = new Map<string, string[]>();
  const switches = new Set<string>();
  const given: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i));
      break;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq < 0 ? undefined : eq) : '';
    if (SWITCHES.includes(name)) {
      if (eq >= 0) throw bad(`--${name} takes no value`);
      if (switches.has(name)) throw bad(`--${name} given twice`);
      switches.add(name);
      given.push(`--${name}`);
      continue;
    }
    if (!VALUED.includes(name)) {
      rest.push(arg);
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < args.length && args[i + 1] !== '--') value = args[++i]!;
    else throw bad(`--${name} needs a value`);
    const list = values.get(name) ?? [];
    if (list.length > 0 && !REPEATABLE.has(name)) throw bad(`--${name} given twice`);
    values.set(name, [...list, value]);
    if (!given.includes(`--${name}`)) given.push(`--${name}`);
  }

  const env: Record<string, string> = {};
  for (const v of values.get('env') ?? []) {
    const at = v.indexOf('=');
    const key = at < 0 ? '' : v.slice(0, at);
    // WASI passes the environment as NUL-terminated KEY=VALUE strings: a NUL would forge another.
    if (key === '' || v.includes('\0')) throw bad(`--env ${JSON.stringify(v)}: not KEY=VALUE`, 'pass --env NAME=value, once per variable');
    if (key in env) throw bad(`--env ${key} given twice`);
    env[key] = v.slice(at + 1);
  }
  const preopens = (values.get('dir') ?? []).map((v) => {
    const at = v.indexOf(':');
    const host = at < 0 ? v : v.slice(0, at);
    const guest = at < 0 ? undefined : v.slice(at + 1);
    if (host === '' || v.includes('\0') || (guest !== undefined && !isAbsolute(guest))) {
      throw bad(
        `--dir ${JSON.stringify(v)}: not host[:guest] with an absolute guest path`,
        'pass --dir <host directory>[:<absolute path the program opens it by>]',
      );
    }
    const abs = resolve(cwd, host);
    return { host: abs, guest: guest ?? abs, allowSystem: switches.has('allow-system-dir') };
  });
  const guests = preopens.map((p) => p.guest);
  const twice = guests.find((g, i) => guests.indexOf(g) !== i);
  if (twice !== undefined) throw bad(`--dir: ${twice} given twice`);
  const memory = values.get('max-memory')?.[0];
  const maxMemoryBytes = memory === undefined ? undefined : parseSize(memory);
  if (memory !== undefined && maxMemoryBytes === undefined) {
    throw bad(
      `--max-memory ${JSON.stringify(memory)}: not a size from 64K to 4G`,
      `pass bytes or a size with K, M or G, e.g. --max-memory 64M (default ${DEFAULT_MAX_MEMORY_TEXT})`,
    );
  }
  if (switches.has('allow-system-dir') && preopens.length === 0)
    throw bad('--allow-system-dir applies to --dir, and none is given', 'pass --dir <directory> too, or leave it out');
  const allowAttach = values.get('allow-attach') ?? [];
  if (allowAttach.some((t) => t === '' || t.includes('\0'))) throw bad('--allow-attach: empty target', 'pass a cgroup path or an interface name');
  return {
    args: rest,
    flags: {
      env,
      preopens,
      ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes }),
      allowAttach,
      allowUndeclared: switches.has('allow-undeclared-bpf'),
      given,
    },
  };
}
