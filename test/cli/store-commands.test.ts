// The store commands as docker users expect them (issue 17, item 8): `rm a b c` handles each
// reference on its own; `ls` has -q, filters, human sizes and relative times (--json exact).
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { formatBytes } from '../../src/cli/format.js';
import { spawn } from 'node:child_process';
import { BIN, runEbpm, spawnEbpm, ttyEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { blobFiles, ebpm, ingestFiles, json, packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

const NAMES = ['alpha', 'beta', 'sigsnoop'] as const;

describeWith(['clang'], 'store commands', () => {
  let sb: Sandbox;
  const pkgs: Record<string, BuiltPackage> = {};

  beforeAll(async () => {
    sb = sandbox();
    for (const name of NAMES) {
      pkgs[name] = await packageLayout(join(sb.root, 'src', name), { name, version: '1.0.0' });
      expect((await ebpm(['push', pkgs[name]!.dir], sb.env)).code).toBe(0);
    }
    expect((await ebpm(['pull', ...NAMES.map((n) => `${n}:1.0.0`)], sb.env)).code).toBe(0);
  });

  /** `lsAt` runs `ebpm ls` in-process on a terminal-less stdout with the clock at `now`. */
  async function lsAt(now: number, args: string[] = []): Promise<string> {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(await main(['ls', ...args], { stdout, stderr: new PassThrough(), env: sb.env, cwd: sb.root, now: () => now })).toBe(0);
    return out;
  }

  it('ls shows human sizes and how long ago each was pulled; --json keeps bytes and ISO times', async () => {
    const listed = await json<{ reference: string; size: number; pulledAt: string }[]>(['ls'], sb.env);
    expect(listed.map((e) => [e.reference, e.size])).toEqual(NAMES.map((n) => [`local.invalid/${n}:1.0.0`, pkgs[n]!.size]));
    expect(listed.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.pulledAt))).toBe(true);
    const last = Math.max(...listed.map((e) => Date.parse(e.pulledAt)));
    // Every package here is 7.5 KiB: the same object, a manifest and a config.
    expect(NAMES.map((n) => formatBytes(pkgs[n]!.size))).toEqual(['7.5 KiB', '7.5 KiB', '7.5 KiB']);
    const table = (age: string) =>
      [
        'REFERENCE                     NAME      VERSION  DIGEST               SIZE     PULLED',
        `local.invalid/alpha:1.0.0     alpha     1.0.0    ${pkgs.alpha!.digest.slice(0, 19)}  7.5 KiB  ${age}`,
        `local.invalid/beta:1.0.0      beta      1.0.0    ${pkgs.beta!.digest.slice(0, 19)}  7.5 KiB  ${age}`,
        `local.invalid/sigsnoop:1.0.0  sigsnoop  1.0.0    ${pkgs.sigsnoop!.digest.slice(0, 19)}  7.5 KiB  ${age}`,
        '',
      ].join('\n');
    expect(await lsAt(last + 3 * 60_000 + 59_000)).toBe(table('3 minutes ago'));
    expect(await lsAt(last + 1_000)).toBe(table('1 second ago'));
    expect(await lsAt(last + 2 * 3_600_000)).toBe(table('2 hours ago'));
    expect(await lsAt(last + 13 * 86_400_000)).toBe(table('1 week ago'));
    expect(await lsAt(last + 400 * 86_400_000)).toBe(table('1 year ago'));
    expect(await lsAt(last - 5_000)).toBe(table('just now'));
  });

  it('ls -q prints references only, and filters by a part of the name or a glob', async () => {
    expect(await runEbpm(['ls', '-q'], { env: sb.env })).toEqual({
      code: 0,
      signal: null,
      stdout: 'local.invalid/alpha:1.0.0\nlocal.invalid/beta:1.0.0\nlocal.invalid/sigsnoop:1.0.0\n',
      stderr: '',
    });
    const quiet = async (...args: string[]) => (await runEbpm(['ls', '-q', ...args], { env: sb.env })).stdout;
    expect(await quiet('snoop')).toBe('local.invalid/sigsnoop:1.0.0\n');
    expect(await quiet('a')).toBe('local.invalid/alpha:1.0.0\nlocal.invalid/beta:1.0.0\n');
    expect(await quiet('*a')).toBe('local.invalid/alpha:1.0.0\nlocal.invalid/beta:1.0.0\n');
    expect(await quiet('?eta:1.*')).toBe('local.invalid/beta:1.0.0\n');
    expect(await quiet('local.invalid/s*')).toBe('local.invalid/sigsnoop:1.0.0\n');
    expect(await quiet('sig', 'alp')).toBe('local.invalid/alpha:1.0.0\nlocal.invalid/sigsnoop:1.0.0\n');
    expect(await quiet('a.*')).toBe('');
    expect(await runEbpm(['ls', 'nothing*'], { env: sb.env })).toEqual({ code: 0, signal: null, stdout: 'nothing stored matches nothing*\n', stderr: '' });
    const both = await runEbpm(['ls', '-q', '--json'], { env: sb.env });
    expect(both).toEqual({
      code: 2,
      signal: null,
      stdout: '{"error":{"code":"USAGE","message":"ls: -q and --json do not go together","hint":"usage: ebpm ls [<filter>...] [-q] [--json]"}}\n',
      stderr: 'error: ls: -q and --json do not go together\nhint: usage: ebpm ls [<filter>...] [-q] [--json]\n',
    });
  });

  it('rm a b c removes each it can, reports each missing one, and exits 1', async () => {
    const reclaimed = (n: string) => `(2 blobs, ${pkgs[n]!.size - pkgs[n]!.objectSize} bytes reclaimed)`;
    expect(await runEbpm(['rm', 'alpha:1.0.0', 'nosuch', 'beta:1.0.0', 'gone:2'], { env: sb.env })).toEqual({
      code: 1,
      signal: null,
      stdout: `removed local.invalid/alpha:1.0.0 ${pkgs.alpha!.digest} ${reclaimed('alpha')}\nremoved local.invalid/beta:1.0.0 ${pkgs.beta!.digest} ${reclaimed('beta')}\n`,
      stderr:
        'error: rm nosuch: local.invalid/nosuch: not in the local store\nhint: see what is stored with `ebpm ls`, or pull it first\n' +
        'error: rm gone:2: local.invalid/gone:2: not in the local store\nhint: see what is stored with `ebpm ls`, or pull it first\n',
    });
    expect((await runEbpm(['ls', '-q'], { env: sb.env })).stdout).toBe('local.invalid/sigsnoop:1.0.0\n');
    // A bad reference among them is a usage error (2), and still does not keep the others.
    expect((await ebpm(['pull', 'alpha:1.0.0'], sb.env)).code).toBe(0);
    const bad = await runEbpm(['rm', 'Bad..Name', 'alpha:1.0.0', '--json'], { env: sb.env });
    expect([bad.code, JSON.parse(bad.stdout).error.code, bad.stderr.split('\n')[0]]).toEqual([
      2,
      'INVALID_REFERENCE',
      'error: rm Bad..Name: invalid reference "Bad..Name": bad name "Bad..Name"',
    ]);
    expect((await runEbpm(['ls', '-q'], { env: sb.env })).stdout).toBe('local.invalid/sigsnoop:1.0.0\n');
  });

  /** `pipe` runs `ebpm <from> | [filter |] ebpm <to>` as a shell would: real pipes between real processes. */
  async function pipe(from: string[], to: string[], env: Record<string, string>, filter?: string[]) {
    const start = (argv: string[], stdin: 'ignore' | NodeJS.ReadableStream, e = env) =>
      spawn(argv[0]!, argv.slice(1), { env: e, stdio: [stdin as 'ignore', 'pipe', 'pipe'] });
    const left = start([BIN, ...from], 'ignore', sb.env);
    const middle = filter === undefined ? undefined : start(filter, left.stdout);
    const right = start([BIN, ...to], (middle ?? left).stdout);
    // Only the importer's stdout is read here: the others' go into the pipe, so theirs never
    // ends in this process; they are done once exited with their stderr read.
    const collect = (p: ReturnType<typeof start>, out: boolean) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        let stdout = '';
        let stderr = '';
        if (out) p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const ended = new Promise((r) => p.stderr.on('end', r));
        const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
        const closed = out ? new Promise((r) => p.on('close', r)) : undefined;
        void Promise.all([ended, exited, closed]).then(([, code]) => resolve({ code, stdout, stderr }));
      });
    const [l, r] = await Promise.all([collect(left, false), collect(right, true), middle && collect(middle, false)]);
    return { left: l, right: r };
  }

  it('export <ref> - writes the tar to stdout, and import - reads it from stdin', async () => {
    const other = sandbox();
    const p = pkgs.sigsnoop!;
    const { left, right } = await pipe(['export', 'sigsnoop:1.0.0', '-'], ['import', '-'], other.env);
    expect(left).toEqual({ code: 0, stdout: '', stderr: `exported local.invalid/sigsnoop:1.0.0 ${p.digest}\n` });
    expect(right).toEqual({ code: 0, stdout: `imported local.invalid/sigsnoop:1.0.0 ${p.digest}\n`, stderr: '' });
    expect(blobFiles(other.store)).toEqual([...p.blobs.keys()].sort());
    expect((await runEbpm(['ls', '-q'], { env: other.env })).stdout).toBe('local.invalid/sigsnoop:1.0.0\n');
  });

  it('import - of a tar cut short takes nothing, and a terminal is refused at either end', async () => {
    const other = sandbox();
    const { right } = await pipe(['export', 'sigsnoop:1.0.0', '-'], ['import', '-'], other.env, ['head', '-c', '4000']);
    expect(right).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: import -: the archive is truncated or corrupt\nhint: the archive is damaged or incomplete; export it again\n',
    });
    expect([blobFiles(other.store), ingestFiles(other.store)]).toEqual([[], []]);
    const onTty = ttyEbpm(['export', 'sigsnoop:1.0.0', '-'], { env: sb.env });
    expect(await onTty.exited()).toBe(2);
    expect(onTty.screen()).toBe(
      'error: export: refusing to write a tar to a terminal\r\nhint: redirect stdout (ebpm export <ref> - > file.tar), or give a file name\r\n',
    );
    const fromTty = ttyEbpm(['import', '-'], { env: other.env });
    expect(await fromTty.exited()).toBe(2);
    expect(fromTty.screen()).toBe(
      'error: import: - reads the archive from stdin, which is a terminal\r\nhint: pipe a tar in (ebpm export <ref> - | ebpm import -), or give a file name\r\n',
    );
    expect(await runEbpm(['export', 'sigsnoop:1.0.0', '-', '--json'], { env: sb.env })).toEqual({
      code: 2,
      signal: null,
      stdout: '{"error":{"code":"USAGE","message":"export: --json and - both write to stdout","hint":"give a file name to have --json"}}\n',
      stderr: 'error: export: --json and - both write to stdout\nhint: give a file name to have --json\n',
    });
  });

  it('export <ref> - to a stdout that fails says so in one line, exit 1', async () => {
    const full = openSync('/dev/full', 'w');
    const r = await runEbpm(['export', 'sigsnoop:1.0.0', '-'], { env: sb.env, stdio: ['ignore', full, 'pipe'] });
    closeSync(full);
    expect([r.code, r.stderr]).toEqual([1, 'error: export -: write stdout: ENOSPC\nhint: free space or fix where stdout goes, then export again\n']);
    // A reader gone before the first byte: the pipe's read end closed at once.
    const gone = spawnEbpm(['export', 'sigsnoop:1.0.0', '-'], { env: sb.env });
    gone.child.stdout!.destroy();
    const g = await gone.exited();
    expect([g.code, g.stderr]).toEqual([
      1,
      'error: export -: write stdout: the reader went away before the end of the archive\n' +
        'hint: what it read is a truncated tar, which ebpm import refuses; export again to a reader that takes it all\n',
    ]);
  });

  it('prune counts the partial downloads of dead writers it removes, in its bytes', async () => {
    const ingest = join(sb.store, 'ingest');
    // A pull killed mid-blob (its temp file is named after its dead process), and an import's scratch directory.
    writeFileSync(join(ingest, '999999999.1.0123abcd'), Buffer.alloc(1_000_000));
    mkdirSync(join(ingest, '999999998.1.4567ef01', 'blobs'), { recursive: true });
    writeFileSync(join(ingest, '999999998.1.4567ef01', 'blobs', 'x'), Buffer.alloc(500));
    // A blob no tag reaches.
    const stray = Buffer.from('stray bytes');
    writeFileSync(join(sb.store, 'blobs', 'sha256', createHash('sha256').update(stray).digest('hex')), stray);
    expect(await runEbpm(['prune'], { env: sb.env })).toEqual({
      code: 0,
      signal: null,
      stdout: `pruned 1 blobs and 2 partial downloads, ${1_000_000 + 500 + stray.length} bytes reclaimed\n`,
      stderr: '',
    });
    expect(ingestFiles(sb.store)).toEqual([]);
    writeFileSync(join(ingest, '999999999.1.0123abcd'), Buffer.alloc(7));
    expect(JSON.parse((await runEbpm(['prune', '--json'], { env: sb.env })).stdout)).toEqual({
      removedBlobs: 0,
      removedPartial: 1,
      reclaimedBytes: 7,
      droppedReferrers: 0,
    });
    expect((await runEbpm(['prune'], { env: sb.env })).stdout).toBe('pruned 0 blobs, 0 bytes reclaimed\n');
  });
});
