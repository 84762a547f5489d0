/**
 * The built CLI as users run it (bin/ebpm.js as a program: `ebpm run` from the start-up
 * snapshot), in a sandbox: `cliEnv` is the one environment every spawned ebpm gets, built from nothing but PATH, so the machine's HOME,
 * config, trust policy, store, registry and Docker credentials never reach a test, and
 * neither does a variable of the shell that started the suite (`CI`, `EBPM_*`).
 *
 *   const env = cliEnv(sandboxDir('sign-'));                    // a fresh sandbox
 *   const r = await runEbpm(['keygen'], { env, cwd: env.HOME }); // { code, signal, stdout, stderr }
 *   const run = spawnEbpm(['run', layout]); await run.waitFor(/attached/);
 */
import { type ChildProcess, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { onTestFailed } from 'vitest';
import { REPO } from './objects.js';

/** The CLI's launcher, running the bundle and snapshot global set-up builds, with the node on PATH. */
export const BIN = join(REPO, 'bin', 'ebpm.js');

/** `sandboxDir` makes a directory under the suite's temp root, removed when the suite ends. */
export function sandboxDir(prefix = 'cli-'): string {
  return mkdtempSync(join(process.env.EBPM_TEST_ROOT ?? tmpdir(), prefix));
}

/**
 * `cliEnv` points every path ebpm reads or writes into `root` (HOME is `root` itself, so files a
 * command writes beside it, such as keygen's, land there too); `extra` adds or overrides.
 * EBPM_TRUST_POLICY stays unset (a path it names must exist): the policy is read from its
 * default place in the sandbox, `trustPolicyFile(env)`, and absent until a test writes it.
 */
export function cliEnv(root: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: root,
    XDG_CONFIG_HOME: join(root, 'xdg-config'),
    XDG_CACHE_HOME: join(root, 'xdg-cache'),
    XDG_DATA_HOME: join(root, 'xdg-data'),
    EBPM_CONFIG: join(root, 'config.json'),
    EBPM_STORE: join(root, 'store'),
    EBPM_LOCAL_REGISTRY: join(root, 'registry'),
    EBPM_CACHE_DIR: join(root, 'cache'),
    EBPM_BTF_CACHE: join(root, 'btf'),
    DOCKER_CONFIG: join(root, 'docker'),
    ...extra,
  };
}

/** `trustPolicyFile` is where ebpm looks for the trust policy under `env` (its default place, in the sandbox). */
export function trustPolicyFile(env: Record<string, string | undefined>): string {
  return env.EBPM_TRUST_POLICY ?? join(env.XDG_CONFIG_HOME!, 'ebpm', 'trust-policy.json');
}

/** `writeTrustPolicy` writes `policy` where ebpm under `env` reads it, and returns that path. */
export function writeTrustPolicy(env: Record<string, string | undefined>, policy: unknown): string {
  const path = trustPolicyFile(env);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(policy));
  return path;
}

let fileEnv: Record<string, string> | undefined;

/** `defaultCliEnv` is one sandbox per test file, for runs that need no state of their own. */
export function defaultCliEnv(): Record<string, string> {
  fileEnv ??= cliEnv(sandboxDir('cli-default-'));
  return fileEnv;
}

export interface CliOptions {
  /** Default: `defaultCliEnv()`. */
  env?: Record<string, string>;
  /** Default: the repository. */
  cwd?: string;
  /** The launcher to run. Default: `BIN`, the checkout's (an installed copy's in test/install/). */
  bin?: string;
}

export interface SpawnOptions extends CliOptions {
  /** A command the CLI runs under (setpriv). */
  prefix?: readonly string[];
  /** Replaces the pipes (a file as stdout). */
  stdio?: StdioOptions;
  /** No controlling terminal. */
  detached?: boolean;
}

export interface Exited {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Running {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr has matched `re`; rejects if the CLI exits first (no deadline: the test's timeout is the only one). */
  waitFor(re: RegExp): Promise<void>;
  /** Resolves once stdout has matched `re`, or the CLI has exited: the test then asserts what it printed. */
  untilStdout(re: RegExp): Promise<void>;
  exited(): Promise<Exited>;
}

/** `spawnEbpm` starts the CLI with piped output. */
export function spawnEbpm(args: readonly string[], opts: SpawnOptions = {}): Running {
  const argv = [...(opts.prefix ?? []), opts.bin ?? BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: opts.cwd ?? REPO,
    env: opts.env ?? defaultCliEnv(),
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  let ended: string | undefined;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      ended = `exited ${code ?? signal}`;
      resolve({ code, signal });
    });
  });
  // One that ended well says nothing a failure's own message does not.
  reportIfFailed(() =>
    ended === 'exited 0'
      ? undefined
      : `ebpm ${args.join(' ')} (${ended ?? 'still running'})\n--- stderr (tail)\n${err.slice(-4000)}\n--- stdout (tail)\n${out.slice(-2000)}`,
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (re.test(err)) resolve();
        };
        child.stderr?.on('data', check);
        void exit.then(() => {
          if (re.test(err)) resolve();
          else reject(new Error(`exited without ${re} on stderr: ${err}`));
        });
        check();
      }),
    untilStdout: (re) =>
      new Promise((resolve) => {
        const check = () => {
          if (re.test(out)) resolve();
        };
        child.stdout?.on('data', check);
        void exit.then(
          () => resolve(),
          () => resolve(),
        );
        check();
      }),
    exited: async () => ({ ...(await exit), stdout: out, stderr: err }),
  };
}

