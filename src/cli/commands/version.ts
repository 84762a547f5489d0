import { EbpmError } from '../../core/errors.js';
import { loadNative } from '../../kernel/native.js';
import { buildFacts, type BuildFacts } from '../build-facts.js';
import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { writeJson, writeLines } from '../dist.js';

const FLAGS = { ...JSON_FLAG };

const cmd: Command = {
  name: 'version',
  summary: "Show ebpm's version and what this build is made of: node, libbpf, architecture, start-up snapshot (--version prints the version alone).",
  usage: 'ebpm version [--json]',
  flags: FLAGS,
  examples: ['ebpm version', 'ebpm version --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length > 0) throw new EbpmError('USAGE', 'version: takes no arguments', { hint: `usage: ${cmd.usage}` });
    const facts = buildFacts(libbpf());
    if (values.json) writeJson(io, facts);
    else writeLines(io, factLines(facts));
    return 0;
  },
};

/** The addon's libbpf, or null when the addon does not load (ebpm still builds, pushes and pulls without it). */
function libbpf(): string | null {
  try {
    return loadNative().libbpfVersion();
  } catch {
    return null;
  }
}

function factLines(f: BuildFacts): string[] {
  return [
    `ebpm ${f.version}`,
    `node: ${f.node}`,
    `libbpf: ${f.libbpf ?? 'unknown (the native addon does not load)'}`,
    `architecture: ${f.arch}`,
    `start-up snapshot: ${f.snapshot.inUse ? 'in use' : `not in use: ${f.snapshot.reason}`}`,
  ];
}

export default cmd;
