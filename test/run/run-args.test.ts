// The command line of `ebpm run`, both stages: what is read before the package is known (the
// package, ebpm's own flags anywhere before `--`) and after (the package's flags, the Wasm
// program's arguments), with the exact refusals; and the package flags' help.
import { describe, expect, it } from 'vitest';
import { bpfArgs, guestArgs, helpWanted, packageFlagValues, parseRunLine, RESERVED_FLAGS, RUN_USAGE, type RunLine } from '../../src/cli/commands/run-args.js';
import { flagHelp } from '../../src/cli/views/run-text.js';
import type { BpfObjectMeta, ParameterMeta } from '../../src/package/metadata.js';
import { flagSpecs, type FlagSpec, type ParamValue } from '../../src/package/params.js';

function param(p: Partial<ParameterMeta> & Pick<ParameterMeta, 'name' | 'kind' | 'size' | 'type'>): ParameterMeta {
  return { section: '.rodata', offset: 0, default: 0, flag: { long: p.name.replace(/_/g, '-') }, ...p };
}

const filteredPid = param({
  name: 'filtered_pid',
  kind: 'int',
  size: 4,
  type: 'pid_t',
  description: 'Trace only this pid',
  flag: { long: 'filtered-pid', short: 'p' },
});
const targetSignal = param({ name: 'target_signal', kind: 'int', size: 4, type: 'int', offset: 4, flag: { long: 'target-signal', short: 's' } });
const failedOnly = param({ name: 'failed_only', kind: 'bool', size: 1, type: 'bool', offset: 8, default: false, flag: { long: 'failed-only', short: 'x' } });
const comm = param({ name: 'targ_comm', kind: 'string', size: 8, type: 'char[8]', section: '.bss', default: 'sh' });

function object(name: string, parameters: ParameterMeta[]): BpfObjectMeta {
  return { name, digest: `sha256:${'0'.repeat(64)}`, size: 1, layer: true, embedded: false, programs: [], maps: [], parameters, exports: [] };
}

const specs = flagSpecs([object('sigsnoop.bpf.o', [filteredPid, targetSignal, failedOnly, comm])], RESERVED_FLAGS);
const demo = { name: 'demo', programs: [{ name: 'xdp_pass', section: 'xdp', type: 'xdp' }] };
const NO_WASM_FLAGS = { env: {}, preopens: [], allowAttach: [], allowUndeclared: false, given: [] };
const USAGE_HINT = `usage: ${RUN_USAGE}`;

/** What `f` threw: code, message and hint, to compare exactly. */
function thrown(f: () => unknown): { code: string; message: string; hint: string | undefined } | 'no error' {
  try {
    f();
  } catch (e) {
    const x = e as { code: string; message: string; hint?: string };
    return { code: x.code, message: x.message, hint: x.hint };
  }
  return 'no error';
}

const line = (argv: string[]): RunLine => parseRunLine(argv, '/work');
const values = (argv: string[]) => Object.fromEntries([...bpfArgs(line(argv), demo, specs).values].map(([s, v]): [string, ParamValue] => [s.long, v]));

/** What `parseRunLine` gives for everything the line leaves out. */
const NOTHING_GIVEN = {
  help: false,
  output: 'table',
  json: false,
  verbose: false,
  pull: 'missing',
  attach: new Map(),
  mapSizes: new Map(),
  programs: { only: [], skip: [] },
  wasm: NO_WASM_FLAGS,
  flags: [],
  afterDashes: [],
};

