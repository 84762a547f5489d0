/**
 * Doc comments in BPF sources, eunomia-style (ecc's `document_parser.rs`): a run of `///`
 * lines directly above a global variable or a map declaration documents it.
 *
 *     /// Trace only this process ID (0: every process)
 *     /// @cmdarg {"short": "p", "long": "pid"}
 *     const volatile pid_t targ_pid = 0;
 *
 * Plain lines (and `@description text`) become the description; `@cmdarg {json}` sets the flag
 * names of a parameter; `@sample {json}` makes a map a sample map. Above a program (a function
 * definition), eunomia's attach options are read: `@tchook {"ifindex": n, "attach_point":
 * "BPF_TC_INGRESS"}` and `@tcopts {"priority": n}` for tc, `@ifindex n` for xdp (ecc's
 * `bpf-loader-rs` `meta/mod.rs`); xdp's `@flags` and `@xdpopts` only at their defaults (0, no
 * old program), anything else is reported to `warn`. Unknown tags (`@brief`, …) are reported to
 * `warn` and ignored, as ecc ignores them: a source that builds with ecc builds with ebpm.
 */
import { EbpmError } from '../core/errors.js';
import { compact } from '../core/json.js';
import { Checks } from './fields.js';

export interface CmdArg {
  readonly long?: string;
  readonly short?: string;
  readonly help?: string;
  /** The default value shown and used when the flag is absent (eunomia's `cmdarg.default`). */
  readonly default?: number | string | boolean;
}

export type SampleKind = 'log2_hist' | 'linear_hist' | 'default_kv';
export const SAMPLE_KINDS: readonly SampleKind[] = ['log2_hist', 'linear_hist', 'default_kv'];

export interface SampleSpec {
  /** Milliseconds between two reads of the map. */
  readonly interval: number;
  readonly type: SampleKind;
  /** Unit of the histogram's buckets (`usecs`), for display. */
  readonly unit?: string;
  /** Whether to clear the map after each read. */
  readonly clearMap: boolean;
}

/** eunomia's attach options of a tc or xdp program: the interface by index, as ecli takes it. */
export interface AttachDoc {
  readonly ifindex: number;
  /** tc only. */
  readonly direction?: 'ingress' | 'egress';
  /** tc only: the filter's priority. */
  readonly priority?: number;
}

export interface DocComment {
  /** The declared name (global variable, map or program). */
  readonly name: string;
  /** 1-based line of the declaration. */
  readonly line: number;
  readonly description?: string;
  readonly cmdarg?: CmdArg;
  readonly sample?: SampleSpec;
  /** From `@tchook`/`@tcopts` or `@ifindex` above a program. */
  readonly attach?: AttachDoc;
}

const TAGS = ['cmdarg', 'sample', 'description', 'tchook', 'tcopts', 'ifindex', 'flags', 'xdpopts'] as const;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/g;

function bad(file: string, line: number, problem: string): EbpmError {
  return new EbpmError('DOC_COMMENT_INVALID', `${file}:${line}: ${problem}`, {
    hint: 'doc comments take `/// text`, `/// @cmdarg {"long": …, "short": …}` and `/// @sample {"interval": ms, "type": "log2_hist"}`',
    data: { file, line },
  });
}

/**
 * `parseDocComments` returns the documented declarations of a C source, by name. `file` only
 * names the source in errors. Comments not followed by a declaration are ignored.
 */
export function parseDocComments(source: string, file: string, warn: (message: string) => void = () => undefined): Map<string, DocComment> {
  const lines = source.split('\n');
  const out = new Map<string, DocComment>();
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trimStart().startsWith('///')) continue;
    const start = i;
    const block: string[] = [];
    while (i < lines.length && lines[i]!.trimStart().startsWith('///')) block.push(lines[i++]!.trimStart().slice(3).trim());
    const decl = declaration(lines, i);
    if (!decl) continue;
    const doc = parseBlock(block, file, start + 1, warn);
    out.set(decl.name, { name: decl.name, line: i + 1, ...doc });
    i = decl.end;
  }
  return out;
}

