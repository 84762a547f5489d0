/**
 * Pure parsing of `WWW-Authenticate` (RFC 9110 §11.6.1, RFC 6750 §3) and of token scopes
 * (distribution 2.8.2 docs/spec/auth/scope.md). Challenges are split properly rather than with
 * regexes on commas: a scope value is quoted and holds `:`, `,` and spaces
 * (`scope="repository:a/b:pull,push repository:c:pull"`).
 */

/** One challenge: the scheme (lower-cased) and its parameters (names lower-cased). */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * `parseChallenges` reads every challenge of a `WWW-Authenticate` value (several may share one
 * header, separated by commas). Malformed input yields what could be read, never throws.
 */
export function parseChallenges(value: string): Challenge[] {
  const out: Array<{ scheme: string; params: Record<string, string> }> = [];
  let i = 0;
  const n = value.length;
  const skip = (chars: RegExp) => {
    while (i < n && chars.test(value[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && TOKEN.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  while (i < n) {
    skip(/[\s,]/);
    const word = token();
    if (word === '') {
      i++; // not a token character: skip it
      continue;
    }
    skip(/[ \t]/);
    const current = out[out.length - 1];
    if (value[i] === '=' && current !== undefined) {
      // `name = value`, a parameter of the current challenge (or token68 padding, ignored).
      i++;
      skip(/[ \t]/);
      let v = '';
      if (value[i] === '"') {
        i++;
        while (i < n && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < n) i++;
          v += value[i];
          i++;
        }
        i++; // closing quote
      } else {
        v = token();
      }
      current.params[word.toLowerCase()] = v;
      continue;
    }
    out.push({ scheme: word.toLowerCase(), params: {} });
  }
  return out;
}

/** A parsed scope: `repository:127.0.0.1:5000/a:pull,push` has a name with a `:` in it. */
export interface Scope {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** `parseScope` splits at the first and the last `:`; `undefined` if there are not two. */
export function parseScope(s: string): Scope | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: s.slice(0, first),
    name: s.slice(first + 1, last),
    actions: s
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

/**
 * `mergeScopes` joins scope strings (each may hold several, space-separated), merging the
 * actions of the same resource and sorting, so equal needs give equal cache keys:
 * `["repository:a:push", "repository:a:pull"]` → `["repository:a:pull,push"]`.
 */
export function mergeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const s of [...scopes].flatMap((x) => x.split(' ')).filter(Boolean)) {
    const p = parseScope(s);
    if (p === undefined) continue;
    const key = `${p.type}:${p.name}`;
    const set = byResource.get(key) ?? new Set<string>();
    for (const a of p.actions) set.add(a);
    byResource.set(key, set);
  }
  return [...byResource.entries()].map(([k, set]) => `${k}:${[...set].sort().join(',')}`).sort();
}

/** `repositoryScope` is the scope a request on `repository` needs. */
export function repositoryScope(repository: string, ...actions: Array<'pull' | 'push' | 'delete'>): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** `CATALOG_SCOPE` is what distribution asks for `/v2/_catalog`. */
export const CATALOG_SCOPE = 'registry:catalog:*';