describe('parseRunLine: before the package is known', () => {
  it("finds the package and ebpm's flags before and after it, and keeps the package's words as written", () => {
    expect(
      line([
        '--json',
        '--duration',
        '3',
        './sigsnoop',
        '-p',
        '1',
        '--max-events=10',
        '--pull',
        'never',
        '--attach',
        'xdp_pass=lo',
        '--verbose',
        '-x',
        '--',
        '--guest',
        'arg',
      ]),
    ).toEqual({
      source: './sigsnoop',
      help: false,
      output: 'json',
      json: true,
      verbose: true,
      durationMs: 3000,
      maxEvents: 10,
      pull: 'never',
      attach: new Map([['xdp_pass', 'lo']]),
      mapSizes: new Map(),
      programs: { only: [], skip: [] },
      wasm: NO_WASM_FLAGS,
      flags: ['-p', '1', '-x'],
      afterDashes: ['--guest', 'arg'],
    });
    expect(line(['pkg'])).toEqual({ source: 'pkg', ...NOTHING_GIVEN });
  });

  it('leaves everything after -- alone, and reads -h before the package as --help', () => {
    expect(line(['pkg', '--', '--json', '-h', '--pull', 'x'])).toMatchObject({
      json: false,
      help: false,
      pull: 'missing',
      afterDashes: ['--json', '-h', '--pull', 'x'],
    });
    expect(line(['pkg', '--json', '--'])).toMatchObject({ json: true, afterDashes: [] });
    expect(line(['-h'])).toEqual({ ...NOTHING_GIVEN, help: true });
    // After the package, -h is help for a package without a Wasm program only.
    expect(line(['pkg', '-h'])).toMatchObject({ source: 'pkg', help: false, flags: ['-h'] });
    expect(helpWanted(line(['pkg', '-h']), false)).toBe(true);
    expect(helpWanted(line(['pkg', '-h']), true)).toBe(false);
    expect(helpWanted(line(['pkg', '--help']), true)).toBe(true);
    expect(line(['-', '--json'])).toMatchObject({ source: '-', json: true });
  });

  it("takes ebpm's flags wherever they stand before --: a package value that spells one is written with =", () => {
    expect(line(['pkg', '--targ-comm=--json'])).toMatchObject({ json: false, flags: ['--targ-comm=--json'] });
    expect(line(['pkg', '--targ-comm', '--json'])).toMatchObject({ json: true, flags: ['--targ-comm'] });
    expect(line(['pkg', '-p', '-1', '--duration=0.5'])).toMatchObject({ durationMs: 500, flags: ['-p', '-1'] });
  });

  it('takes --attach repeatedly, once per program, and the Wasm flags anywhere before --', () => {
    expect(line(['--attach', 'a=lo', 'pkg', '--attach=b=/bin/sh:main', '--attach', 'c=eth0:ingress']).attach).toEqual(
      new Map([
        ['a', 'lo'],
        ['b', '/bin/sh:main'],
        ['c', 'eth0:ingress'],
      ]),
    );
    expect(line(['--env', 'A=1', 'g.wasm', '--dir', 'data:/data', '--allow-undeclared-bpf', '--', '--env', 'B=2'])).toMatchObject({
      wasm: {
        env: { A: '1' },
        preopens: [{ host: '/work/data', guest: '/data' }],
        allowAttach: [],
        allowUndeclared: true,
        given: ['--env', '--dir', '--allow-undeclared-bpf'],
      },
      flags: [],
      afterDashes: ['--env', 'B=2'],
    });
  });

  it('takes --map-size repeatedly, once per map, and --event-type once', () => {
    expect(line(['pkg', '--map-size', 'start=4096', '--event-type', 'event', '--map-size=stackmap=1']).mapSizes).toEqual(
      new Map([
        ['start', 4096],
        ['stackmap', 1],
      ]),
    );
    expect(line(['pkg', '--event-type=struct data_t'])).toMatchObject({ eventType: 'struct data_t' });
    const usage = (message: string) => ({ code: 'USAGE', message, hint: USAGE_HINT });
    const bad = 'not <map>=<entries> with entries from 1 to 4294967295';
    expect(thrown(() => line(['pkg', '--map-size', 'start=0']))).toEqual(usage(`run: --map-size "start=0": ${bad}`));
    expect(thrown(() => line(['pkg', '--map-size', 'start=4294967296']))).toEqual(usage(`run: --map-size "start=4294967296": ${bad}`));
    expect(thrown(() => line(['pkg', '--map-size', '=5']))).toEqual(usage(`run: --map-size "=5": ${bad}`));
    expect(thrown(() => line(['pkg', '--map-size', 'start=1e3']))).toEqual(usage(`run: --map-size "start=1e3": ${bad}`));
    expect(thrown(() => line(['pkg', '--map-size', 'a=1', '--map-size', 'a=2']))).toEqual(usage('run: --map-size a given twice'));
    expect(thrown(() => line(['pkg', '--event-type', 'a', '--event-type', 'b']))).toEqual(usage('run: --event-type given twice'));
  });

  it('takes --print-map repeatedly, --no-print-map, --interval in seconds and --top', () => {
    expect(line(['pkg', '--print-map', 'hists', '--print-map=infos', '--interval', '0.5', '--top', '3'])).toMatchObject({
      printMaps: ['hists', 'infos'],
      intervalMs: 500,
      top: 3,
    });
    expect(line(['pkg', '--no-print-map'])).toMatchObject({ printMaps: false });
    expect(line(['pkg']).printMaps).toBeUndefined();
  });

  it('reads -o, --json as -o json, and keeps --filter and --fields as written', () => {
    expect(line(['pkg', '-o', 'yaml'])).toMatchObject({ output: 'yaml', json: true });
    expect(line(['-ojsonpretty', 'pkg'])).toMatchObject({ output: 'jsonpretty', json: true });
    expect(line(['pkg', '--output=wide'])).toMatchObject({ output: 'wide', json: false });
    expect(line(['pkg', '--json', '-o', 'json'])).toMatchObject({ output: 'json', json: true });
    expect(line(['pkg', '--filter', 'comm==sh,pid!=1', '--fields=-ret'])).toMatchObject({ filter: 'comm==sh,pid!=1', fields: '-ret', flags: [] });
    expect(line(['pkg', '--', '-o', 'x'])).toMatchObject({ output: 'table', afterDashes: ['-o', 'x'] });
    expect(thrown(() => line(['pkg', '-o', 'yml']))).toEqual({
      code: 'USAGE',
      message: 'run: -o "yml": not an output format',
      hint: 'did you mean yaml? formats: table, wide, json, jsonpretty, yaml',
    });
    expect(thrown(() => line(['pkg', '--json', '-o', 'yaml']))).toEqual({
      code: 'USAGE',
      message: 'run: --json and -o yaml together',
      hint: '--json is -o json: give one of them',
    });
    expect(thrown(() => line(['pkg', '-o', 'json', '-o', 'yaml']))).toEqual({ code: 'USAGE', message: 'run: --output given twice', hint: USAGE_HINT });
  });

  it('refuses with USAGE, the exact message and a hint', () => {
    expect(thrown(() => line(['--filtered-pid', '1', 'pkg']))).toEqual({
      code: 'USAGE',
      message: 'run: --filtered-pid before the package',
      hint: `package flags go after the package; ${USAGE_HINT}`,
    });
    const usage = (message: string) => ({ code: 'USAGE', message, hint: USAGE_HINT });
    expect(thrown(() => line(['--json']))).toEqual(usage('run: no package given'));
    expect(thrown(() => line([]))).toEqual(usage('run: no package given'));
    expect(thrown(() => line(['pkg', '--json', '--json']))).toEqual(usage('run: --json given twice'));
    expect(thrown(() => line(['pkg', '--pull', 'never', '--pull=always']))).toEqual(usage('run: --pull given twice'));
    expect(thrown(() => line(['pkg', '--verbose=yes']))).toEqual(usage('run: --verbose takes no value'));
    expect(thrown(() => line(['pkg', '--duration']))).toEqual(usage('run: --duration needs a value'));
    expect(thrown(() => line(['pkg', '--max-events', '--', '5']))).toEqual(usage('run: --max-events needs a value'));
    const duration = (message: string) => ({ code: 'USAGE', message, hint: 'write it as 500ms, 10s, 2m, 1h, 1h30m, or a number of seconds' });
    expect(thrown(() => line(['pkg', '--duration', 'soon']))).toEqual(duration('run: --duration "soon": not a duration'));
    expect(thrown(() => line(['pkg', '--duration', '-1']))).toEqual(duration('run: --duration "-1": not a duration'));
    expect(thrown(() => line(['pkg', '--duration', '10 s']))).toEqual(duration('run: --duration "10 s": not a duration'));
    expect(thrown(() => line(['pkg', '--duration', '10d']))).toEqual(duration('run: --duration "10d": not a duration'));
    expect(thrown(() => line(['pkg', '--duration', '30s1m']))).toEqual(duration('run: --duration "30s1m": not a duration'));
    expect(thrown(() => line(['pkg', '--duration', '597h']))).toEqual(duration('run: --duration "597h": longer than 596h, the most a timer can wait'));
    expect(thrown(() => line(['pkg', '--max-events', '1.5']))).toEqual(usage('run: --max-events "1.5": not a whole number ≥ 0'));
    expect(thrown(() => line(['pkg', '--attach', 'a=lo', '--attach', 'a=eth0']))).toEqual(usage('run: --attach a given twice'));
    expect(thrown(() => line(['pkg', '--attach', '=lo']))).toEqual(usage('run: --attach "=lo": not <program>=<target>'));
    expect(thrown(() => line(['pkg', '--pull', 'sometimes']))).toEqual({
      code: 'USAGE',
      message: 'run: --pull "sometimes": not a pull policy',
      hint: 'use --pull always, missing or never',
    });
    expect(thrown(() => line(['pkg', '--allow-attach']))).toEqual(usage('run: --allow-attach needs a value'));
    expect(thrown(() => line(['pkg', '--print-map', 'a', '--no-print-map']))).toEqual(usage('run: --print-map and --no-print-map together'));
    expect(thrown(() => line(['pkg', '--interval', '0']))).toEqual(duration('run: --interval "0": must be longer than 0'));
    expect(thrown(() => line(['pkg', '--interval', '0ms']))).toEqual(duration('run: --interval "0ms": must be longer than 0'));
    expect(thrown(() => line(['pkg', '--interval', 'often']))).toEqual(duration('run: --interval "often": not a duration'));
    expect(thrown(() => line(['pkg', '--top', '0']))).toEqual(usage('run: --top "0": not a whole number > 0'));
    expect(thrown(() => line(['pkg', '--follow-interval', '5']))).toEqual(usage('run: --follow-interval needs --follow'));
    expect(thrown(() => line(['pkg', '--follow', '--follow-interval', '0']))).toEqual(duration('run: --follow-interval "0": must be longer than 0'));
    expect(thrown(() => line(['pkg', '--follow', '--follow-interval', '1x']))).toEqual(duration('run: --follow-interval "1x": not a duration'));
  });

  it('--follow checks every 60 s unless --follow-interval says otherwise', () => {
    expect(line(['pkg']).followMs).toBeUndefined();
    expect(line(['pkg', '--follow']).followMs).toBe(60_000);
    expect(line(['pkg', '--follow', '--follow-interval', '0.5']).followMs).toBe(500);
    expect(line(['pkg', '--follow', '--follow-interval', '5m']).followMs).toBe(300_000);
  });

  it('reads durations as people write them: 500ms, 10s, 2m, 1h, 1h30m, or seconds', () => {
    const cases: [string, number][] = [
      ['10', 10_000],
      ['0.5', 500],
      ['0', 0],
      ['500ms', 500],
      ['10s', 10_000],
      ['1.5s', 1_500],
      ['2m', 120_000],
      ['1h', 3_600_000],
      ['1h30m', 5_400_000],
      ['2m3s250ms', 123_250],
      ['596h', 2_145_600_000],
    ];
    expect(cases.map(([text]) => [text, line(['pkg', '--duration', text]).durationMs])).toEqual(cases);
    expect(line(['pkg', '--interval=1m']).intervalMs).toBe(60_000);
  });
});

