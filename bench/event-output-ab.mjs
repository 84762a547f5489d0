// The event output path of `ebpm run` against another checkout (the code before a change):
// 1,024,000 sigsnoop records, 256 a batch, through the plain and the JSON writers into a stream
// that discards, this checkout and the other interleaved round by round; medians and ratios.
// In-process, without the kernel: what formatting costs per event, apart from reading the ring.
//
//   node bench/event-output-ab.mjs <other checkout> [rounds]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const here = resolve(fileURLToPath(import.meta.url), '../..');
const other = resolve(process.argv[2] ?? '');
const ROUNDS = Number(process.argv[3] ?? 15);
const scratch = mkdtempSync(join(tmpdir(), 'ebpm-bench-output-'));

/** The writers of one checkout, bundled from its sources. */
async function writers(tree, name) {
  const entry = join(scratch, `${name}.ts`);
  writeFileSync(
    entry,
    `export { eventFormat } from '${tree}/src/package/decode.js';\nexport { jsonOutput, plainOutput } from '${tree}/src/cli/views/run-output.js';\n`,
  );
  buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile: join(scratch, `${name}.mjs`), logLevel: 'warning' });
  return import(join(scratch, `${name}.mjs`));
}

const trees = { other: await writers(other, 'other'), this: await writers(here, 'this') };
const int = (size, signed) => ({ kind: 'int', size, signed });
const layout = {
  kind: 'struct',
  size: 32,
  name: 'event',
  fields: [
    { name: 'pid', offset: 0, layout: int(4, false) },
    { name: 'tpid', offset: 4, layout: int(4, false) },
    { name: 'sig', offset: 8, layout: int(4, true) },
    { name: 'ret', offset: 12, layout: int(4, true) },
    { name: 'comm', offset: 16, layout: { kind: 'string', size: 16 } },
  ],
};
const N = 256;
const BATCHES = 4000;
const buf = new ArrayBuffer(N * 32);
const v = new DataView(buf);
const records = [];
for (let i = 0; i < N; i++) {
  v.setUint32(i * 32, 1000 + i, true);
  v.setUint32(i * 32 + 4, 7, true);
  v.setInt32(i * 32 + 8, 28, true);
  v.setInt32(i * 32 + 12, i % 2 ? 0 : -3, true);
  new Uint8Array(buf).set(new TextEncoder().encode('ebpm-sigsend'), i * 32 + 16);
  records.push(new Uint8Array(buf, i * 32, 32));
}

/** Milliseconds to write every batch with one writer, yielding to the event loop as a run does. */
async function once(t, kind) {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const f = t.eventFormat(layout);
  const out = kind === 'json' ? t.jsonOutput(sink, f, { limit: 1 << 30 }) : t.plainOutput(sink, f, Date.now, { limit: 1 << 30 });
  out.start();
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) {
    out.events(records);
    if (b % 16 === 15) await new Promise((r) => setImmediate(r));
  }
  out.end();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const times = Object.fromEntries(['other', 'this'].flatMap((n) => ['plain', 'json'].map((k) => [`${n} ${k}`, []])));
for (let r = 0; r < ROUNDS; r++)
  for (const kind of ['plain', 'json'])
    for (const name of r % 2 ? ['this', 'other'] : ['other', 'this']) times[`${name} ${kind}`].push(await once(trees[name], kind));
rmSync(scratch, { recursive: true, force: true });
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const kind of ['plain', 'json']) {
  const o = median(times[`other ${kind}`]);
  const t = median(times[`this ${kind}`]);
  console.log(`${kind}: other ${o.toFixed(0)} ms, this ${t.toFixed(0)} ms for ${N * BATCHES} events; this/other ${(t / o).toFixed(2)}`);
}
