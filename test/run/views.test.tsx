// The outputs of `ebpm run`: the ink live table (ink-testing-library), its driver under a burst,
// and the piped and JSON writers, fed one batch buffer as the native reader hands them.
import { EventEmitter } from 'node:events';
import { render } from 'ink-testing-library';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { eventFormat } from '../../src/package/decode.js';
import { alignRow, clock, coalesce, jsonOutput, plainOutput } from '../../src/cli/views/run-output.js';
import { liveOutput } from '../../src/cli/views/run-live.js';
import { terminalOutput } from '../../src/cli/views/run-terminal.js';
import type { SampleFormat } from '../../src/package/histogram.js';
import { RunTable } from '../../src/cli/views/run-table.js';

// These views are what a person sees on a terminal, where CI is unset; under CI ink draws only
// its last frame (is-in-ci, read when ink is imported). Cleared before the imports, restored after.
const ci = vi.hoisted(() => {
  const saved = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  return saved;
});
afterAll(() => {
  for (const [k, v] of Object.entries(ci)) if (v !== undefined) process.env[k] = v;
});

// Its fields' names say nothing of their values (a `sig` would print by name).
const event: TypeLayout = {
  kind: 'struct',
  size: 24,
  name: 'event',
  fields: [
    { name: 'pid', offset: 0, layout: { kind: 'int', size: 4, signed: false } },
    { name: 'nr', offset: 4, layout: { kind: 'int', size: 4, signed: true } },
    { name: 'comm', offset: 8, layout: { kind: 'string', size: 16 } },
  ],
};
const format = eventFormat(event);

/** `n` records packed in one buffer at 32-byte strides, as parseBatch leaves them. */
function batch(n: number, from = 0): Uint8Array[] {
  const buf = new ArrayBuffer(n * 32 + 8);
  const v = new DataView(buf);
  const records: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const off = 8 + i * 32;
    v.setUint32(off, 1000 + from + i, true);
    v.setInt32(off + 4, 10, true);
    new Uint8Array(buf, off + 8, 16).set(new TextEncoder().encode(`p${from + i}`));
    records.push(new Uint8Array(buf, off, 24));
  }
  return records;
}

class Sink extends EventEmitter {
  text = '';
  columns = 60;
  rows = 10;
  isTTY = true;
  write(s: string): boolean {
    this.text += s;
    this.emit('written');
    return true;
  }

  /** Resolves once the text holds `part`, however long loading the live view takes. */
  shows(part: string): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!this.text.includes(part)) return;
        this.off('written', check);
        resolve();
      };
      this.on('written', check);
      check();
    });
  }
}

describe('RunTable', () => {
  it('renders the summary, the header, the newest rows, the sample and the counts', () => {
    const { lastFrame } = render(
      <RunTable
        title="sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)"
        header={format.header()}
        rows={[alignRow('10:00:00', ['1', '10', 'bash'], format.columns, 60)]}
        events={1}
        lost={0}
        sample="key = 0"
        width={80}
      />,
    );
    expect(lastFrame()).toBe(
      [
        'sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)',
        'TIME     PID     NR      COMM',
        '10:00:00 1       10      bash',
        'key = 0',
        '1 events, 0 lost · Ctrl-C to stop',
      ].join('\n'),
    );
  });
});

describe('liveOutput', () => {
  it('formats only the rows it shows and renders the newest after a burst', async () => {
    const out = new Sink();
    const counts = { events: 0, lost: 0 };
    const live = liveOutput({ stdout: out as unknown as NodeJS.WriteStream, format, title: 'demo', counts: () => counts });
    live.start();
    for (let b = 0; b < 100; b++) {
      const records = batch(1000, b * 1000);
      counts.events += records.length;
      live.events(records);
    }
    live.end();
    const frames = out.text.split('\x1b').join('');
    expect(frames).toContain('100000 events, 0 lost');
    // rows - 5 = 5 rows shown: the last five events of the burst.
    for (const pid of [100995, 100996, 100997, 100998, 100999]) expect(frames).toContain(`${pid}  10      p${pid - 1000}`);
    expect(frames).not.toContain('100994');
  });
});