describe('bpfArgs: the package without a Wasm program', () => {
  it('takes long, short, inline, grouped and negated forms, and negative values without =', () => {
    expect(values(['sigsnoop', '--filtered-pid', '123', '-s=-9', '--json', '-x', '--targ-comm', 'bash'])).toEqual({
      'filtered-pid': 123n,
      'target-signal': -9n,
      'failed-only': true,
      'targ-comm': 'bash',
    });
    expect(values(['--duration', '1', 'pkg', '-xp42'])).toEqual({ 'failed-only': true, 'filtered-pid': 42n });
    expect(values(['pkg', '--no-failed-only', '--target-signal', '-1'])).toEqual({ 'failed-only': false, 'target-signal': -1n });
  });

  it('reads its flags after -- too, as one line', () => {
    expect(values(['pkg', '-p', '1', '--', '-x'])).toEqual({ 'filtered-pid': 1n, 'failed-only': true });
    expect(thrown(() => values(['pkg', '-p', '1', '--', '--filtered-pid', '2']))).toEqual({
      code: 'USAGE',
      message: 'run: --filtered-pid given twice',
      hint: USAGE_HINT,
    });
  });

  it('refuses unknown flags, repeats, strays, missing values and values given to switches', () => {
    const usage = (message: string) => ({ code: 'USAGE', message, hint: USAGE_HINT });
    expect(thrown(() => values(['pkg', '--pid', '1']))).toEqual(usage('run: unknown flag: --pid'));
    expect(thrown(() => values(['pkg', '-q']))).toEqual(usage('run: unknown flag: -q'));
    expect(thrown(() => values(['pkg', '--no-json']))).toEqual(usage('run: unknown flag: --no-json'));
    expect(thrown(() => values(['pkg', '--filtred-pid', '1']))).toEqual({
      code: 'USAGE',
      message: 'run: unknown flag: --filtred-pid',
      hint: 'did you mean --filtered-pid?',
    });
    expect(thrown(() => values(['pkg', '-p', '1', '--filtered-pid', '2']))).toEqual(usage('run: --filtered-pid given twice'));
    expect(thrown(() => values(['pkg', '--filtered-pid']))).toEqual(usage('run: --filtered-pid needs a value'));
    expect(thrown(() => values(['pkg', 'extra']))).toEqual(usage('run: unexpected argument "extra"'));
    expect(thrown(() => values(['pkg', '--', 'extra']))).toEqual(usage('run: unexpected argument "extra" after --'));
    expect(thrown(() => values(['pkg', '--failed-only=1']))).toEqual(
      usage('run: --failed-only is a switch and takes no value; use --no-failed-only to turn it off'),
    );
    expect(thrown(() => values(['pkg', '-p', 'x']))).toEqual({
      code: 'INVALID_PARAMETER',
      message: '-p: "x": not an integer',
      hint: '-p takes a pid_t (decimal, 0x hex, 0o octal or 0b binary)',
    });
    expect(thrown(() => values(['pkg', '--env', 'A=1', '--allow-undeclared-bpf']))).toEqual(
      usage('run: --env, --allow-undeclared-bpf apply only to packages with a Wasm program, and demo has none'),
    );
  });

  it("parses --attach for the package's program of that name", () => {
    expect(bpfArgs(line(['pkg', '--attach', 'xdp_pass=lo']), demo, specs).targets).toEqual(new Map([['xdp_pass', { kind: 'xdp', interface: 'lo' }]]));
    expect(thrown(() => bpfArgs(line(['pkg', '--attach', 'nope=lo']), demo, specs))).toEqual({
      code: 'USAGE',
      message: 'run: --attach nope=lo: demo has no program nope (its programs: xdp_pass)',
      hint: USAGE_HINT,
    });
  });

  it('reads flags alone for callers without a command line', () => {
    const got = packageFlagValues(['-p', '7', '--no-failed-only'], specs);
    expect([...got].map(([s, v]): [FlagSpec['long'], ParamValue] => [s.long, v])).toEqual([
      ['filtered-pid', 7n],
      ['failed-only', false],
    ]);
  });
});

