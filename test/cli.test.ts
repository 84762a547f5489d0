import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { main } from '../src/cli/main.js';

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  return { io: { stdout: out, stderr: err, env: {}, cwd: process.cwd() }, out: () => o, err: () => e };
}

describe('cli', () => {
  it('rejects an unknown command with exit 2 and a hint', async () => {
    const t = io();
    expect(await main(['frobnicate'], t.io)).toBe(2);
    expect(t.err()).toBe('error: unknown command "frobnicate"\nhint: run `ebpm --help` for the list of commands\n');
  });

  it('prints its version', async () => {
    const t = io();
    expect(await main(['--version'], t.io)).toBe(0);
    expect(t.out()).toBe('ebpm 0.1.0\n');
  });
});
