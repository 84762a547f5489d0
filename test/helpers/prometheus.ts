// A strict reader of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), for tests of `/metrics`: any
// line it does not understand fails the test instead of being skipped.

export interface Family {
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  /** Series as `name{label="value",…}` (labels sorted) → value. */
  readonly samples: Map<string, number>;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (\\S+)(?: (-?\\d+))?$`);
const SUFFIXES = ['_bucket', '_sum', '_count'];

/** `parsePrometheus` reads a whole exposition; it throws on the first line out of format. */
export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const families = new Map<string, { help?: string; type?: Family['type']; samples: Map<string, number> }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { samples: new Map() };
      families.set(name, f);
    }
    return f;
  };
  for (const [n, line] of text.slice(0, -1).split('\n').entries()) {
    const fail = (why: string) => new Error(`line ${n + 1}: ${why}: ${JSON.stringify(line)}`);
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (f.samples.size > 0) throw fail(`${meta[1]} after the family's samples`);
      if (meta[1] === 'HELP') {
        if (f.help !== undefined) throw fail('second HELP');
        f.help = meta[3]!;
      } else {
        if (f.type !== undefined) throw fail('second TYPE');
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!)) throw fail('unknown type');
        f.type = meta[3] as Family['type'];
      }
      continue;
    }
    if (line.startsWith('#') || line === '') throw fail('not a HELP, TYPE or sample line');
    const m = SAMPLE.exec(line);
    if (!m) throw fail('not a sample');
    const name = m[1]!;
    const base = SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : undefined)).find(
      (b) => b !== undefined && families.get(b)?.type === 'histogram',
    );
    const f = families.get(base ?? name);
    if (f?.type === undefined) throw fail('sample before its TYPE');
    const labels = [...(m[2] ?? '').matchAll(new RegExp(LABEL, 'g'))].map((l) => `${l[1]}="${l[2]}"`);
    if (new Set(labels.map((l) => l.split('=')[0])).size !== labels.length) throw fail('label given twice');
    const value = m[m.length - 2]!;
    if (!/^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/.test(value)) throw fail('value not a float');
    const series = `${name}{${labels.sort().join(',')}}`;
    if (f.samples.has(series)) throw fail('series given twice');
    f.samples.set(series, Number(value.replace('Inf', 'Infinity')));
  }
  return new Map([...families].map(([k, f]) => [k, { help: f.help ?? '', type: f.type ?? 'untyped', samples: f.samples }]));
}
