// Text ebpm did not write (package metadata, registry messages) reaches the terminal with its
// control characters made visible: an escape sequence in a description prints as text instead
// of retitling the window or clearing the screen. `--json` stays JSON, which escapes them itself.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { terminalSafe } from '../../src/cli/format.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

const HOSTILE = '\u001b]0;pwned\u0007\u001b[2J';
const SHOWN = '\\x1b]0;pwned\\x07\\x1b[2J';

describe('terminalSafe', () => {
  it('shows C0, DEL and C1 characters as \\xNN, keeping tabs and newlines only in multi-line text', () => {
    expect(terminalSafe(`a${HOSTILE}b`)).toBe(`a${SHOWN}b`);
    expect(terminalSafe('\u009b31mred\u007f\r')).toBe('\\x9b31mred\\x7f\\x0d');
    expect(terminalSafe('one\ttwo\nthree')).toBe('one\\x09two\\x0athree');
    expect(terminalSafe('one\ttwo\nthree\u001b', true)).toBe('one\ttwo\nthree\\x1b');
    expect(terminalSafe('plain text, ünïcödé ✓')).toBe('plain text, ünïcödé ✓');
  });
});

describeWith(['clang'], 'printed package metadata', () => {
  let sb: Sandbox;
  let pkg: BuiltPackage;

  beforeAll(async () => {
    sb = sandbox();
    pkg = await packageLayout(join(sb.root, 'src'), { version: '1.0.0', description: `Trace signals ${HOSTILE}`, keywords: ['signal'] });
  });

  it('inspect shows a hostile description as text, and --json keeps it as JSON', async () => {
    const r = await ebpm(['inspect', pkg.dir], sb.env);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(`sigsnoop@1.0.0 (ebpm) - Trace signals ${SHOWN}`);
    expect(r.out).not.toContain('\u001b');
    const j = await ebpm(['inspect', pkg.dir, '--json'], sb.env);
    expect((JSON.parse(j.out) as { metadata: { description: string } }).metadata.description).toBe(`Trace signals ${HOSTILE}`);
  });

  it('search shows it as text in its table', async () => {
    expect((await ebpm(['push', pkg.dir], sb.env)).code).toBe(0);
    const r = await ebpm(['search', 'signal'], sb.env);
    expect(r).toEqual({
      code: 0,
      err: '',
      out: `NAME      VERSION  DESCRIPTION                            REFERENCE\nsigsnoop  1.0.0    Trace signals ${SHOWN}  local.invalid/sigsnoop\n`,
    });
  });
});

describe('printed registry messages', () => {
  let server: Server;
  let host: string;

  beforeAll(async () => {
    // A registry whose every answer is a distribution-spec error with escape sequences in its message.
    server = createServer((_, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: `gone ${HOSTILE}` }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('an error line shows them as text; the --json error object is JSON', async () => {
    const sb = sandbox();
    // A range lists tags: a GET, whose error body the registry fills.
    const r = await ebpm(['pull', `${host}/evil@1`], sb.env);
    const line = `pull ${host}/evil@1: resolve ${host}/evil@1: list tags of evil: ${host}: repository evil not found: gone`;
    expect(r).toEqual({
      code: 1,
      out: '',
      err: `error: ${line} ${SHOWN}\nhint: no such repository on ${host}; check the name, or push to create it\n`,
    });
    const j = await ebpm(['pull', `${host}/evil@1`, '--json'], sb.env);
    expect(JSON.parse(j.out)).toEqual({
      error: { code: 'NOT_FOUND', message: `${line} ${HOSTILE}`, hint: `no such repository on ${host}; check the name, or push to create it` },
    });
  });
});
