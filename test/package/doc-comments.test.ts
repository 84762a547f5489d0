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
      '/// a program: documented by its name',
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
      f: { name: 'f', line: 14, description: 'a program: documented by its name' },
    });
  });

  it("reads eunomia's tc and xdp attach options above programs, with ecli's defaults", () => {
    const src = [
      '/// @tchook {"ifindex": 3, "attach_point": "BPF_TC_EGRESS"}',
      '/// @tcopts {"handle": 1, "priority": 9}',
      'SEC("tc")',
      'int egress(struct __sk_buff *skb) {',
      '\treturn 0;',
      '}',
      '/// @tchook {}',
      'SEC("tc") int plain(struct __sk_buff *skb) { return 0; }',
      '/// @ifindex 4',
      '/// @flags 0',
      '/// @xdpopts {"old_prog_fd": 0}',
      'SEC("xdp")',
      'int pass(struct xdp_md *ctx)',
      '{',
      '\treturn 2;',
      '}',
    ].join('\n');
    const warnings: string[] = [];
    const docs = parseDocComments(src, 'x.bpf.c', (w) => warnings.push(w));
    expect(Object.fromEntries(docs)).toEqual({
      egress: { name: 'egress', line: 3, attach: { ifindex: 3, direction: 'egress', priority: 9 } },
      plain: { name: 'plain', line: 8, attach: { ifindex: 1, direction: 'ingress' } },
      pass: { name: 'pass', line: 12, attach: { ifindex: 4 } },
    });
    // @flags and @xdpopts at their defaults are what ebpm does anyway: no warning.
    expect(warnings).toEqual([]);
    parseDocComments('/// @flags 2\n/// @xdpopts {"old_prog_fd": 7}\nSEC("xdp") int f(void *c) { return 2; }', 'y.bpf.c', (w) => warnings.push(w));
    expect(warnings).toEqual(['y.bpf.c:1: @flags 2: not supported: ignored', 'y.bpf.c:2: @xdpopts {"old_prog_fd": 7}: not supported: ignored']);
  });

  it('reports an unknown tag as a warning and keeps the rest of the comment', () => {
    const warnings: string[] = [];
    const docs = parseDocComments('/// Exits\n/// @intepreter {"default_struct": {}}\nstruct {} exits SEC(".maps");', 'x.bpf.c', (w) => warnings.push(w));
    expect(docs.get('exits')).toEqual({ name: 'exits', line: 3, description: 'Exits' });
    expect(warnings).toEqual(['x.bpf.c:2: unknown doc tag @intepreter: ignored']);
  });

  const bad: [string, string, string][] = [
    [
      'a bad @tchook',
      '/// @tchook {"ifindex": 0, "attach_point": "BPF_TC_CUSTOM"}\nSEC("tc") int f(void *c) { return 0; }',
      'x.bpf.c:1: @tchook.ifindex: out of range [1, 2147483647]; @tchook.attach_point: not one of BPF_TC_INGRESS, BPF_TC_EGRESS',
    ],
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
