import { JSON_FLAG, onePlatform, parseFlags, type Command, type Flags } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import { packageResultMaps } from '../../package/result-maps.js';
import { alternativesHere, type ObjectPrograms } from '../../api/alternatives.js';
import type { ProgramMeta } from '../../package/metadata.js';
import type { InspectResult } from '../../api/index.js';
import { client } from '../client.js';
import { writeJson } from '../dist.js';
import { writeNotices, writeText } from '../format.js';
import { choiceLine, eventTypeText, fieldLines, UNTYPED_EVENTS } from '../views/run-text.js';
import { isEventMapType } from '../../bpf/event-maps.js';

const FLAGS = {
  ...JSON_FLAG,
  platform: { type: 'string', valueName: 'linux/<arch>', description: "of a multi-platform package, show this platform's (default this machine's)" },
} as const satisfies Flags;

const cmd: Command = {
  name: 'inspect',
  summary: 'Show what a package holds: programs, attach points, maps, parameters, event layouts, requirements, size and digest.',
  usage: 'ebpm inspect <dir | layout[:tag] | file.bpf.o | file.wasm | package.json | registry reference> [--platform linux/<arch>] [--json]',
  flags: FLAGS,
  examples: ['ebpm inspect examples/sigsnoop', 'ebpm inspect sigsnoop@1.2 --platform linux/arm64 --json'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'inspect: expected one path', { hint: `usage: ${cmd.usage}` });
    const target = positionals[0]!;
    const platform = onePlatform(cmd, values.platform);
    const r = await client(io, false).inspect(target, platform ? { platform } : {});
    writeNotices(io.stderr, r.notices);
    const here = alternativesHere(r.metadata.objects);
    if (values.json) {
      const alternatives = here.flatMap((o) =>
        o.choices.map((c) => ({
          object: o.object,
          kind: c.group.kind,
          name: c.group.name,
          options: c.group.options,
          chosen: c.chosen.mechanism,
          passedOver: c.passedOver,
        })),
      );
      writeJson(io, {
        source: target,
        format: r.format,
        digest: r.digest,
        size: r.size,
        ...(r.platforms ? { platform: r.platforms.shown, platforms: r.platforms.all } : {}),
        metadata: r.metadata,
        resultMaps: packageResultMaps(r.metadata),
        alternatives,
      });
    } else writeText(io.stdout, formatInspect(r, here));
    return 0;
  },
};

/** `formatInspect` renders an inspection as plain text for people; `here`: the alternatives chosen on this kernel. */
export function formatInspect(r: InspectResult, here: readonly ObjectPrograms[] = []): string {
  const m = r.metadata;
  const out: string[] = [`${m.name}@${m.version} (${r.format})${m.description ? ` - ${m.description}` : ''}`, `digest: ${r.digest}`, `size: ${r.size} bytes`];
  if (r.platforms) out.push(`platforms: ${r.platforms.all.map((p) => p.platform).join(', ')} (shown: ${r.platforms.shown})`);
  if (m.license) out.push(`license: ${m.license}`);
  const results = packageResultMaps(m);
  for (const o of m.objects) {
    out.push('', `object ${o.name} ${o.digest} ${o.size} bytes${o.embedded ? ' (embedded in Wasm)' : ''}`);
    out.push('  programs:', ...o.programs.map((p) => `    ${p.name}: ${p.type}${p.attach ? ` ${p.attach}` : ''} [${p.section}]${defaultTarget(p)}`));
    const choices = here.find((x) => x.object === o.name)?.choices ?? [];
    if (choices.length > 0)
      out.push('  alternatives (run loads one of each; the one this kernel supports first):', ...choices.map((c) => `    ${choiceLine(c)}`));
    out.push(
      '  maps:',
      ...o.maps.map(
        (x) =>
          `    ${x.name}: ${x.type} key ${x.keySize} value ${x.valueSize} max ${x.maxEntries}${x.sample ? ` sample ${x.sample.type} every ${x.sample.interval}ms${x.sample.unit ? ` (${x.sample.unit})` : ''}` : ''}`,
      ),
    );
    const mine = results.filter((x) => x.object === o.name);
    if (mine.length) out.push('  printed by `ebpm run` at the stop:', ...mine.map((x) => `    ${x.map}: ${x.kind} (${x.reason})`));
    // A Wasm program sets its objects' globals from arguments of its own: they are no flags of `run`.
    if (o.parameters.length && m.wasm) {
      out.push(
        '  globals (set by its Wasm program; see `ebpm run <package> -h`):',
        ...o.parameters.map((p) => `    ${p.name}  ${p.type} = ${JSON.stringify(p.default)}${p.description ? `  ${p.description}` : ''}`),
      );
    } else if (o.parameters.length) {
      out.push(
        '  parameters:',
        ...o.parameters.map(
          (p) =>
            `    --${p.flag.long}${p.flag.short ? `, -${p.flag.short}` : ''}  ${p.type} = ${JSON.stringify(p.default)}${p.description ? `  ${p.description}` : ''}`,
        ),
      );
    }
    for (const e of o.exports)
      out.push(`  events on ${e.map}: ${eventTypeText(e.type, e.inferredBy ?? 'declared', e.programs)}`, ...fieldLines(e.type, e.origins));
    for (const x of o.maps) {
      if (isEventMapType(x.type) && !o.exports.some((e) => e.map === x.name)) out.push(`  events on ${x.name}: ${UNTYPED_EVENTS}`);
    }
  }
  if (m.wasm)
    out.push('', `wasm ${m.wasm.name} ${m.wasm.digest} ${m.wasm.size} bytes`, `  imports: ${m.wasm.imports.map((i) => `${i.module}.${i.name}`).join(', ')}`);
  const q = m.requirements;
  out.push(
    '',
    'requirements:',
    `  program types: ${q.programTypes.join(', ') || '-'}`,
    `  map types: ${q.mapTypes.join(', ') || '-'}`,
    `  helpers: ${q.helpers.join(', ') || '-'}`,
    `  kernel types: ${q.kernelTypes.join(', ') || '-'}`,
    `  kernel BTF: ${q.kernelBtf ? 'required' : 'not required'}`,
  );
  if (m.btf) out.push(`  BTF carried for kernels: ${m.btf.map((b) => b.release).join(', ')}`);
  return out.join('\n') + '\n';
}

export default cmd;

/** Where `run` attaches a program given no `--attach`: eunomia's `@tchook`/`@ifindex`. */
function defaultTarget(p: ProgramMeta): string {
  const t = p.defaultTarget;
  if (t === undefined) return '';
  const how = [t.direction, t.priority === undefined ? undefined : `priority ${t.priority}`].filter((x) => x !== undefined).join(', ');
  return ` default target: interface ${t.ifindex}${how ? ` (${how})` : ''}`;
}
