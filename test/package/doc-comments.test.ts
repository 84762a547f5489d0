import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDocComments } from '../../src/package/doc-comments.js';
import { REPO } from '../helpers/objects.js';

describe('parseDocComments', () => {
  it('reads descriptions, @cmdarg and @sample of the runqlat example', () => {
    const src = readFileSync(`${REPO}/examples/runqlat/runqlat.bpf.c`, 'utf8');
    const docs = parseDocComments(src, 'runqlat.bpf.c');
    expect([...docs.keys()]).toEqual(['targ_per_process', 'targ_ms', 'targ_tgid', 'start', 'hists']);
    expect(docs.get('targ_tgid')).toEqual({
      name: 'targ_tgid',
      line: 22,
      description: 'Trace only this process ID (0: every process)',
      cmdarg: { short: 'p', long: 'pid' },
    });
    expect(docs.get('hists')).toEqual({
      name: 'hists',
      line: 34,
      description: 'Run queue latency histograms, keyed by process ID (0 when not per process)',
      sample: { interval: 1000, type: 'log2_hist', unit: 'usecs', clearMap: false },
    });
  });

  it('handles multi-line text and JSON, @description, arrays and attributes', () => {
    const src = [
      '/// First line',
      '/// second line',
      '/// @description third',
      '/// @cmdarg {"long": "comm",',
      '///          "short": "c", "default": "bash", "help": "command name"}',
      'const volatile char targ_comm[16] __attribute__((aligned(8))) = "bash";',
      '',
      '/// @sample {"type": "default_kv", "clear_map": true, "interval": 250}',
      'struct {',
      '\t__uint(type, BPF_MAP_TYPE_HASH);',
      '} counts',
      '  SEC(".maps");',
      '/// not a declaration: a function',
      'SEC("tp/x") int f(void *ctx)',
      '{',
      '\treturn 0;',
      '}',
      'int after;',
    ].join('\n');
    const docs = parseDocComments(src, 'x.bpf.c');
    expect(Object.fromEntries(docs)).toEqual({
      targ_comm: {
        name: 'targ_comm',
        line: 6,
        description: 'First line second line third',
        cmdarg: { long: 'comm', short: 'c', default: 'bash', help: 'command name' },
      },
      counts: { name: 'counts', line: 9, sample: { interval: 250, type: 'default_kv', clearMap: true } },
    });
  });

  const bad: [string, string, string][] = [
    ['an unknown tag', '/// @cmdargs {"long": "x"}\nconst volatile int x = 0;', 'x.bpf.c:1: unknown doc tag @cmdargs'],
    ['bad JSON', '/// @cmdarg {long: x}\nconst volatile int x = 0;', 'x.bpf.c:1: @cmdarg: not JSON: {long: x}'],
    [
      'a long short flag',
      '/// desc\n/// @cmdarg {"short": "xy", "long": "Bad_Flag", "size": 1}\nconst volatile int x = 0;',
      'x.bpf.c:2: @cmdarg.size: unknown field; @cmdarg.long: must be lower-case letters, digits and -; @cmdarg.short: must be one letter or digit',
    ],
    [
      'a bad sample',
      '/// @sample {"type": "pie", "interval": 0}\nstruct {} m SEC(".maps");',
      'x.bpf.c:1: @sample.interval: out of range [1, 86400000]; @sample.type: not one of log2_hist, linear_hist, default_kv',
    ],
  ];
  it.each(bad)('rejects %s with DOC_COMMENT_INVALID', (_n, src, message) => {
    expect(() => parseDocComments(src, 'x.bpf.c')).toThrowWithCode('DOC_COMMENT_INVALID', message);
  });
});