describe('guestArgs: the package with a Wasm program', () => {
  const guest = { name: 'g', programs: [] };
  it('hands the Wasm program what follows --, untouched', () => {
    expect(guestArgs(line(['g.wasm', '--verbose', '--', '-h', '--json', 'x']), guest)).toEqual(['-h', '--json', 'x']);
    expect(guestArgs(line(['g.wasm']), guest)).toEqual([]);
  });

  it('hands it the words ebpm does not know before -- too, in order, as ecli does', () => {
    expect(guestArgs(line(['g.wasm', '-p', '1', '--verbose', 'x', '--', '-m']), guest)).toEqual(['-p', '1', 'x', '-m']);
    expect(guestArgs(line(['g.wasm', '-h']), guest)).toEqual(['-h']);
  });

  it("refuses ebpm's flags for its decoder and loader", () => {
    const usage = (message: string) => ({ code: 'USAGE', message, hint: USAGE_HINT });
    // --json and --max-events apply: to the guest's lines (each a JSON string; counted).
    expect(guestArgs(line(['g.wasm', '--json', '--max-events', '3', '--', '-p', '1']), guest)).toEqual(['-p', '1']);
    expect(thrown(() => guestArgs(line(['g.wasm', '--interval', '1']), guest))).toEqual(
      usage('run: --interval does not apply to g: its Wasm program prints the events'),
    );
    expect(thrown(() => guestArgs(line(['g.wasm', '--attach', 'a=lo']), guest))).toEqual(
      usage('run: --attach does not apply to g: its Wasm program attaches its programs (grant targets with --allow-attach)'),
    );
    expect(thrown(() => guestArgs(line(['g.wasm', '--event-type', 'event']), guest))).toEqual(
      usage('run: --event-type does not apply to g: its Wasm program prints the events'),
    );
    expect(thrown(() => guestArgs(line(['g.wasm', '--map-size', 'm=1']), guest))).toEqual(
      usage('run: --map-size does not apply to g: its Wasm program loads its objects'),
    );
  });

  it('takes -o json, and refuses the shaping of events it prints itself', () => {
    const usage = (message: string) => ({ code: 'USAGE', message, hint: USAGE_HINT });
    expect(guestArgs(line(['g.wasm', '-o', 'json', '-p', '1']), guest)).toEqual(['-p', '1']);
    expect(thrown(() => guestArgs(line(['g.wasm', '--filter', 'pid==1']), guest))).toEqual(
      usage('run: --filter does not apply to g: its Wasm program prints the events'),
    );
    expect(thrown(() => guestArgs(line(['g.wasm', '--fields', 'pid']), guest))).toEqual(
      usage('run: --fields does not apply to g: its Wasm program prints the events'),
    );
    expect(thrown(() => guestArgs(line(['g.wasm', '-o', 'yaml']), guest))).toEqual({
      code: 'USAGE',
      message: 'run: -o yaml does not apply to g: its Wasm program prints the events',
      hint: 'its lines print as they are, or as JSON with -o json',
    });
  });
});

describe('flagHelp', () => {
  it('shows spelling, type, description and default', () => {
    expect(flagHelp(flagSpecs([object('s.bpf.o', [filteredPid, failedOnly, comm])]))).toEqual([
      '  -p, --filtered-pid <pid_t>           Trace only this pid (default 0)',
      '  -x, --failed-only, --no-failed-only  set bool failed_only (default false)',
      '      --targ-comm <char[8]>            set char[8] targ_comm (default "sh")',
    ]);
  });
});
