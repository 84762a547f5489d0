// The outputs of `ebpm run`: the live view's layout (exact lines), the region that draws it in
// place (read back as a terminal shows it, screenOf), its driver under a burst and on a resize,
// the hand-over from the plain rows, and the piped and JSON writers, fed one batch buffer as
// the native reader hands them.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { TypeLayout } from '../../src/bpf/layout.js';
import { paints } from '../../src/cli/format.js';
import { liveRegion, type Line } from '../../src/cli/views/live-region.js';
import { liveOutput } from '../../src/cli/views/run-live.js';
import { alignRow, clock, coalesce, jsonOutput, plainOutput } from '../../src/cli/views/run-output.js';
import { runScreen } from '../../src/cli/views/run-screen.js';
import { terminalOutput } from '../../src/cli/views/run-terminal.js';
import { eventFormat } from '../../src/package/decode.js';
import type { SampleFormat } from '../../src/package/histogram.js';
import { screenOf } from '../helpers/screen.js';

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
const HEADER = 'TIME     PID     NR      COMM';

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

/** A terminal 60 columns by 10 rows that keeps what is written to it. */
class Sink extends EventEmitter {
  text = '';
  columns = 60;
  rows = 10;
  isTTY = true;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}
const tty = (out: Sink) => out as unknown as NodeJS.WriteStream;

