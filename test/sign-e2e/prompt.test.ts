// The password prompt on a real pseudo-terminal (util-linux `script`): asked on /dev/tty,
// nothing echoed, typed twice for keygen, and the key it made opens with that password.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readPassword, type Terminal } from '../../src/cli/password.js';
import { readPrivateKey } from '../../src/sign/keys.js';
import { cliEnv, ttyEbpm } from '../helpers/cli.js';
import { tempDir } from './fixtures.js';

const SECRET = 'Typed-on-a-tty-9';
const PROMPTS = ['Enter password for private key: ', 'Enter password for private key again: '];

/** Runs `ebpm args` on a pty, typing each of `lines` once its prompt is on the screen; returns what the terminal showed. */
async function onTty(args: string[], lines: string[], home: string): Promise<{ code: number | null; screen: string }> {
  const tty = ttyEbpm(args, { cwd: home, env: cliEnv(home) });
  for (const [i, line] of lines.entries()) {
    await tty.seen(PROMPTS[i]!);
    tty.type(`${line}\r`);
  }
  const code = await tty.exited();
  return { code, screen: tty.screen() };
}

describe('the password prompt', () => {
  it('asks twice without echo, and the key opens with what was typed', async () => {
    const home = tempDir('prompt-');
    const r = await onTty(['keygen'], [SECRET, SECRET], home);
    expect(r.code).toBe(0);
    expect(r.screen).toContain('Enter password for private key: ');
    expect(r.screen).toContain('Enter password for private key again: ');
    expect(r.screen).toContain(`wrote ${home}/cosign.key (private, encrypted) and ${home}/cosign.pub`);
    expect(r.screen.includes(SECRET)).toBe(false);
    const key = await readPrivateKey(readFileSync(join(home, 'cosign.key'), 'utf8'), SECRET);
    expect(key.publicKey.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses two different passwords and writes nothing', async () => {
    const home = tempDir('prompt-');
    const r = await onTty(['keygen'], [SECRET, `${SECRET}x`], home);
    expect(r.code).toBe(1);
    expect(r.screen).toContain('error: the passwords do not match');
    expect(r.screen.includes(SECRET)).toBe(false);
    expect(() => readFileSync(join(home, 'cosign.key'))).toThrow();
  });
});

describe('the prompt on a terminal', () => {
  it('turns echo off before the prompt appears, and back on after the line', async () => {
    const steps: string[] = [];
    const input = Object.assign(new PassThrough(), {
      setRawMode(raw: boolean) {
        steps.push(`raw ${raw}`);
      },
    });
    const term: Terminal = {
      input,
      write(text) {
        steps.push(`write ${JSON.stringify(text)}`);
        if (text === 'Password: ') input.write('abc\r');
      },
      close: () => steps.push('close'),
    };
    await expect(readPassword({}, { prompt: 'Password: ', terminal: () => term })).resolves.toBe('abc');
    expect(steps).toEqual(['raw true', 'write "Password: "', 'raw false', 'write "\\n"', 'close']);
  });
});