/**
 * Prints what `what` describes if the current test fails, a timeout included: a run that hangs
 * shows how far it got. Runs spawned outside a test (in `beforeAll`) have no test to report to.
 */
function reportIfFailed(what: () => string | undefined): void {
  try {
    onTestFailed(() => {
      const text = what();
      if (text !== undefined) console.error(text);
    });
  } catch {
    // Not inside a test.
  }
}

/** `runEbpm` runs the CLI to its end. */
export function runEbpm(args: readonly string[], opts: SpawnOptions = {}): Promise<Exited> {
  return spawnEbpm(args, opts).exited();
}

/** `ebpmSync` runs the CLI to its end, blocking (for tests that are synchronous). */
export function ebpmSync(
  args: readonly string[],
  opts: CliOptions & Pick<SpawnOptions, 'prefix'> = {},
): { code: number | null; stdout: string; stderr: string } {
  const argv = [...(opts.prefix ?? []), opts.bin ?? BIN, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd ?? REPO, encoding: 'utf8', env: opts.env ?? defaultCliEnv() });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface OnTty {
  readonly child: ChildProcess;
  /** Everything the terminal showed so far. */
  screen(): string;
  /** Resolves once the terminal has shown `text`; rejects if the CLI exits first (no deadline: the test's timeout is the only one). */
  seen(text: string): Promise<void>;
  /** Types `text` on the terminal (`\r` is Enter, `\x03` Ctrl-C). */
  type(text: string): void;
  /** The exit code of the CLI (`script -e` passes it on). */
  exited(): Promise<number | null>;
}

export interface TtyOptions extends CliOptions {
  /** The terminal's width (`stty cols`); without it the pty has no size (0 columns: ink lays out a character a line). */
  columns?: number;
}

/**
 * `ttyEbpm` runs the CLI on a pseudo-terminal of util-linux `script`: what the test types goes
 * to the terminal, what the CLI shows comes back. Tests type only after `seen` a prompt, never
 * after a sleep. `columns` gives the terminal a size (ink lays its views out by it).
 */
export function ttyEbpm(args: readonly string[], opts: TtyOptions = {}): OnTty {
  const quoted = [BIN, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const command = opts.columns === undefined ? quoted : `stty cols ${opts.columns} rows 40 && exec ${quoted}`;
  const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: opts.cwd ?? REPO, env: opts.env ?? defaultCliEnv(), stdio: 'pipe' });
  let screen = '';
  const watchers = new Set<() => void>();
  const onData = (d: Buffer) => {
    screen += d.toString();
    for (const w of watchers) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // Typing after the end finds the terminal gone: the test's assertions say what went wrong.
  child.stdin.on('error', () => {});
  const exit = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  return {
    child,
    screen: () => screen,
    seen: (text) =>
      new Promise((resolve, reject) => {
        const stop = (err?: Error) => {
          watchers.delete(check);
          if (err) reject(err);
          else resolve();
        };
        const check = () => screen.includes(text) && stop();
        watchers.add(check);
        void exit.then(() =>
          screen.includes(text) ? stop() : stop(new Error(`exited without ${JSON.stringify(text)} on the terminal: ${JSON.stringify(screen)}`)),
        );
        check();
      }),
    type: (text) => child.stdin.write(text),
    exited: () => exit,
  };
}

/** What `ebpm run <package> --help` lists of ebpm's own flags before the package's (tests of several packages' help). */
export const RUN_FLAGS_IN_PACKAGE_HELP: readonly string[] = [
  'flags (`ebpm run --help` lists them all):',
  "  --json                       print each event as a JSON line (a Wasm program's lines as strings)",
  "  --verbose                    show the programs, maps and values, and libbpf's messages; of a Wasm",
  "                               program, the host's details (bad pointers, dropped events)",
  '  --duration <duration>        stop after this long: 500ms, 10s, 2m, 1h or seconds (exit code 0)',
  '  --max-events <n>             stop after this many events or Wasm output lines (exit code 0)',
  '  --attach <program>=<target>  attach the program to this target instead of by its section; what',
  '                               uprobe, xdp, tc and cgroup programs need (forms: ebpm run --help)',
  '                               (repeatable)',
  '  --pull always|missing|never  pull a reference always, if missing (default) or never',
  '  --follow                     follow a range or floating tag: swap in each newer version (SIGHUP',
  '                               checks now)',
];

/** Every command, in the order `ebpm help` lists them (help and man page tests). */
export const COMMAND_NAMES: readonly string[] = [
  'build',
  'check',
  'init',
  'inspect',
  'push',
  'pull',
  'tag',
  'cp',
  'ls',
  'rm',
  'prune',
  'login',
  'logout',
  'search',
  'versions',
  'export',
  'import',
  'keygen',
  'run',
  'sign',
  'verify',
  'agent',
  'ps',
  'logs',
  'stop',
  'start',
  'version',
  'completion',
];
