// A stand-in for `helm template`, which cannot be installed here (Debian has no package, and
// nothing may be downloaded). It renders exactly the Go-template constructs the ebpm-agent chart
// uses and throws on anything else, so a chart edit that needs more fails loudly instead of
// rendering wrongly: actions `{{ }}` with `{{-`/`-}}` trimming and `{{/* */}}` comments; `define`,
// `if`/`else`, `with`/`else`, `range` over a list, `end`; pipelines of `.`, `.A.b` fields,
// quoted strings and numbers through `include`, `toYaml`, `toJson`, `nindent`, `quote`,
// `default` and `not`. Missing values throw where Helm would print nothing.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';

type Node =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'out'; readonly pipe: string }
  | { readonly kind: 'if' | 'with'; readonly pipe: string; readonly yes: Node[]; readonly no: Node[] }
  | { readonly kind: 'range'; readonly pipe: string; readonly body: Node[] };

interface Token {
  readonly text?: string;
  readonly action?: string;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  let trimNext = false;
  for (;;) {
    const open = src.indexOf('{{', pos);
    let text = src.slice(pos, open < 0 ? undefined : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      out.push({ text });
      return out;
    }
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error(`unclosed action at ${open}`);
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('- ')) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    trimNext = inner.endsWith(' -');
    if (trimNext) inner = inner.slice(0, -1);
    out.push({ text }, { action: inner.trim() });
    pos = close + 2;
  }
}

function parseNodes(tokens: Token[], defines: Map<string, Node[]>): Node[] {
  let i = 0;
  const block = (): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t.text !== undefined) {
        if (t.text !== '') nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const a = t.action ?? '';
      const [word, ...rest] = a.split(/\s+/);
      const arg = rest.join(' ');
      if (a.startsWith('/*')) {
        if (!a.endsWith('*/')) throw new Error(`bad comment: ${a}`);
      } else if (/^(template|block|else if)\b/.test(a) || a.includes('$') || a.includes('(')) {
        throw new Error(`unsupported action: {{ ${a} }}`);
      } else if ((word === 'end' || word === 'else') && arg === '') {
        return { nodes, stop: word };
      } else if (word === 'define') {
        const name = JSON.parse(arg) as string;
        const body = block();
        if (body.stop !== 'end') throw new Error(`define ${name}: else without if`);
        defines.set(name, body.nodes);
      } else if (word === 'if' || word === 'with') {
        const yes = block();
        const no = yes.stop === 'else' ? block() : { nodes: [], stop: 'end' };
        if (no.stop !== 'end') throw new Error(`${word} ${arg}: two else`);
        nodes.push({ kind: word, pipe: arg, yes: yes.nodes, no: no.nodes });
      } else if (word === 'range') {
        const body = block();
        if (body.stop !== 'end') throw new Error(`range ${arg}: else is not supported`);
        nodes.push({ kind: 'range', pipe: arg, body: body.nodes });
      } else {
        nodes.push({ kind: 'out', pipe: a });
      }
    }
    return { nodes, stop: 'eof' };
  };
  const top = block();
  if (top.stop !== 'eof') throw new Error(`unexpected {{ ${top.stop} }}`);
  return top.nodes;
}

/** Go templates' truth: false, 0, nil and empty strings, lists and maps are false. */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function words(cmd: string): string[] {
  const out = cmd.match(/"(?:[^"\\]|\\.)*"|\S+/g);
  if (!out) throw new Error(`empty command in pipeline`);
  return out;
}

class Renderer {
  constructor(private readonly defines: Map<string, Node[]>) {}

  render(nodes: readonly Node[], dot: unknown): string {
    let out = '';
    for (const n of nodes) {
      switch (n.kind) {
        case 'text':
          out += n.text;
          break;
        case 'out':
          out += this.print(this.pipe(n.pipe, dot), n.pipe);
          break;
        case 'if': {
          out += this.render(truthy(this.pipe(n.pipe, dot)) ? n.yes : n.no, dot);
          break;
        }
        case 'with': {
          const v = this.pipe(n.pipe, dot);
          out += truthy(v) ? this.render(n.yes, v) : this.render(n.no, dot);
          break;
        }
        case 'range': {
          const v = this.pipe(n.pipe, dot);
          if (v === undefined || v === null) break;
          if (!Array.isArray(v)) throw new Error(`range ${n.pipe}: not a list`);
          for (const item of v) out += this.render(n.body, item);
          break;
        }
        default:
          n satisfies never;
      }
    }
    return out;
  }

