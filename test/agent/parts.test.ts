// The agent's pure parts: instance files, the run line they mean, what a child's lines count
// as, the control protocol, the metrics text, and the rotating output file.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { groupId } from '../../src/services/agent/agent.js';
import { parseRequest } from '../../src/services/agent/control.js';
import { parseInstance, runArgs } from '../../src/services/agent/instance.js';
import { parseAddress, renderHistograms, renderMetrics } from '../../src/services/agent/metrics.js';
import { classifyLine, parseAttached, parseSummary, RecentLines, RotatingFile } from '../../src/services/agent/output.js';
import type { InstanceStatus } from '../../src/services/agent/supervisor.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { sandboxDir } from '../helpers/cli.js';

describe('instance files', () => {
  it('reads every field and gives the run line', () => {
    const spec = parseInstance(
      'sig.json',
      JSON.stringify({
        name: 'sig',
        ref: 'localhost:5000/sigsnoop@^1',
        params: { 'filtered-pid': 42, failed: true, quiet: false, comm: ['a', 'b'] },
        args: ['-v'],
        follow: true,
        duration: 30,
        output: { file: '/var/log/ebpm/sig.jsonl', maxBytes: 1000 },
      }),
    );
    expect(spec).toEqual({
      name: 'sig',
      ref: 'localhost:5000/sigsnoop@^1',
      params: { 'filtered-pid': 42, failed: true, quiet: false, comm: ['a', 'b'] },
      args: ['-v'],
      follow: true,
      duration: 30,
      output: { kind: 'file', path: '/var/log/ebpm/sig.jsonl', maxBytes: 1000, keep: 3 },
    });
    expect(runArgs(spec)).toEqual([
      'run',
      'localhost:5000/sigsnoop@^1',
      '--json',
      '--filtered-pid',
      '42',
      '--failed',
      '--comm',
      'a',
      '--comm',
      'b',
      '--follow',
      '--duration',
      '30',
      '--',
      '-v',
    ]);
  });

  it('defaults to stdout output, no params, no args', () => {
    const spec = parseInstance('a.json', '{"name":"a","ref":"/pkgs/a"}');
    expect(spec.output).toEqual({ kind: 'stdout' });
    expect(runArgs(spec)).toEqual(['run', '/pkgs/a', '--json']);
  });

  it('lists every bad field in one error', () => {
    const text = JSON.stringify({
      name: 'Bad Name',
      ref: '--help',
      params: { 'x y': 1, ok: { no: 1 } },
      args: [1],
      follow: 'yes',
      output: { file: 'rel', keep: -1, size: 1 },
      duration: 0,
      extra: 1,
    });
    expect(() => parseInstance('bad.json', text)).toThrowWithCode('INSTANCE_INVALID', {
      message:
        'instance bad.json: extra: unknown field; name: expected lower-case letters, digits, ".", "_" or "-" (at most 63); ref: expected a package reference or an OCI layout path; params.x y: not a parameter name; params.ok: expected a string, number, boolean or an array of them; args: expected an array of strings; follow: expected true or false; output.size: unknown field; output.file: expected an absolute path; output.keep: expected a whole number of rotated files (0 or more); duration: expected a positive number of seconds',
      hint: 'fix the file; the agent reads it again when it changes (or on SIGHUP)',
    });
    expect(() => parseInstance('t.json', '{"name":')).toThrowWithCode('INSTANCE_INVALID', /^instance t\.json: not JSON: /);
    expect(() => parseInstance('t.json', '[]')).toThrowWithCode('INSTANCE_INVALID', 'instance t.json: expected a JSON object');
  });
});

describe("a child's lines", () => {
  it('tells events from samples, updates, refusals and errors', () => {
    expect(classifyLine('{"pid":1,"sig":18}')).toBe('event');
    expect(classifyLine('{"key":{"slot":1},"value":3}')).toBe('sample');
    expect(classifyLine('{"map":"hists","entries":[{"key":-1,"value":{"slots":[0,1]}}]}')).toBe('sample');
    expect(classifyLine('{"update":{"how":"replaced","from":"1.0.0","to":"1.1.0"}}')).toBe('update');
    expect(classifyLine('{"update":{"how":"refused","from":"1.0.0","to":"1.1.0","reason":"x"}}')).toBe('refusal');
    expect(classifyLine('{"update":{"how":"failed","from":"1.0.0","to":"1.1.0","reason":"x"}}')).toBe('refusal');
    expect(classifyLine('{"error":{"code":"NOT_FOUND","message":"x"}}')).toBe('error');
    expect(parseSummary('sigsnoop: 3 events, 2 lost (stopped: SIGINT)')).toEqual({ events: 3, lost: 2 });
    expect(parseSummary('sigsnoop: 3 events, 2 lost, 1 dropped (stopped: SIGINT)')).toEqual({ events: 3, lost: 2 });
    expect(parseSummary('warning: something')).toBeUndefined();
    expect(parseAttached('sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)')).toBe('1.2.0');
    expect(parseAttached('sigsnoop 1.3.0: started its Wasm program')).toBe('1.3.0');
    expect(parseAttached('sigsnoop 1.3.0: started its Wasm program twice')).toBeUndefined();
  });

  it('keeps the last lines and tells followers', () => {
    const r = new RecentLines(2);
    const seen: string[] = [];
    r.push('a');
    const stop = r.follow((l) => seen.push(l));
    r.push('b');
    r.push('c');
    stop();
    r.push('d');
    expect(r.tail(5)).toEqual(['c', 'd']);
    expect(seen).toEqual(['b', 'c']);
  });

  it('rotates the output file by size, keeping `keep` old ones', () => {
    const dir = sandboxDir('rotate-');
    const path = join(dir, 'logs', 'out.jsonl');
    const f = new RotatingFile(path, 10, 2);
    for (const l of ['1111', '2222', '3333', '4444', '5555', '6666', '7777']) f.write(l);
    f.close();
    expect(readFileSync(path, 'utf8')).toBe('7777\n');
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('5555\n6666\n');
    expect(readFileSync(`${path}.2`, 'utf8')).toBe('3333\n4444\n');
    expect(existsSync(`${path}.3`)).toBe(false);
  });
});

