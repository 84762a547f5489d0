// Help and version as users ask for them (issue 17, item 4): `ebpm help <command>`, `<command>
// --help` and `-h` print the command's flags with their descriptions and examples; `ebpm version`
// says what the build is made of.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, COMMAND_NAMES, runEbpm } from '../helpers/cli.js';
import { REPO } from '../helpers/objects.js';

const PUSH_HELP = [
  'usage: ebpm push [dir | layout[:tag] | stored-reference]... [--to [registry/][namespace/]name] [--tag <tag>]... [--force] [--no-floating-tags] [--sign --key <cosign.key> [--bundle]] [--json] [--verbose]',
  '',
  'Publish a built package (its out/ layout, an OCI layout, or a stored reference) to a registry; name',
  'and version come from its metadata.',
  '',
  'flags:',
  '  --json              print the result as JSON on stdout',
  '  --verbose           print one line per HTTP exchange with a registry on stderr',
  '  --force             replace a version the registry already holds with other content',
  '  --no-floating-tags  move latest only, not the M.m and M tags',
  '  --to <repository>   push to this repository, [registry/][namespace/]name, instead of the package',
  '                      name in the default registry',
  '  --sign              sign what is pushed (with --key)',
  '  --key <cosign.key>  the signing key (ebpm keygen, cosign generate-key-pair)',
  '  --bundle            sign with a sigstore bundle referrer instead of the legacy .sig tag',
  '  --tag <tag>         also set this tag, such as stable (repeatable)',
  '',
  'examples:',
  '  ebpm push examples/sigsnoop',
  '  ebpm push . --to ghcr.io/me/sigsnoop',
  '  ebpm push examples/sigsnoop --tag stable',
  '  ebpm push . --sign --key cosign.key',
  '  ebpm tag sigsnoop:1.2.0 ghcr.io/me/sigsnoop:1.2.0 && ebpm push ghcr.io/me/sigsnoop:1.2.0',
  '',
].join('\n');

