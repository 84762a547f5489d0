// Display logic (pure), the live view of push, pull and cp, and the tables of ls, search, versions and ps.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  bar,
  formatBytes,
  formatRate,
  INITIAL_TRANSFER,
  isLive,
  layoutTable,
  reduceTransfer,
  transferTotals,
  type TransferState,
} from '../../src/cli/format.js';
import { shortDigest } from '../../src/core/digest.js';
import { printTable } from '../../src/cli/dist.js';
import type { Io } from '../../src/cli/command.js';
import { liveTransfer } from '../../src/cli/views/transfer-live.js';
import { transferScreen } from '../../src/cli/views/transfer-screen.js';
import type { TransferEvent } from '../../src/services/transfer.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;
const D3 = `sha256:${'c'.repeat(64)}`;

/** A blob of 1 KiB starting to move. */
const start = (digest: string, label: string): TransferEvent => ({ kind: 'blob-start', digest, size: 1024, label });

/** A terminal `columns` by `rows` that keeps what is written to it. */
function terminal(columns: number, rows: number) {
  const out = {
    text: '',
    isTTY: true,
    columns,
    rows,
    write(t: string) {
      out.text += t;
      return true;
    },
    on: () => out,
    off: () => out,
  };
  return out;
}

function fold(events: TransferEvent[]): TransferState {
  return events.reduce((s, e, i) => reduceTransfer(s, e, 1000 + i), INITIAL_TRANSFER);
}

describe('format', () => {
  it('writes sizes, rates and bars', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(64 * 1024 * 1024), formatBytes(3 * 1024 ** 4)]).toEqual([
      '0 B',
      '1023 B',
      '1.5 KiB',
      '64.0 MiB',
      '3.0 TiB',
    ]);
    expect([formatRate(1024, 0), formatRate(2 * 1024 * 1024, 500)]).toEqual(['–', '4.0 MiB/s']);
    expect([bar(0, 4), bar(0.5, 4), bar(2, 4), bar(Number.NaN, 2)]).toEqual(['░░░░', '██░░', '████', '░░']);
    expect(shortDigest(D1)).toBe('sha256:aaaaaaaaaaaa');
  });

  it('lays tables out in aligned columns, cutting long cells', () => {
    expect(
      layoutTable(
        ['NAME', 'VERSION'],
        [
          ['sigsnoop', '1.2.0'],
          ['x', '10.0.0-rc.1'],
        ],
      ),
    ).toEqual(['NAME      VERSION', 'sigsnoop  1.2.0', 'x         10.0.0-rc.1']);
    expect(layoutTable(['A', 'B'], [['abcdefgh', 'z']], 5)).toEqual(['A      B', 'abcd…  z']);
  });

  it('folds transfer events into per-blob and total progress', () => {
    const s = fold([
      { kind: 'resolving', ref: 'r' },
      { kind: 'resolved', ref: 'host/x:1.0.0', digest: D1 },
      { kind: 'blob-skipped', digest: D3, size: 7, label: 'config' },
      { kind: 'blob-start', digest: D1, size: 100, label: 'x.bpf.o' },
      { kind: 'blob-start', digest: D2, size: 50, label: 'x.wasm' },
      { kind: 'blob-progress', digest: D1, bytes: 40 },
      { kind: 'blob-done', digest: D2 },
    ]);
    expect(s.resolving).toBeUndefined();
    expect(s.resolved).toEqual({ ref: 'host/x:1.0.0', digest: D1 });
    expect(s.startedAt).toBe(1003);
    expect(s.blobs.map((b) => [b.label, b.bytes, b.size, b.state])).toEqual([
      ['config', 7, 7, 'skipped'],
      ['x.bpf.o', 40, 100, 'active'],
      ['x.wasm', 50, 50, 'done'],
    ]);
    expect(transferTotals(s)).toEqual({ bytes: 90, size: 150 });
  });

  it('draws live views only on a terminal, without --json, outside CI and without NO_COLOR (any non-empty value)', () => {
    const io = (isTTY: boolean, env: NodeJS.ProcessEnv) => ({ stdout: { isTTY } as NodeJS.WriteStream, env });
    expect([
      isLive(io(true, {}), false),
      isLive(io(true, { CI: '' }), false),
      isLive(io(true, { CI: 'true' }), false),
      isLive(io(true, { CI: '1' }), false),
      isLive(io(true, {}), true),
      isLive(io(false, {}), false),
      isLive(io(true, { NO_COLOR: '1' }), false),
      isLive(io(true, { NO_COLOR: '' }), false),
    ]).toEqual([true, true, false, false, false, false, false, true]);
  });
});

