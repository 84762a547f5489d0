/**
 * The private key password: `EBPM_PASSWORD` for scripts, else `COSIGN_PASSWORD` (what cosign
 * reads, so scripts written for cosign keep working), else asked on the controlling terminal (/dev/tty, raw mode, nothing echoed), never on stdin or
 * stdout, so piped output and input stay clean. The password is never written anywhere.
 */
import { openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { ReadStream } from 'node:tty';
import { EbpmError, isCode } from '../core/errors.js';
import type { Env } from '../core/paths.js';
import { readPrivateKey, type SigningKey } from '../sign/keys.js';
import { isEncryptedKey, readKeyFile } from '../api/sign.js';

/** Where the prompt reads and writes: /dev/tty, or a test's pty. */
export interface Terminal {
  readonly input: NodeJS.ReadableStream & { setRawMode(raw: boolean): unknown };
  write(text: string): void;
  close(): void;
}

/** `openTerminal` opens the controlling terminal; none (a daemon, CI) is `PASSWORD_REQUIRED`. */
export function openTerminal(): Terminal {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch (e) {
    throw new EbpmError('PASSWORD_REQUIRED', 'no terminal to ask for the key password', {
      hint: 'set EBPM_PASSWORD (or COSIGN_PASSWORD) to the password (an empty value means no password)',
      cause: e,
    });
  }
  const input = new ReadStream(fd);
  return {
    input,
    write: (text) => writeSync(fd, text),
    close: () => input.destroy(),
  };
}

/**
 * `readPassword` returns `EBPM_PASSWORD`, else `COSIGN_PASSWORD`, when set (even empty), else asks on the
 * terminal; with `confirm` it asks twice and refuses a mismatch (`PASSWORD_MISMATCH`).
 */
export async function readPassword(env: Env, opts: { prompt: string; confirm?: boolean; terminal?: () => Terminal }): Promise<string> {
  const given = env.EBPM_PASSWORD ?? env.COSIGN_PASSWORD;
  if (given !== undefined) return given;
  const term = (opts.terminal ?? openTerminal)();
  try {
    const first = await ask(term, opts.prompt);
    if (!opts.confirm) return first;
    const second = await ask(term, 'Enter password for private key again: ');
    if (first !== second) throw new EbpmError('PASSWORD_MISMATCH', 'the passwords do not match', { hint: 'type the same password twice' });
    return first;
  } finally {
    term.close();
  }
}

/**
 * `loadSigningKey` reads a private key file (`--key`, relative to `cwd`), asking for its
 * password only when it is encrypted. `ebpm sign` and `ebpm push --sign` use it.
 */
export async function loadSigningKey(path: string, env: Env, cwd: string, terminal?: () => Terminal): Promise<SigningKey> {
  const pem = await readKeyFile(resolve(cwd, path));
  const password = isEncryptedKey(pem)
    ? await readPassword(env, { prompt: `Enter password for private key ${path}: `, ...(terminal ? { terminal } : {}) })
    : '';
  return readPrivateKey(pem, password);
}

/**
 * `askCredentials` asks on the terminal for what `ebpm login` was not given: the user name (shown
 * as typed), then the password (never shown), as `docker login` does.
 */
export async function askCredentials(
  given: { username?: string | undefined; password?: string | undefined },
  terminal: () => Terminal = openTerminal,
): Promise<{ username: string; password: string }> {
  const term = terminal();
  try {
    const username = given.username ?? (await ask(term, 'Username: ', true));
    const password = given.password ?? (await ask(term, 'Password: '));
    return { username, password };
  } catch (e) {
    if (!isCode(e, 'ABORTED')) throw e;
    throw new EbpmError('ABORTED', 'login: cancelled at the prompt', { hint: 'run ebpm login again, or give -u <user> and --password-stdin' });
  } finally {
    term.close();
  }
}

/**
 * Reads one line in raw mode: Enter ends it, Backspace erases, Ctrl-C and Ctrl-D abort; what is
 * typed is shown only with `echo` (the terminal's own echo is off). The prompt appears only once
 * echo is off and the line is being read, so nothing typed at it can echo.
 */
function ask(term: Terminal, prompt: string, echo = false): Promise<string> {
  term.input.setRawMode(true);
  return new Promise<string>((resolve, reject) => {
    let line = '';
    const done = (err?: EbpmError) => {
      term.input.off('data', onData);
      term.input.setRawMode(false);
      term.input.pause();
      term.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || (ch === '\u0004' && line === '')) {
          return done(new EbpmError('ABORTED', 'password prompt: cancelled', { hint: 'run the command again, or set EBPM_PASSWORD' }));
        }
        if (ch === '\u007f' || ch === '\b') {
          if (echo && line !== '') term.write('\b \b');
          line = [...line].slice(0, -1).join('');
        } else if (ch >= ' ') {
          line += ch;
          if (echo) term.write(ch);
        }
      }
    };
    term.input.on('data', onData);
    term.input.resume();
    term.write(prompt);
  });
}
