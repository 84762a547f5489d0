// eunomia `package.json` packages as ecli runs them (eunomia `meta/arg_builder.rs`): flags spelled
// as ecli spells them (the variable's name, `cmdarg.long`, `--enable-`/`--disable-` switches)
// with ebpm's spellings beside them, `cmdarg.default` or `value` as the default a run sets,
// `cmdarg.help` before `description`, and the export ecc marks with `__eunomia_dummy_*`. The
// object is examples/sigsnoop built with ecc's marker instead of EBPM_EXPORT.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileBpf } from '../../src/build/toolchain.js';
import { readEunomiaPackage } from '../../src/package/foreign.js';
import { assignments, flagSpecs } from '../../src/package/params.js';
import { packageFlagValues } from '../../src/cli/commands/run-args.js';
import { REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';
import { ebpm, ebpmSync, jsonLines, sender, tempDir } from './spawn.js';
import { RUN_FLAGS_IN_PACKAGE_HELP } from '../helpers/cli.js';

let dir = '';
let elf: Uint8Array = new Uint8Array();

/** An ecc `package.json` around the object, with `variables` as ecc writes them into `.rodata`. */
function eunomiaJson(variables: object[]): string {
  return JSON.stringify({
    bpf_object: deflateSync(elf).toString('base64'),
    bpf_object_size: elf.length,
    meta: {
      bpf_skel: {
        obj_name: 'sigsnoop_bpf',
        doc: { version: '0.2.0', brief: 'sigsnoop as ecc packs it' },
        data_sections: [{ name: '.rodata', variables: [...variables, { name: '__eunomia_dummy_event_ptr', type: 'struct event *' }] }],
        maps: [{ name: 'events', ident: 'events' }],
      },
      eunomia_version: '0.3.3',
    },
  });
}

const VARIABLES = [
  { name: 'filtered_pid', type: 'pid_t', value: 0, description: 'Trace only this process ID' },
  {
    name: 'target_signal',
    type: 'int',
    description: 'a description ecli does not show',
    cmdarg: { short: 's', default: 28, help: 'Trace only this signal (ecc default 28)' },
  },
  { name: 'failed_only', type: 'bool', value: false, cmdarg: { long: 'failed_only' } },
];

describeWith(['root', 'btf', 'clang', 'native'], "eunomia packages with ecli's flags", () => {
  beforeAll(async () => {
    dir = tempDir();
    const example = join(REPO, 'examples', 'sigsnoop');
    // ecc's marker where ebpm.h would put EBPM_EXPORT's.
    elf = await compileBpf(join(example, 'sigsnoop.bpf.c'), join(dir, 'sigsnoop.bpf.o'), {
      includes: [example],
      cflags: ['-D__EBPM_H', '-DEBPM_EXPORT(map,type)=const volatile type *__eunomia_dummy_event_ptr __attribute__((unused))'],
      env: process.env,
    });
    writeFileSync(join(dir, 'package.json'), eunomiaJson(VARIABLES));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads ecli's names, defaults and help, and binds the __eunomia_dummy_* struct to the event map", () => {
    const pkg = readEunomiaPackage(eunomiaJson(VARIABLES), 'package.json');
    const o = pkg.metadata.objects[0]!;
    expect(o.parameters.map((p) => [p.name, p.flag, p.default, p.description])).toEqual([
      ['filtered_pid', { long: 'filtered-pid' }, 0, 'Trace only this process ID'],
      ['target_signal', { long: 'target-signal', short: 's' }, 28, 'Trace only this signal (ecc default 28)'],
      ['failed_only', { long: 'failed-only' }, false, undefined],
    ]);
    expect([...pkg.ecli]).toEqual([
      ['filtered_pid', { long: 'filtered_pid', fill: 0n }],
      ['target_signal', { long: 'target_signal', fill: 28n }],
      ['failed_only', { long: 'failed_only', fill: false }],
    ]);
    expect(o.exports.map((e) => [e.map, e.type.name, e.type.size])).toEqual([['events', 'event', 32]]);
    expect(() => readEunomiaPackage(eunomiaJson([{ name: 'target_signal', type: 'int', cmdarg: { default: 'often' } }]), 'package.json')).toThrowWithCode(
      'FOREIGN_INVALID',
      'package.json: eunomia package: default of target_signal: "often": not an integer',
    );
    expect(() => readEunomiaPackage(eunomiaJson([{ name: 'failed_only', type: 'bool', value: 1 }]), 'package.json')).toThrow(
      expect.objectContaining({ message: 'package.json: eunomia package: variable failed_only: default 1 is not a boolean' }),
    );
  });

  it("parses ecli's spellings and ebpm's, and fills what is not given with ecli's defaults", () => {
    const pkg = readEunomiaPackage(eunomiaJson(VARIABLES), 'package.json');
    const specs = flagSpecs(pkg.metadata.objects, ['--json'], pkg.ecli);
    const parse = (args: string[]) => Object.fromEntries([...packageFlagValues(args, specs)].map(([s, v]) => [s.parameter.name, v]));
    expect(parse(['--filtered_pid', '7', '--target_signal=9', '--enable-failed_only'])).toEqual({ filtered_pid: 7n, target_signal: 9n, failed_only: true });
    expect(parse(['--filtered-pid', '7', '--target-signal', '9', '--no-failed-only'])).toEqual({ filtered_pid: 7n, target_signal: 9n, failed_only: false });
    expect(parse(['-s', '1', '--disable-failed_only'])).toEqual({ target_signal: 1n, failed_only: false });
    expect(parse(['--failed_only'])).toEqual({ failed_only: true });
    expect(() => parse(['--filtered_pid', '1', '--filtered-pid', '2'])).toThrow(
      expect.objectContaining({ code: 'USAGE', message: 'run: --filtered-pid given twice' }),
    );
    const patches = assignments(packageFlagValues(['--filtered_pid', '7'], specs), specs);
    expect(patches.map((a) => [a.parameter, [...a.bytes]])).toEqual([
      ['filtered_pid', [7, 0, 0, 0]],
      ['target_signal', [28, 0, 0, 0]],
      ['failed_only', [0]],
    ]);
  });

  it("runs with ecli's flags, its default applied and its events decoded, and shows ecli's spellings in --help", async () => {
    const file = join(dir, 'package.json');
    expect(ebpmSync(['run', file, '--help']).stdout).toBe(
      [
        `usage: ebpm run ${file} [flags]`,
        '',
        'sigsnoop as ecc packs it',
        '',
        ...RUN_FLAGS_IN_PACKAGE_HELP,
        '',
        'package flags:',
        '      --filtered_pid <pid_t>                       Trace only this process ID (default 0)',
        '  -s, --target_signal <int>                        Trace only this signal (ecc default 28) (default 28)',
        '      --enable-failed_only, --disable-failed_only  set bool failed_only (default false)',
        '',
        "Flags are spelled as ecli spells them; ebpm's spellings work too (- for _, --<switch> and --no-<switch>).",
        '',
      ].join('\n'),
    );
    const target = spawn('sleep', ['30']);
    const send = sender(dir, target.pid!, [18, 28]);
    // No -s: the package's default 28 filters out the SIGCONT sent first.
    const run = ebpm(['run', file, '--json', '--filtered_pid', String(send.pid), '--max-events', '1']);
    await run.waitFor(/attached/);
    send.stdin!.end('go\n');
    const r = await run.exited();
    target.kill('SIGKILL');
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([{ pid: send.pid, tpid: target.pid, sig: 28, ret: 0, comm: 'ebpm-sigsend' }]);
    expect(r.stderr).toBe('sigsnoop 0.2.0: attached sig_trace (tracepoint/signal/signal_generate)\nsigsnoop: 1 events, 0 lost (stopped: max-events)\n');
  });
});