  private print(v: unknown, pipe: string): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new Error(`{{ ${pipe} }}: ${v === undefined ? 'no value' : 'not a scalar'}`);
  }

  private pipe(src: string, dot: unknown): unknown {
    let prev: { v: unknown } | undefined;
    for (const cmd of src.split('|')) {
      const [head = '', ...args] = words(cmd.trim());
      const vals = args.map((a) => this.operand(a, dot));
      if (prev) vals.push(prev.v);
      prev = { v: this.call(head, vals, dot) };
    }
    return prev?.v;
  }

  private call(head: string, args: unknown[], dot: unknown): unknown {
    const want = (n: number) => {
      if (args.length !== n) throw new Error(`${head}: expected ${n} arguments, got ${args.length}`);
    };
    switch (head) {
      case 'include': {
        want(2);
        const body = this.defines.get(args[0] as string);
        if (!body) throw new Error(`include ${String(args[0])}: no such template`);
        return this.render(body, args[1]);
      }
      case 'toYaml':
        want(1);
        return stringify(args[0]).replace(/\n$/, '');
      case 'toJson':
        want(1);
        return JSON.stringify(args[0]);
      case 'nindent': {
        want(2);
        const pad = ' '.repeat(args[0] as number);
        return `\n${pad}${String(args[1]).replaceAll('\n', `\n${pad}`)}`;
      }
      case 'quote':
        want(1);
        return JSON.stringify(String(args[0]));
      case 'default':
        want(2);
        return truthy(args[1]) ? args[1] : args[0];
      case 'not':
        want(1);
        return !truthy(args[0]);
      default:
        if (args.length > 0) throw new Error(`unsupported function: ${head}`);
        return this.operand(head, dot);
    }
  }

  private operand(word: string, dot: unknown): unknown {
    if (word.startsWith('"')) return JSON.parse(word);
    if (/^-?\d+$/.test(word)) return Number(word);
    if (word === '.') return dot;
    if (!/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(word)) throw new Error(`unsupported operand: ${word}`);
    let v: unknown = dot;
    for (const key of word.slice(1).split('.')) {
      v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    }
    return v;
  }
}

export interface Release {
  readonly name: string;
  readonly namespace: string;
}

/**
 * `renderChart` renders every `templates/*.yaml` of the chart in `dir` with its values.yaml
 * overlaid by `values` (maps merged, anything else replaced) and returns the objects, as
 * `helm template` would print them.
 */
export function renderChart(dir: string, release: Release, values: Record<string, unknown> = {}): Record<string, unknown>[] {
  const chart = parse(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const defaults = parse(readFileSync(join(dir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const root = {
    Values: merge(defaults, values),
    Release: { Name: release.name, Namespace: release.namespace, Service: 'Helm' },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const defines = new Map<string, Node[]>();
  const files = readdirSync(join(dir, 'templates')).sort();
  const parsed = files.map((f) => ({ f, nodes: parseNodes(tokenize(readFileSync(join(dir, 'templates', f), 'utf8')), defines) }));
  const renderer = new Renderer(defines);
  const objects: Record<string, unknown>[] = [];
  for (const { f, nodes } of parsed) {
    if (!f.endsWith('.yaml')) continue;
    for (const doc of parseAllDocuments(renderer.render(nodes, root))) {
      if (doc.errors.length > 0) throw new Error(`${f}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as Record<string, unknown> | null;
      if (obj !== null) objects.push(obj);
    }
  }
  return objects;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    const isMap = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = isMap(b) && isMap(v) ? merge(b, v) : v;
  }
  return out;
}