describe('views', () => {
  it('shows a spinner while resolving', () => {
    const lines = transferScreen({
      verb: 'pull',
      state: fold([{ kind: 'resolving', ref: 'host/ebpm/sigsnoop@1.2' }]),
      elapsedMs: 0,
      frame: 2,
      width: 100,
      height: 24,
    });
    expect(lines).toEqual([{ text: '⠹ resolving host/ebpm/sigsnoop@1.2', color: { at: 0, length: 1, color: 'yellow' } }]);
  });

  it('draws a bar per blob and a total with bytes and rate', () => {
    const state = fold([
      { kind: 'resolved', ref: 'host/ebpm/sigsnoop:1.2.5', digest: D1 },
      { kind: 'blob-start', digest: D1, size: 2048, label: 'sigsnoop.bpf.o' },
      { kind: 'blob-progress', digest: D1, bytes: 1024 },
      { kind: 'blob-start', digest: D2, size: 1024, label: 'sigsnoop.wasm' },
      { kind: 'blob-done', digest: D2 },
    ]);
    const lines = transferScreen({ verb: 'pull', state, elapsedMs: 1000, frame: 0, width: 100, height: 24 });
    expect(lines.map((l) => l.text)).toEqual([
      'sha256:bbbbbbbbbbbb  sigsnoop.wasm     ████████████████████████  1.0 KiB / 1.0 KiB',
      'sha256:aaaaaaaaaaaa  sigsnoop.bpf.o    ████████████░░░░░░░░░░░░  1.0 KiB / 2.0 KiB  1.0 KiB/s',
      'pulling host/ebpm/sigsnoop:1.2.5  ████████████████░░░░░░░░  2.0 KiB / 3.0 KiB  2.0 KiB/s',
    ]);
    // The bars in colour (a finished blob's green, one in flight cyan), the total bold.
    expect(lines.map((l) => [l.color, l.style])).toEqual([
      [{ at: 39, length: 24, color: 'green' }, undefined],
      [{ at: 39, length: 24, color: 'cyan' }, undefined],
      [undefined, 'bold'],
    ]);
  });

  it('keeps one row per blob in label order, the root last, whatever order they end in; the last frame has no rate', () => {
    const state = fold([
      { kind: 'resolved', ref: 'host/ebpm/sigsnoop:1.2.5', digest: D1 },
      start(D3, 'source.tar.gz'),
      start(D2, 'README.md'),
      { kind: 'blob-done', digest: D3 },
      { kind: 'blob-done', digest: D2 },
      start(D1, 'application/vnd.oci.image.manifest.v1+json'),
      { kind: 'blob-done', digest: D1 },
    ]);
    const lines = transferScreen({ verb: 'push', state, elapsedMs: 1000, frame: 0, width: 100, height: 24, final: true });
    expect(lines.map((l) => l.text)).toEqual([
      'sha256:bbbbbbbbbbbb  README.md         ████████████████████████  1.0 KiB / 1.0 KiB',
      'sha256:cccccccccccc  source.tar.gz     ████████████████████████  1.0 KiB / 1.0 KiB',
      'sha256:aaaaaaaaaaaa  application/vnd…  ████████████████████████  1.0 KiB / 1.0 KiB',
      'pushing host/ebpm/sigsnoop:1.2.5  ████████████████████████  3.0 KiB / 3.0 KiB',
    ]);
  });

  it('stays shorter than the terminal: blobs in flight stay, the earliest others fill what is left, the rest are counted', () => {
    const D4 = `sha256:${'d'.repeat(64)}`;
    const D5 = `sha256:${'e'.repeat(64)}`;
    const state = fold([
      { kind: 'resolved', ref: 'host/ebpm/sigsnoop:1.2.5', digest: D1 },
      ...[start(D2, 'a.o'), start(D3, 'b.o'), start(D4, 'c.o'), start(D5, 'd.o')],
      ...[D2, D3, D5].map((digest): TransferEvent => ({ kind: 'blob-done', digest })),
      start(D1, 'manifest'),
    ]);
    const lines = transferScreen({ verb: 'push', state, elapsedMs: 1000, frame: 0, width: 100, height: 7, final: true });
    expect(lines.map((l) => l.text)).toEqual([
      'sha256:bbbbbbbbbbbb  a.o               ████████████████████████  1.0 KiB / 1.0 KiB',
      'sha256:dddddddddddd  c.o               ░░░░░░░░░░░░░░░░░░░░░░░░  0 B / 1.0 KiB  0 B/s',
      'sha256:aaaaaaaaaaaa  manifest          ░░░░░░░░░░░░░░░░░░░░░░░░  0 B / 1.0 KiB  0 B/s',
      '… and 2 more',
      'pushing host/ebpm/sigsnoop:1.2.5  ██████████████░░░░░░░░░░  3.0 KiB / 5.0 KiB',
    ]);
  });
});

