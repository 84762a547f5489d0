/**
 * `-o jsonpretty` and `-o yaml` of `ebpm run`: the one-line JSON of an event or sample entry
 * restyled. Both work on the JSON text, not on a parsed value, so 64-bit integers keep every
 * digit. Pure: text in, text out.
 */

/**
 * `prettyJson` indents one line of JSON by two spaces a level, as `JSON.stringify(v, null, 2)`
 * would, newline included. It works on the text, so 64-bit integers keep every digit.
 */
export function prettyJson(json: string): string {
  let s = '';
  let depth = 0;
  let inString = false;
  const newline = () => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (inString) {
      s += c;
      if (c === '\\') s += json[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      s += c;
    } else if (c === '{' || c === '[') {
      const close = json[i + 1];
      if (close === '}' || close === ']') {
        s += c + close;
        i++;
        continue;
      }
      depth++;
      s += c + newline();
    } else if (c === '}' || c === ']') {
      depth--;
      s += newline() + c;
    } else if (c === ',') s += c + newline();
    else if (c === ':') s += ': ';
    else if (c !== '\n') s += c;
  }
  return `${s}\n`;
}

/** A JSON value as read by `tree`: scalars keep their JSON text. */
type Node = { readonly scalar: string } | { readonly items: Node[] } | { readonly entries: [string, Node][] };

/** `tree` reads JSON text (as `ebpm run` writes it) into nodes. */
function tree(json: string): Node {
  let i = 0;
  const skip = () => {
    while (/\s/.test(json[i] ?? '')) i++;
  };
  const string = (): string => {
    const start = i++;
    while (json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
    return json.slice(start, ++i);
  };
  const value = (): Node => {
    skip();
    const c = json[i];
    if (c === '"') return { scalar: string() };
    if (c === '{' || c === '[') {
      i++;
      const entries: [string, Node][] = [];
      const items: Node[] = [];
      skip();
      while (json[i] !== '}' && json[i] !== ']') {
        if (c === '{') {
          skip();
          const key = JSON.parse(string()) as string;
          skip();
          i++; // the colon
          entries.push([key, value()]);
        } else items.push(value());
        skip();
        if (json[i] === ',') i++;
        skip();
      }
      i++;
      return c === '{' ? { entries } : { items };
    }
    const start = i;
    while (i < json.length && !/[,}\]\s]/.test(json[i]!)) i++;
    return { scalar: json.slice(start, i) };
  };
  return value();
}

const PLAIN = /^[A-Za-z_/][\w./@+-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n)$/i;

/** A scalar as YAML: a string plain where YAML reads it back as that string, else double-quoted as JSON quotes it (YAML takes its escapes). */
function scalar(json: string): string {
  if (!json.startsWith('"')) return json;
  const text = JSON.parse(json) as string;
  return PLAIN.test(text) && !RESERVED.test(text) ? text : json;
}

function key(name: string): string {
  return /^[A-Za-z_][\w.]*$/.test(name) && !RESERVED.test(name) ? name : JSON.stringify(name);
}

/** Whether `n` is written on lines of its own (a non-empty object or array). */
function isBlock(n: Node): boolean {
  return 'entries' in n ? n.entries.length > 0 : 'items' in n && n.items.length > 0;
}

function inline(n: Node): string {
  return 'scalar' in n ? scalar(n.scalar) : 'entries' in n ? '{}' : '[]';
}

/** The lines of a block node at indentation `pad`. */
function block(n: Node, pad: string): string {
  if ('entries' in n) return n.entries.map(([k, v]) => (isBlock(v) ? `${pad}${key(k)}:\n${block(v, `${pad}  `)}` : `${pad}${key(k)}: ${inline(v)}\n`)).join('');
  if ('items' in n) return n.items.map((v) => (isBlock(v) ? `${pad}- ${block(v, `${pad}  `).slice(pad.length + 2)}` : `${pad}- ${inline(v)}\n`)).join('');
  return `${pad}${inline(n)}\n`;
}

/** `yamlDocument` is one line of JSON as a YAML document of its own, `---` first. */
export function yamlDocument(json: string): string {
  const n = tree(json);
  return isBlock(n) ? `---\n${block(n, '')}` : `--- ${inline(n)}\n`;
}