/** `text` with every clock time as `HH:MM:SS` and ink's styles left out. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ink's style sequences are what is left out
const untimed = (text: string) => text.replace(/\d\d:\d\d:\d\d/g, 'HH:MM:SS').replace(/\x1b\[(2|22|1)m/g, '');
const ERASE = (lines: number) => `\x1b[${lines}A\r\x1b[J`;

describe('terminalOutput', () => {
  it('prints the first rows plain at once; the live table then erases them and shows them, and takes the next', async () => {
    const out = new Sink();
    const counts = { events: 2, lost: 0 };
    const tty = terminalOutput({ stdout: out as unknown as NodeJS.WriteStream, format, title: 'demo', counts: () => counts });
    tty.start();
    tty.events(batch(2));
    const plain = 'demo\nTIME     PID     NR      COMM\nHH:MM:SS 1000    10      p0\nHH:MM:SS 1001    10      p1\n';
    expect(untimed(out.text)).toBe(plain);
    await out.shows('2 events, 0 lost');
    const live = untimed(out.text);
    expect(live.slice(0, plain.length + ERASE(4).length)).toBe(plain + ERASE(4));
    const frame = live.slice(plain.length + ERASE(4).length);
    expect(frame).toContain('demo\nTIME     PID     NR      COMM\nHH:MM:SS 1000    10      p0\nHH:MM:SS 1001    10      p1\n2 events, 0 lost');
    counts.events = 3;
    tty.events(batch(1, 2));
    tty.end();
    // Drawn by the table only: the plain lines stopped at the takeover.
    expect(untimed(out.text).slice(live.length)).toContain('HH:MM:SS 1001    10      p1\nHH:MM:SS 1002    10      p2\n3 events, 0 lost');
    expect(out.text.match(/p2/g)).toHaveLength(1);
  });

  it('prints no more plain rows than the table shows, and the table starts with the newest', async () => {
    const out = new Sink();
    const tty = terminalOutput({ stdout: out as unknown as NodeJS.WriteStream, format, title: 'demo', counts: () => ({ events: 7, lost: 0 }) });
    tty.start();
    tty.events(batch(3));
    // rows - 5 = 5 rows fit: two more of this batch are printed, the rest kept for the table.
    tty.events(batch(4, 3));
    const plain = `demo\nTIME     PID     NR      COMM\n${[0, 1, 2, 3, 4].map((i) => `HH:MM:SS ${1000 + i}    10      p${i}\n`).join('')}`;
    expect(untimed(out.text)).toBe(plain);
    await out.shows('7 events, 0 lost');
    const frame = untimed(out.text).slice(plain.length);
    expect(frame.startsWith(ERASE(7))).toBe(true);
    expect(frame).toContain(`${[2, 3, 4, 5, 6].map((i) => `HH:MM:SS ${1000 + i}    10      p${i}\n`).join('')}7 events, 0 lost`);
    tty.end();
  });

  it('ends plain, samples included, when the run ends before the table is loaded', async () => {
    const out = new Sink();
    const sample: SampleFormat = { text: (entries, time) => `${time} ${entries.length} entries\n`, json: () => '' };
    const tty = terminalOutput({ stdout: out as unknown as NodeJS.WriteStream, format, title: 'demo', counts: () => ({ events: 1, lost: 0 }) });
    tty.start();
    tty.events(batch(1));
    tty.sample(sample, [{ key: new Uint8Array(4), value: new Uint8Array(4) }]);
    tty.end();
    await turn();
    await turn();
    expect(untimed(out.text)).toBe('demo\nTIME     PID     NR      COMM\nHH:MM:SS 1000    10      p0\nHH:MM:SS 1 entries\n');
  });
});

describe('plain and JSON writers', () => {
  it('write what one event-loop turn produced at once: a header and aligned lines, or JSON lines', async () => {
    const writes: string[] = [];
    const out = { write: (s: string) => writes.push(s) } as unknown as NodeJS.WritableStream;
    const plain = plainOutput(out, format, () => new Date(2024, 0, 1, 12, 0, 5).getTime());
    plain.start();
    plain.events(batch(1));
    plain.events(batch(1, 1));
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['TIME     PID     NR      COMM\n12:00:05 1000    10      p0\n12:00:05 1001    10      p1\n']);
    writes.length = 0;
    const json = jsonOutput(out, format, undefined, undefined, () => Date.UTC(2024, 0, 1, 12, 0, 5, 42));
    json.start();
    json.events(batch(2, 5));
    json.end();
    const at = '"timestamp":"2024-01-01T12:00:05.042Z"';
    expect(writes).toEqual([`{${at},"pid":1005,"nr":10,"comm":"p5"}\n{${at},"pid":1006,"nr":10,"comm":"p6"}\n`]);
  });

  it('caches the clock per second and cuts wide rows', () => {
    let t = new Date(2024, 0, 1, 8, 0, 0, 100).getTime();
    const time = clock(() => t);
    expect(time()).toBe('08:00:00');
    t += 950;
    expect(time()).toBe('08:00:01');
    expect(alignRow('08:00:00', ['1', '2', 'a-very-long-command-name'], format.columns, 30)).toBe('08:00:00 1       2       a-ve…');
  });
});

/** A stream that completes a write only when the test says so: a reader that stopped reading. */
class Stalled {
  chunks: string[] = [];
  private done: (() => void)[] = [];
  write(s: string, cb: () => void): boolean {
    this.chunks.push(s);
    this.done.push(cb);
    return false;
  }
  /** Completes the oldest write, as a reader taking it would. */
  take(): void {
    this.done.shift()!();
  }
}