/** The declaration starting at line `from`: its text up to the `;` that ends it at depth 0. */
function declaration(lines: string[], from: number): { name: string; end: number } | undefined {
  let text = '';
  let depth = 0;
  for (let i = from; i < lines.length && i < from + 200; i++) {
    const line = lines[i]!.replace(/\/\/.*$/, '');
    if (i === from && (line.trim() === '' || line.trimStart().startsWith('#'))) return undefined;
    for (const ch of line) {
      // A function definition's body opens after its parameter list: the program's name.
      if (ch === '{' && depth === 0) {
        const fn = /([A-Za-z_]\w*)\s*\([^()]*\)\s*$/.exec(text.replace(/\bSEC\s*\([^)]*\)/g, ''));
        if (fn) return { name: fn[1]!, end: i };
      }
      if (ch === '{' || ch === '(' || ch === '[') depth++;
      else if (ch === '}' || ch === ')' || ch === ']') depth--;
      if (ch === ';' && depth === 0) return { name: declaredName(text), end: i };
      text += ch;
    }
    text += '\n';
    // A function definition has a body and no `;` after it at depth 0: not a declaration.
    if (depth === 0 && text.trimEnd().endsWith('}') && !/^\s*struct\s*\{/.test(text)) return undefined;
  }
  return undefined;
}

/**
 * The name a C declaration declares: the initializer, `SEC(...)`, attributes and array sizes are
 * cut off first, so `struct {…} rb SEC(".maps")` gives `rb` and `const volatile char comm[16] =
 * "x"` gives `comm`.
 */
function declaredName(text: string): string {
  let t = stripBalanced(text, '{', '}');
  const eq = t.indexOf('=');
  if (eq >= 0) t = t.slice(0, eq);
  t = t
    .replace(/\bSEC\s*\([^)]*\)/g, '')
    .replace(/__attribute__\s*\(\([^)]*\)\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  const ids = t.match(IDENT) ?? [];
  return ids[ids.length - 1] ?? '';
}

function stripBalanced(s: string, open: string, close: string): string {
  let out = '';
  let depth = 0;
  for (const ch of s) {
    if (ch === open) depth++;
    else if (ch === close) depth--;
    else if (depth === 0) out += ch;
  }
  return out;
}

function parseBlock(block: string[], file: string, firstLine: number, warn: (message: string) => void): Omit<DocComment, 'name' | 'line'> {
  const description: string[] = [];
  let cmdarg: CmdArg | undefined;
  let sample: SampleSpec | undefined;
  let tchook: AttachDoc | undefined;
  let priority: number | undefined;
  let ifindex: number | undefined;
  for (let j = 0; j < block.length; j++) {
    const text = block[j]!;
    const line = firstLine + j;
    const tag = /^@([A-Za-z_]+)\b\s*(.*)$/.exec(text);
    if (!tag) {
      if (text) description.push(text);
      continue;
    }
    const [, name, rest] = tag as unknown as [string, string, string];
    if (!(TAGS as readonly string[]).includes(name)) {
      warn(`${file}:${line}: unknown doc tag @${name}: ignored`);
      continue;
    }
    if (name === 'description') {
      if (rest) description.push(rest);
      continue;
    }
    // The JSON may continue on the following `///` lines until it parses.
    let json = rest;
    let value: unknown;
    for (;;) {
      try {
        value = JSON.parse(json);
        break;
      } catch {
        const next = block[j + 1];
        if (next === undefined || next.startsWith('@')) throw bad(file, line, `@${name}: not JSON: ${rest}`);
        json += ' ' + next;
        j++;
      }
    }
    if (name === 'cmdarg') cmdarg = validateCmdArg(value, file, line);
    else if (name === 'sample') sample = validateSample(value, file, line);
    else if (name === 'tchook') tchook = validateTcHook(value, file, line);
    else if (name === 'tcopts') priority = validateTcOpts(value, file, line);
    else if (name === 'ifindex') ifindex = validateIfindex(value, file, line);
    // xdp attach flags and options: ebpm attaches with none, which is what their defaults say.
    else if (JSON.stringify(value) !== (name === 'flags' ? '0' : '{"old_prog_fd":0}')) warn(`${file}:${line}: @${name} ${rest}: not supported: ignored`);
  }
  const attach = tchook ? compact({ ...tchook, priority }) : ifindex !== undefined ? { ifindex } : undefined;
  return compact({ description: description.length ? description.join(' ') : undefined, cmdarg, sample, attach });
}

