// The supervisor with a stand-in for `ebpm run` (a node script): file output, a failed start,
// exit code 0 as the end of a run. No kernel; every wait is on a line the agent logs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readInstances, Supervisor } from '../../src/services/agent/supervisor.js';
import { sandboxDir } from '../helpers/cli.js';

/** A child that prints three events and a sample, says its count as run does, and exits with `code`. */
const CHILD = (code: number) =>
  [
    'console.error("fake 1.0.0: attached p (tracepoint/x/y)");',
    'for (const n of [1, 2, 3]) console.log(JSON.stringify({ n }));',
    'console.log(JSON.stringify({ update: { how: "refused", from: "1.0.0", to: "1.1.0", reason: "x" } }));',
    'console.log(JSON.stringify({ update: { how: "replaced", from: "1.0.0", to: "1.2.0" } }));',
    'console.log(JSON.stringify({ key: 0, value: { slots: [1, 2] } }));',
    `console.error("fake: 3 events, 5 lost (stopped: duration)"); process.exitCode = ${code};`,
  ].join('\n');

function start(dir: string, code: number) {
  const log: string[] = [];
  const waiters: [RegExp, () => void][] = [];
  const sup = new Supervisor({
    instancesDir: dir,
    ebpm: [process.execPath, '-e', CHILD(code), '--'],
    env: process.env,
    onLog: (line) => {
      log.push(line);
      for (const [re, resolve] of waiters) if (re.test(line)) resolve();
    },
    onOutput: () => undefined,
  });
  const logged = (re: RegExp) => new Promise<void>((resolve) => (log.some((l) => re.test(l)) ? resolve() : waiters.push([re, resolve])));
  return { sup, log, logged };
}

it('writes a file output, counts events and lost from the child, and does not restart a run that ended with 0', async () => {
  const dir = sandboxDir('sup-');
  mkdirSync(join(dir, 'instances.d'));
  const out = join(dir, 'logs', 'a.jsonl');
  writeFileSync(join(dir, 'instances.d', 'a.json'), JSON.stringify({ name: 'a', ref: '/p', output: { file: out, maxBytes: 1000, keep: 1 } }));
  const { sup, logged } = start(join(dir, 'instances.d'), 0);
  await sup.start();
  await logged(/^agent: a ended \(exit code 0\)$/);
  expect(readFileSync(out, 'utf8')).toBe(
    '{"n":1}\n{"n":2}\n{"n":3}\n{"update":{"how":"refused","from":"1.0.0","to":"1.1.0","reason":"x"}}\n{"update":{"how":"replaced","from":"1.0.0","to":"1.2.0"}}\n{"key":0,"value":{"slots":[1,2]}}\n',
  );
  expect(sup.status().instances).toEqual([
    expect.objectContaining({ name: 'a', state: 'exited', events: 3, lost: 5, restarts: 0, updates: 1, refusals: 1, lastExit: 'exit code 0' }),
  ]);
  expect(sup.maps()).toEqual([{ instance: 'a', map: '', entries: [{ key: 0, value: { slots: [1, 2] } }] }]);
  // stdout and stderr lines interleave in no set order: the lines, not their order across the two pipes.
  expect(
    sup
      .lines('a')
      .tail(100)
      .filter((l) => !l.startsWith('{"n"') && !l.startsWith('{"update"')),
  ).toEqual(
    expect.arrayContaining(['fake 1.0.0: attached p (tracepoint/x/y)', '{"key":0,"value":{"slots":[1,2]}}', 'fake: 3 events, 5 lost (stopped: duration)']),
  );
  expect(sup.lines('a').tail(100)).toHaveLength(8);
  await sup.close();
});

it('an output file that cannot be opened is a failed start, retried with back-off', async () => {
  const dir = sandboxDir('sup-');
  writeFileSync(join(dir, 'b.json'), JSON.stringify({ name: 'b', ref: '/p', output: { file: '/dev/null/b.jsonl' } }));
  const { sup, logged } = start(dir, 0);
  await sup.start();
  await logged(/^agent: b failed \(output: /);
  expect(sup.status().instances).toEqual([expect.objectContaining({ name: 'b', state: 'backoff', restarts: 0 })]);
  expect(sup.status().instances[0]!.lastExit).toBe("output: EEXIST: file already exists, mkdir '/dev/null'");
  await sup.close();
  expect(sup.status().instances).toEqual([expect.objectContaining({ name: 'b', state: 'stopped' })]);
});

it('reports YAML files and a second file with the same name; the first file by name wins', () => {
  const dir = sandboxDir('sup-');
  writeFileSync(join(dir, 'a.json'), JSON.stringify({ name: 'a', ref: '/p' }));
  writeFileSync(join(dir, 'b.json'), JSON.stringify({ name: 'a', ref: '/q' }));
  writeFileSync(join(dir, 'c.yaml'), 'name: c\n');
  writeFileSync(join(dir, 'notes.txt'), 'ignored');
  const r = readInstances(dir);
  expect([...r.specs.keys()]).toEqual(['a']);
  expect(r.specs.get('a')!.ref).toBe('/p');
  expect(r.problems).toEqual([
    { file: 'b.json', message: "instance b.json: name: a is already the name of another file's instance" },
    { file: 'c.yaml', message: 'instance c.yaml: YAML instance files are not read; write it as JSON (c.json)' },
  ]);
});