/** `text` with every clock time as `HH:MM:SS`. */
const untimed = (text: string) => text.replace(/\d\d:\d\d:\d\d/g, 'HH:MM:SS');
/** The row of event `i` of `batch`, as the live view and the plain rows show it. */
const row = (i: number) => `HH:MM:SS ${String(1000 + i).padEnd(7)} 10      p${i}`;
const ERASE = (lines: number) => `\x1b[${lines}A\r\x1b[J`;
/** A frame as live-region.ts writes it: over `up` lines, the cursor hidden at the first. */
const frame = (lines: readonly string[], up: number, first = false) =>
  `\x1b[?2026h${first ? '\x1b[?25l' : ''}\x1b[?7l${up > 0 ? `\x1b[${up}A` : ''}\r\x1b[J${lines.map((l) => `${l}\n`).join('')}\x1b[?7h\x1b[?2026l`;
const SHOW_CURSOR = '\x1b[?25h';
/** The screen of a terminal `columns` wide after `text`, each \n made \r\n as a terminal's line discipline does (ONLCR). */
const shown = (text: string, columns: number) => untimed(screenOf(text.replaceAll('\n', '\r\n'), columns).join('\n')).split('\n');
const turn = () => new Promise((r) => setImmediate(r));

describe('runScreen', () => {
  const rows = [0, 1, 2, 3].map((i) => alignRow('10:00:00', [String(1000 + i), '10', `p${i}`], format.columns));
  const counts = { rows, events: 4, lost: 1 };
  const screen = { title: 'sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)', header: HEADER, ...counts };

  it('lays out the summary, the header, the rows, the sample and the counts, each cut to the width', () => {
    expect(runScreen({ ...screen, sample: 'key = 0\n\nkey = 1' }, 80, 23)).toEqual([
      { text: 'sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)', style: 'dim' },
      { text: HEADER, style: 'bold' },
      { text: '10:00:00 1000    10      p0' },
      { text: '10:00:00 1001    10      p1' },
      { text: '10:00:00 1002    10      p2' },
      { text: '10:00:00 1003    10      p3' },
      { text: 'key = 0' },
      { text: '' },
      { text: 'key = 1' },
      { text: '4 events, 1 lost · Ctrl-C to stop', style: 'dim' },
    ]);
    expect(runScreen({ ...counts, title: 'demo', rows: ['10:00:00 a-long-command-name-cut-here'] }, 20, 23).map((l) => l.text)).toEqual([
      'demo',
      '10:00:00 a-long-com…',
      '4 events, 1 lost · …',
    ]);
  });

  it('in a short terminal drops the oldest rows first, then the end of the sample; the last frame is whole', () => {
    const sample = ['a', 'b', 'c', 'd'].join('\n');
    const texts = (height: number) => runScreen({ ...screen, title: 'demo', sample }, 40, height).map((l) => l.text);
    const counts = '4 events, 1 lost · Ctrl-C to stop';
    expect(texts(9)).toEqual(['demo', HEADER, '10:00:00 1002    10      p2', '10:00:00 1003    10      p3', 'a', 'b', 'c', 'd', counts]);
    expect(texts(6)).toEqual(['demo', HEADER, 'a', 'b', '… 2 more lines', counts]);
    expect(texts(3)).toEqual(['demo', HEADER, counts]);
    expect(texts(Number.POSITIVE_INFINITY)).toHaveLength(2 + 4 + 4 + 1);
  });
});

describe('liveRegion', () => {
  it('draws each frame over the last, writes nothing for the same frame, and styles only with color', () => {
    const out = new Sink();
    const region = liveRegion(tty(out), true);
    const a: Line[] = [{ text: 'title', style: 'dim' }, { text: 'HEAD', style: 'bold' }, { text: 'row' }];
    const exits = process.listenerCount('exit');
    region.draw(a);
    region.draw(a);
    region.draw([{ text: 'title', style: 'dim' }, { text: 'row 2' }]);
    // Until done, an exit shows the cursor again.
    expect(process.listenerCount('exit')).toBe(exits + 1);
    region.done();
    expect(process.listenerCount('exit')).toBe(exits);
    expect(out.text).toBe(frame(['\x1b[2mtitle\x1b[22m', '\x1b[1mHEAD\x1b[22m', 'row'], 0, true) + frame(['\x1b[2mtitle\x1b[22m', 'row 2'], 3) + SHOW_CURSOR);
    expect(shown(out.text, 60)).toEqual(['title', 'row 2']);
    const plain = new Sink();
    const unstyled = liveRegion(tty(plain), false);
    unstyled.draw(a);
    expect(plain.text).toBe(frame(['title', 'HEAD', 'row'], 0, true));
    unstyled.done();
  });

  it('after the terminal narrowed, goes up as many rows as the last frame takes rewrapped', () => {
    const out = new Sink();
    out.text = 'prompt$ ebpm run\n';
    const region = liveRegion(tty(out), false);
    region.draw([{ text: 'x'.repeat(50) }, { text: 'y'.repeat(20) }]);
    out.columns = 20;
    region.draw([{ text: 'x'.repeat(19) + '…' }, { text: 'y'.repeat(20) }]);
    // 50 columns rewrap into 3 rows of 20, 20 into one.
    expect(out.text.endsWith(frame(['x'.repeat(19) + '…', 'y'.repeat(20)], 4))).toBe(true);
    expect(shown(out.text, 20)).toEqual(['prompt$ ebpm run', `${'x'.repeat(19)}…`, 'y'.repeat(20)]);
    region.done();
  });
});

describe('paints', () => {
  it('styles on a named terminal but dumb, or with COLORTERM; FORCE_COLOR decides when set', () => {
    const cases: [Record<string, string>, boolean][] = [
      [{ TERM: 'xterm-256color' }, true],
      [{}, false],
      [{ TERM: 'dumb' }, false],
      [{ COLORTERM: 'truecolor' }, true],
      [{ FORCE_COLOR: '1' }, true],
      [{ TERM: 'xterm', FORCE_COLOR: '0' }, false],
      [{ TERM: 'xterm', FORCE_COLOR: 'false' }, false],
    ];
    expect(cases.map(([env]) => paints(env))).toEqual(cases.map(([, want]) => want));
  });
});

describe('liveOutput', () => {
  it('formats only the rows it shows and draws the newest after a burst', () => {
    const out = new Sink();
    const counts = { events: 0, lost: 0 };
    const live = liveOutput({ stdout: tty(out), format, title: 'demo', counts: () => counts, color: false });
    live.start();
    for (let b = 0; b < 100; b++) {
      const records = batch(1000, b * 1000);
      counts.events += records.length;
      live.events(records);
    }
    live.end();
    // rows - 5 = 5 rows kept: the last five events of the burst.
    const last = [99995, 99996, 99997, 99998, 99999].map(row);
    expect(untimed(out.text)).toBe(
      frame(['demo', HEADER, '0 events, 0 lost · Ctrl-C to stop'], 0, true) +
        frame(['demo', HEADER, ...last, '100000 events, 0 lost · Ctrl-C to stop'], 3) +
        SHOW_CURSOR,
    );
  });

  it('draws again at once when the terminal is resized, cut to its new width', () => {
    const out = new Sink();
    const live = liveOutput({
      stdout: tty(out),
      format,
      title: 'sigsnoop 1.2.0: attached sig_trace (tracepoint/signal/signal_generate)',
      counts: () => ({ events: 1, lost: 0 }),
      color: false,
    });
    live.start();
    live.events(batch(1));
    out.columns = 24;
    out.emit('resize');
    expect(shown(out.text, 24)).toEqual(['sigsnoop 1.2.0: attache…', 'TIME     PID     NR    …', 'HH:MM:SS 1000    10    …', '1 events, 0 lost · Ctrl…']);
    live.end();
    expect(out.listenerCount('resize')).toBe(0);
  });
});

describe('terminalOutput', () => {
  it('prints the first rows plain at once; the live view then erases them and shows them, and takes the next', async () => {
    const out = new Sink();
    const counts = { events: 2, lost: 0 };
    const run = terminalOutput({ stdout: tty(out), format, title: 'demo', counts: () => counts, color: false });
    run.start();
    run.events(batch(2));
    const plain = `demo\n${HEADER}\n${row(0)}\n${row(1)}\n`;
    expect(untimed(out.text)).toBe(plain);
    await turn();
    expect(untimed(out.text)).toBe(plain + ERASE(4) + frame(['demo', HEADER, row(0), row(1), '2 events, 0 lost · Ctrl-C to stop'], 0, true));
    const taken = out.text.length;
    counts.events = 3;
    run.events(batch(1, 2));
    run.end();
    // Drawn by the view only: the plain lines stopped at the takeover.
    expect(untimed(out.text.slice(taken))).toBe(frame(['demo', HEADER, row(0), row(1), row(2), '3 events, 0 lost · Ctrl-C to stop'], 5) + SHOW_CURSOR);
    expect(shown(out.text, 60)).toEqual(['demo', HEADER, row(0), row(1), row(2), '3 events, 0 lost · Ctrl-C to stop']);
  });

  it('prints no more plain rows than the view shows, and the view starts with the newest', async () => {
    const out = new Sink();
    const run = terminalOutput({ stdout: tty(out), format, title: 'demo', counts: () => ({ events: 7, lost: 0 }), color: false });
    run.start();
    run.events(batch(3));
    // rows - 5 = 5 rows fit: two more of this batch are printed, the rest kept for the view.
    run.events(batch(4, 3));
    const plain = `demo\n${HEADER}\n${[0, 1, 2, 3, 4].map((i) => `${row(i)}\n`).join('')}`;
    expect(untimed(out.text)).toBe(plain);
    await turn();
    expect(untimed(out.text)).toBe(plain + ERASE(7) + frame(['demo', HEADER, ...[2, 3, 4, 5, 6].map(row), '7 events, 0 lost · Ctrl-C to stop'], 0, true));
    run.end();
  });

  it('ends plain, samples included, when the run ends within the turn of its first rows', async () => {
    const out = new Sink();
    const sample: SampleFormat = { text: (entries, time) => `${time} ${entries.length} entries\n`, json: () => '' };
    const run = terminalOutput({ stdout: tty(out), format, title: 'demo', counts: () => ({ events: 1, lost: 0 }), color: false });
    run.start();
    run.events(batch(1));
    run.sample(sample, [{ key: new Uint8Array(4), value: new Uint8Array(4) }]);
    run.end();
    await turn();
    await turn();
    expect(untimed(out.text)).toBe(`demo\n${HEADER}\n${row(0)}\nHH:MM:SS 1 entries\n`);
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

  it('caches the clock per second and aligns rows', () => {
    let t = new Date(2024, 0, 1, 8, 0, 0, 100).getTime();
    const time = clock(() => t);
    expect(time()).toBe('08:00:00');
    t += 950;
    expect(time()).toBe('08:00:01');
    expect(alignRow('08:00:00', ['1', '2', 'a-very-long-command-name'], format.columns)).toBe('08:00:00 1       2       a-very-long-command-name');
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