describe('help', () => {
  it('ebpm help <command>, <command> --help and -h print its usage, flags with descriptions, and examples', async () => {
    for (const args of [
      ['help', 'push'],
      ['push', '--help'],
      ['push', '-h'],
      ['--json', 'help', 'push'],
    ]) {
      expect(await runEbpm(args), args.join(' ')).toEqual({ code: 0, signal: null, stdout: PUSH_HELP, stderr: '' });
    }
  });

  it('shows defaults and repeatable flags as the flag table declares them', async () => {
    const logs = (await runEbpm(['help', 'logs'])).stdout.split('\n');
    expect(logs.slice(logs.indexOf('flags:') + 1, logs.indexOf('examples:') - 1)).toEqual([
      '      --json           print the result as JSON on stdout',
      '  -f, --follow         keep printing new lines as they come',
      '      --lines <n>      print this many of the last lines (default 100)',
      "      --socket <path>  the agent's control socket (default /run/ebpm/agent.sock)",
    ]);
    const sign = (await runEbpm(['sign', '--help'])).stdout.split('\n');
    expect(sign.filter((l) => l.includes('--annotation'))).toEqual(['  -a, --annotation key=value  an annotation of the signed payload (repeatable)']);
  });

  it('every command has help with examples', async () => {
    const helps = await Promise.all(COMMAND_NAMES.map((c) => runEbpm(['help', c])));
    for (const [i, r] of helps.entries()) {
      expect([r.code, r.stderr], COMMAND_NAMES[i]).toEqual([0, '']);
      expect(r.stdout.split('\n')[0], COMMAND_NAMES[i]).toMatch(new RegExp(`^usage: ebpm ${COMMAND_NAMES[i]}\\b`));
      expect(r.stdout, COMMAND_NAMES[i]).toMatch(new RegExp(`\nexamples:\n(  .*\\bebpm ${COMMAND_NAMES[i]}\\b.*\n)+$`));
      // Every flag with a description: a line of its own under flags (completion takes none).
      expect(/\nflags:\n( {2}.*\S.*\n)+\n/.test(r.stdout), COMMAND_NAMES[i]).toBe(COMMAND_NAMES[i] !== 'completion');
    }
    // The overview lists each command once, with its summary.
    const overview = (await runEbpm(['help'])).stdout.split('\n');
    expect(overview.filter((l) => /^ {2}[a-z]+ {2,}/.test(l)).map((l) => l.trim().split(' ')[0])).toEqual(COMMAND_NAMES);
  });

  it("run --help lists ebpm's run flags, the attach forms and the Wasm flags; run <package> --help its main ones too", async () => {
    const run = (await runEbpm(['help', 'run'])).stdout.split('\n');
    expect(run.filter((l) => /^ {2}(-[ho], )?--[a-z-]+/.test(l) || /^ {6}--/.test(l)).map((l) => /--[a-z-]+/.exec(l)![0])).toEqual([
      '--json',
      '--output',
      '--filter',
      '--fields',
      '--verbose',
      '--help',
      '--duration',
      '--max-events',
      '--pull',
      '--attach',
      '--event-type',
      '--map-size',
      '--print-map',
      '--no-print-map',
      '--interval',
      '--top',
      '--sort',
      '--program',
      '--skip-program',
      '--btf',
      '--follow',
      '--follow-interval',
      '--env',
      '--dir',
      '--max-memory',
      '--allow-attach',
      '--allow-undeclared-bpf',
      '--allow-system-dir',
    ]);
    expect(run.slice(run.indexOf('examples:'))).toEqual([
      'examples:',
      '  ebpm run examples/sigsnoop',
      '  ebpm run sigsnoop@1.2 --duration 10 --json',
      '  ebpm run examples/opensnoop --pid 1234 --max-events 20',
      '  ebpm run ./bashreadline.bpf.o --attach uprobe_readline=/usr/bin/bash:readline',
      '  ebpm run examples/runqlat -- -m',
      '',
    ]);
  });

  it('help of an unknown command is a usage error with a guess', async () => {
    expect(await runEbpm(['help', 'pusj'])).toEqual({
      code: 2,
      signal: null,
      stdout: '',
      stderr: 'error: unknown command "pusj"\nhint: did you mean ebpm push?\n',
    });
  });
});

/** The `major.minor` of the libbpf headers the addon is compiled against on this machine. */
function libbpfHeaders(): string {
  const h = readFileSync('/usr/include/bpf/libbpf_version.h', 'utf8');
  return `${/LIBBPF_MAJOR_VERSION (\d+)/.exec(h)![1]}.${/LIBBPF_MINOR_VERSION (\d+)/.exec(h)![1]}`;
}

/** `node bin/ebpm.js …`: the bundle, never the snapshot. */
function throughNode(args: readonly string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

describe('version', () => {
  const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch as 'x64' | 'arm64'];

  it('ebpm version says what the build is made of, and that the start-up snapshot runs it', async () => {
    expect(await runEbpm(['version'])).toEqual({
      code: 0,
      signal: null,
      stdout: `ebpm ${version}\nnode: ${process.version}\nlibbpf: ${libbpfHeaders()}\narchitecture: ${arch}\nstart-up snapshot: in use\n`,
      stderr: '',
    });
    const json = await runEbpm(['version', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ version, node: process.version, libbpf: libbpfHeaders(), arch, snapshot: { inUse: true } });
  });

  it('says why the snapshot is not in use when node runs the bundle', async () => {
    expect(await throughNode(['version', '--json']).then((r) => [r.code, JSON.parse(r.stdout).snapshot])).toEqual([
      0,
      { inUse: false, reason: 'started as node bin/ebpm.js, or by the agent' },
    ]);
  });

  it('--version, -V and -v stay one line', async () => {
    for (const a of ['--version', '-V', '-v']) expect(await runEbpm([a]), a).toEqual({ code: 0, signal: null, stdout: `ebpm ${version}\n`, stderr: '' });
  });
});
