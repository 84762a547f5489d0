// The password prompt on a real pseudo-terminal (util-linux `script`): asked on /dev/tty,
// nothing echoed, typed twice for keygen, and the key it made opens with that password.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPrivateKey } from '../../src/sign/keys.js';
import { tempDir } from './fixtures.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SECRET = 'Typed-on-a-tty-9';

/** Runs `ebpm args` on a pty, typing `lines` once the prompt is up; returns what the terminal showed. */
function onTty(args: string[], lines: string[], home: string): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, join(ROOT, 'bin/ebpm.js'), ...args].map((a) => `'${a}'`).join(' ');
  // Typing waits for each prompt, so nothing arrives while the terminal still echoes.
  const typing = lines.map((l) => `sleep 0.6; printf '%s\\r' '${l}'`).join('; ');
  const child = spawn('sh', ['-c', `(${typing}; sleep 0.5) | script -qefc "${command}" /dev/null`], {
    cwd: home,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
  });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, screen })));
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