describe('the control protocol', () => {
  it('narrows requests', () => {
    expect(parseRequest('{"op":"ps"}')).toEqual({ op: 'ps' });
    expect(parseRequest('{"op":"logs","name":"a","follow":true}')).toEqual({ op: 'logs', name: 'a', lines: 100, follow: true });
    expect(parseRequest('{"op":"stop","name":"a"}')).toEqual({ op: 'stop', name: 'a' });
    expect(() => parseRequest('{"op":"kill"}')).toThrowWithCode('AGENT_BAD_REQUEST', 'agent: bad request: unknown op "kill"');
    expect(() => parseRequest('{"op":"start"}')).toThrowWithCode('AGENT_BAD_REQUEST', 'agent: bad request: start: name: expected a string');
    expect(() => parseRequest('nope')).toThrowWithCode('AGENT_BAD_REQUEST', 'agent: bad request: not JSON');
  });

  it('reads --group and --metrics', () => {
    expect(groupId('ebpm', 'root:x:0:\nebpm:x:998:alice\n')).toBe(998);
    expect(groupId('1234', '')).toBe(1234);
    expect(() => groupId('nobody-here', 'root:x:0:\n')).toThrowWithCode('USAGE', 'agent: --group nobody-here: no such group');
    expect(parseAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseAddress('9464')).toThrowWithCode('USAGE', 'agent: --metrics 9464: expected host:port');
  });
});

describe('metrics', () => {
  it('renders every counter per instance as strict Prometheus text', () => {
    const status = (name: string, n: number): InstanceStatus => ({
      name,
      ref: '/p',
      state: n === 1 ? 'running' : 'backoff',
      pid: undefined,
      version: undefined,
      events: 10 * n,
      lost: n,
      restarts: 2 * n,
      updates: 3 * n,
      refusals: 4 * n,
      uptimeSeconds: 0,
      lastExit: undefined,
    });
    const families = parsePrometheus(renderMetrics([status('a', 1), status('b"\\', 2)]));
    const series = Object.fromEntries([...families].map(([name, f]) => [name, { type: f.type, samples: Object.fromEntries(f.samples) }]));
    const counter = (name: string, a: number, b: number) => ({
      type: 'counter',
      samples: { [`${name}{instance="a"}`]: a, [`${name}{instance="b\\"\\\\"}`]: b },
    });
    expect(series).toEqual({
      ebpm_instance_events_total: counter('ebpm_instance_events_total', 10, 20),
      ebpm_instance_lost_total: counter('ebpm_instance_lost_total', 1, 2),
      ebpm_instance_restarts_total: counter('ebpm_instance_restarts_total', 2, 4),
      ebpm_instance_updates_total: counter('ebpm_instance_updates_total', 3, 6),
      ebpm_instance_refusals_total: counter('ebpm_instance_refusals_total', 4, 8),
      ebpm_instance_up: { type: 'gauge', samples: { 'ebpm_instance_up{instance="a"}': 1, 'ebpm_instance_up{instance="b\\"\\\\"}': 0 } },
    });
  });

  it('renders log2 result maps as Prometheus histograms, buckets cumulative', () => {
    const text = renderHistograms([
      {
        instance: 'rq',
        map: 'hists',
        entries: [
          { key: -1, value: { slots: [1, 0, 3] } },
          { key: 7, value: [2] },
          { key: 8, value: { count: 1 } },
        ],
      },
    ]);
    const f = parsePrometheus(text).get('ebpm_instance_map_histogram')!;
    expect(f.type).toBe('histogram');
    // The parser sorts a series' labels by name.
    const labels = (key: string, le?: string) => `instance="rq",key="${key}",${le === undefined ? '' : `le="${le}",`}map="hists"`;
    expect(Object.fromEntries(f.samples)).toEqual({
      [`ebpm_instance_map_histogram_bucket{${labels('-1', '1')}}`]: 1,
      [`ebpm_instance_map_histogram_bucket{${labels('-1', '3')}}`]: 1,
      [`ebpm_instance_map_histogram_bucket{${labels('-1', '7')}}`]: 4,
      [`ebpm_instance_map_histogram_bucket{${labels('-1', '+Inf')}}`]: 4,
      [`ebpm_instance_map_histogram_count{${labels('-1')}}`]: 4,
      [`ebpm_instance_map_histogram_bucket{${labels('7', '1')}}`]: 2,
      [`ebpm_instance_map_histogram_bucket{${labels('7', '+Inf')}}`]: 2,
      [`ebpm_instance_map_histogram_count{${labels('7')}}`]: 2,
    });
  });

  it('the test parser refuses what is out of format', () => {
    expect(() => parsePrometheus('x 1\n')).toThrow('line 1: sample before its TYPE: "x 1"');
    expect(() => parsePrometheus('# TYPE x counter\nx{a="1"} one\n')).toThrow('line 2: value not a float');
    expect(() => parsePrometheus('# TYPE x counter\nx 1\nx 2\n')).toThrow('line 3: series given twice');
    expect(() => parsePrometheus('# TYPE x counter\nx 1')).toThrow('exposition does not end with a newline');
  });
});
