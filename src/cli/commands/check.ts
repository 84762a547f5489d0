/**
 * `ebpm check <package>`: whether this kernel has what the package needs (program and map types,
 * helpers, attach points, kernel types and fields), before anything is loaded. Exit 0 when it
 * can run here, 4 (the kernel's refusal) when something it needs is missing.
 */
import { resolve } from 'node:path';
import { EbpmError } from '../../core/errors.js';
import { kernelFacts } from '../../kernel/kernel-facts.js';
import { blocking } from '../../kernel/preflight.js';
import { checkSelection } from '../../api/alternatives.js';
import { checkPackage, findingLine } from '../../api/check.js';
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { writeJson } from '../dist.js';
import { writeText } from '../format.js';
import { openPackage } from '../package-sources.js';
import { pullPolicy } from '../pull-policy.js';

const FLAGS = {
  ...JSON_FLAG,
  program: { type: 'string', multiple: true, default: [], valueName: '<name>', description: 'check only this program' },
  'skip-program': { type: 'string', multiple: true, default: [], valueName: '<name>', description: 'leave this program out' },
  btf: { type: 'string', valueName: '<file>', description: "check against this kernel BTF (raw or a vmlinux) instead of the kernel's own" },
  pull: { type: 'string', default: 'missing', valueName: 'always|missing|never', description: 'pull a reference always, if missing or never' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'check',
  summary: 'Check whether this kernel has what a package needs (types, helpers, attach points, kernel fields), without loading it.',
  usage:
    'ebpm check <dir | layout[:tag] | file.bpf.o | file.wasm | package.json | reference> [--program <name>]... [--skip-program <name>]... [--btf <file>] [--pull always|missing|never] [--json]',
  flags: FLAGS,
  examples: ['ebpm check examples/runqlat', 'ebpm check sigsnoop@1.2 --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'check: expected one package', { hint: `usage: ${cmd.usage}` });
    const source = positionals[0]!;
    const { pkg } = await openPackage(source, pullPolicy(values.pull), io);
    const selection = { only: values.program, skip: values['skip-program'] };
    checkSelection(pkg.metadata.name, pkg.metadata.objects, selection);
    const report = checkPackage(pkg, kernelFacts(undefined, values.btf === undefined ? undefined : resolve(io.cwd, values.btf)), selection);
    if (values.json) writeJson(io, { package: { name: pkg.metadata.name, version: pkg.metadata.version }, ...report });
    else {
      const lines = [`${pkg.metadata.name}@${pkg.metadata.version} on Linux ${report.release}: ${report.canRun ? 'can run' : 'cannot run'}`];
      for (const o of report.objects) {
        const stops = blocking(o.findings).length;
        lines.push(
          `  ${o.object}: ${o.needs} needs checked, ${o.findings.length === 0 ? 'all met' : `${o.findings.length} not met${stops > 0 ? `, ${stops} blocking` : ''}`}`,
        );
        lines.push(...o.findings.map((f) => `    ${findingLine(f)}`));
      }
      writeText(io.stdout, `${lines.join('\n')}\n`);
    }
    return report.canRun ? 0 : 4;
  },
};

export default cmd;