const turn = () => new Promise((r) => setImmediate(r));

describe('coalesce with a bound', () => {
  it('writes again only once the last write completed, holds the bound meanwhile and counts the events it drops', async () => {
    const out = new Stalled();
    let warnings = 0;
    const q = coalesce(out as unknown as NodeJS.WritableStream, { limit: 10, onFirstDrop: () => warnings++ });
    expect(q.write('aaaa', 2)).toBe(true);
    await turn();
    expect(out.chunks).toEqual(['aaaa']);
    expect([q.write('bbbbbb', 1), q.write('cccc', 1), q.write('d', 1), q.write('ee', 2)]).toEqual([true, true, false, false]);
    await turn();
    expect(out.chunks).toEqual(['aaaa']);
    expect([q.dropped(), warnings]).toEqual([3, 1]);
    out.take();
    expect(out.chunks).toEqual(['aaaa', 'bbbbbbcccc']);
    expect(q.write('f', 1)).toBe(true);
    // Stopped by a signal: what is queued goes to the stream at once, and nothing after it.
    q.abandon();
    expect(out.chunks).toEqual(['aaaa', 'bbbbbbcccc', 'f']);
    expect(q.write('g', 1)).toBe(false);
    expect(q.dropped()).toBe(3 + 1);
    out.take();
    out.take();
    await turn();
    expect(out.chunks).toEqual(['aaaa', 'bbbbbbcccc', 'f']);
  });

  it('hands everything to the stream at a planned end, and plain output counts its events', async () => {
    const out = new Stalled();
    const plain = plainOutput(out as unknown as NodeJS.WritableStream, format, () => new Date(2024, 0, 1, 12, 0, 5).getTime(), { limit: 40 });
    plain.start();
    plain.events(batch(1));
    await turn();
    plain.events(batch(1, 1));
    plain.events(batch(3, 2));
    plain.end();
    expect(out.chunks).toEqual(['TIME     PID     NR      COMM\n12:00:05 1000    10      p0\n', '12:00:05 1001    10      p1\n']);
    expect(plain.dropped()).toBe(3);
  });
});