// ecli's defaults (bpf-loader-rs `TCHook`): interface 1, ingress.
function validateTcHook(v: unknown, file: string, line: number): AttachDoc {
  const f = new Checks();
  const o = f.object(v, '@tchook') ?? {};
  f.known(o, ['ifindex', 'attach_point'], '@tchook');
  const ifindex = f.integer(o.ifindex, '@tchook.ifindex', 1, 0x7fffffff) ?? 1;
  const point = f.oneOf(o.attach_point, '@tchook.attach_point', ['BPF_TC_INGRESS', 'BPF_TC_EGRESS'] as const) ?? 'BPF_TC_INGRESS';
  if (f.problems.length) throw bad(file, line, f.problems.join('; '));
  return { ifindex, direction: point === 'BPF_TC_EGRESS' ? 'egress' : 'ingress' };
}

function validateTcOpts(v: unknown, file: string, line: number): number | undefined {
  const f = new Checks();
  const o = f.object(v, '@tcopts') ?? {};
  f.known(o, ['handle', 'priority'], '@tcopts');
  f.integer(o.handle, '@tcopts.handle', 0, 0xffffffff);
  const priority = f.integer(o.priority, '@tcopts.priority', 0, 0xffff);
  if (f.problems.length) throw bad(file, line, f.problems.join('; '));
  return priority;
}

function validateIfindex(v: unknown, file: string, line: number): number {
  const f = new Checks();
  const ifindex = f.integer(v, '@ifindex', 1, 0x7fffffff);
  if (f.problems.length || ifindex === undefined) throw bad(file, line, f.problems.join('; ') || '@ifindex: required');
  return ifindex;
}

const LONG_FLAG = /^[a-z0-9][a-z0-9-]*$/;

function validateCmdArg(v: unknown, file: string, line: number): CmdArg {
  const f = new Checks();
  const o = f.object(v, '@cmdarg') ?? {};
  f.known(o, ['long', 'short', 'help', 'default'], '@cmdarg');
  const d = o.default;
  if (d !== undefined && typeof d !== 'number' && typeof d !== 'string' && typeof d !== 'boolean') f.add('@cmdarg.default', 'not a number, string or boolean');
  const out = compact({
    long: f.text(o.long, '@cmdarg.long', { pattern: LONG_FLAG, why: 'must be lower-case letters, digits and -' }),
    short: f.text(o.short, '@cmdarg.short', { pattern: /^[A-Za-z0-9]$/, why: 'must be one letter or digit' }),
    help: f.text(o.help, '@cmdarg.help'),
    default: d as CmdArg['default'],
  });
  if (f.problems.length) throw bad(file, line, f.problems.join('; '));
  return out;
}

function validateSample(v: unknown, file: string, line: number): SampleSpec {
  const f = new Checks();
  const o = f.object(v, '@sample') ?? {};
  f.known(o, ['interval', 'type', 'unit', 'clear_map'], '@sample');
  const out = compact({
    interval: f.integer(o.interval, '@sample.interval', 1, 86_400_000) ?? 1000,
    type: f.oneOf(o.type, '@sample.type', SAMPLE_KINDS) ?? 'default_kv',
    unit: f.text(o.unit, '@sample.unit', { max: 32 }),
    clearMap: f.boolean(o.clear_map, '@sample.clear_map') ?? false,
  });
  if (f.problems.length) throw bad(file, line, f.problems.join('; '));
  return out;
}
