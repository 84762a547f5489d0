import { resolve } from 'node:path';
import { EbpmError } from '../../core/errors.js';
import { JSON_FLAG, parseFlags, type Command, type Flags } from '../command.js';
import { DEFAULT_TEMPLATE, init, nextSteps, TEMPLATES } from '../../api/init.js';

const FLAGS = {
  ...JSON_FLAG,
  template: { type: 'string', valueName: TEMPLATES.join('|'), description: `the template to start from (default ${DEFAULT_TEMPLATE})` },
  dir: { type: 'string', valueName: '<path>', description: 'create the package here (default ./<name>)' },
} as const satisfies Flags;

const cmd: Command = {
  name: 'init',
  summary: `Create a package directory from a template (${TEMPLATES.join(', ')}) that ebpm build and ebpm run take as it is.`,
  usage: `ebpm init <name> [--template ${TEMPLATES.join(' | ')}] [--dir <path>] [--json]`,
  flags: FLAGS,
  examples: ['ebpm init mytool', 'ebpm init mytool --template wasm-c --dir ./tools/mytool'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    const [name, extra] = positionals;
    if (!name || extra !== undefined) {
      throw new EbpmError('USAGE', `init: ${name ? `unexpected argument ${JSON.stringify(extra)}` : 'no package name given'}`, { hint: `usage: ${cmd.usage}` });
    }
    const r = await init({ name, ...(values.template === undefined ? {} : { template: values.template }), dir: resolve(io.cwd, values.dir ?? name) });
    const next = nextSteps(r.dir, io.cwd);
    if (values.json) {
      io.stdout.write(JSON.stringify({ name: r.name, template: r.template, dir: r.dir, files: r.files, next }, null, 2) + '\n');
      return 0;
    }
    io.stdout.write(
      [`created ${r.name} (template ${r.template}) in ${r.dir}`, ...r.files.map((f) => `  ${f}`), '', 'next:', ...next.map((c) => `  ${c}`)].join('\n') + '\n',
    );
    return 0;
  },
};

export default cmd;