describe('printTable', () => {
  /** A terminal 24 columns wide, and the command's `io` writing to it. */
  const narrow = (env: Record<string, string>) => {
    const out = terminal(24, 10);
    return { out, io: { stdout: out, stderr: out, env, cwd: '/' } as unknown as Io };
  };
  const header = ['NAME', 'VERSION'];
  const rows = [
    ['sigsnoop', '1.2.0'],
    ['opensnoop-with-a-long-name', '10.0.0\u001b[2J'],
  ];

  it('draws it once on a terminal: the header bold, each line cut to the width, the cursor shown after', async () => {
    const { out, io } = narrow({ TERM: 'xterm' });
    await printTable(io, header, rows);
    expect(out.text).toBe(
      '\x1b[?2026h\x1b[?25l\x1b[?7l\r\x1b[J' +
        `\x1b[1m${'NAME'.padEnd(23)}…\x1b[22m\n` +
        `${'sigsnoop'.padEnd(23)}…\n` +
        'opensnoop-with-a-long-n…\n' +
        '\x1b[?7h\x1b[?2026l\x1b[?25h',
    );
  });

  it('prints aligned plain lines under NO_COLOR, and whole cells with truncate: false', async () => {
    const plain = narrow({ TERM: 'xterm', NO_COLOR: '1' });
    await printTable(plain.io, header, rows);
    expect(plain.out.text).toBe('NAME                        VERSION\nsigsnoop                    1.2.0\nopensnoop-with-a-long-name  10.0.0\\x1b[2J\n');
    const whole = narrow({ TERM: 'xterm' });
    await printTable(whole.io, header, rows, { truncate: false });
    expect(whole.out.text).toBe(plain.out.text);
  });
});

describe('liveTransfer', () => {
  afterEach(() => vi.useRealTimers());
  const BEGIN = '\x1b[?2026h\x1b[?25l\x1b[?7l';
  const END = '\x1b[?7h\x1b[?2026l';

  it('leaves the last frame on the terminal in colour, without rates, the cursor shown', () => {
    const out = terminal(100, 24);
    const live = liveTransfer(out as unknown as NodeJS.WriteStream, 'push', true);
    live.onEvent({ kind: 'resolved', ref: 'host/x:1.0.0', digest: D1 });
    live.onEvent({ kind: 'blob-start', digest: D2, size: 1024, label: 'x.bpf.o' });
    live.onEvent({ kind: 'blob-done', digest: D2 });
    live.stop();
    const full = '█'.repeat(24);
    expect(out.text).toBe(
      `${BEGIN}\r\x1b[J` +
        `sha256:bbbbbbbbbbbb  ${'x.bpf.o'.padEnd(16)}  \x1b[32m${full}\x1b[39m  1.0 KiB / 1.0 KiB\n` +
        `\x1b[1mpushing host/x:1.0.0  ${full}  1.0 KiB / 1.0 KiB\x1b[22m\n` +
        `${END}\x1b[?25h`,
    );
  });

  it('takes its spinner back when the transfer ends while resolving, leaving no line', () => {
    vi.useFakeTimers();
    const out = terminal(100, 24);
    const live = liveTransfer(out as unknown as NodeJS.WriteStream, 'pull', false);
    live.onEvent({ kind: 'resolving', ref: 'host/x:1.0.0' });
    vi.advanceTimersByTime(80);
    live.stop();
    expect(out.text).toBe(`${BEGIN}\r\x1b[J⠙ resolving host/x:1.0.0\n${END}\x1b[?2026h\x1b[?7l\x1b[1A\r\x1b[J${END}\x1b[?25h`);
  });
});
