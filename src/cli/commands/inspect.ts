import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { EbpmError } from '../../core/errors.js';
import type { TypeLayout } from '../../bpf/layout.js';
import type { ProgramMeta } from '../../package/metadata.js';
import { inspectPath, type InspectResult } from '../../services/inspect.js';
import { inspectRemote } from '../../services/inspect-remote.js';
import { isLocalPath } from '../../services/local-source.js';
import { context, writeJson } from '../dist.js';
import { writeText } from '../format.js';

const cmd: Command = {
  name: 'inspect',
  summary: 'Show what a package holds: programs, attach points, maps, parameters, event layouts, requirements, size and digest.',
  usage: 'ebpm inspect <dir | layout[:tag] | file.bpf.o | file.wasm | package.json | registry reference> [--json]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, JSON_FLAG);
    if (positionals.length !== 1) throw new EbpmError('USAGE', 'inspect: expected one path', { hint: `usage: ${cmd.usage}` });
    const target = positionals[0]!;
    const r = (await isLocalPath(io.cwd, target)) ? await inspectPath(target, io.cwd, io.env) : await inspectRemote(await context(io, false), target);
    if (values.json) writeJson(io, { source: target, format: r.format, digest: r.digest, size: r.size, metadata: r.metadata });
    else writeText(io.stdout, formatInspect(r));
    return 0;
  },
};

/** `formatInspect` renders an inspection as plain text for people. */
export function formatInspect(r: InspectResult): string {
  const m = r.metadata;
  const out: string[] = [`${m.name}@${m.version} (${r.format})${m.description ? ` - ${m.description}` : ''}`, `digest: ${r.digest}`, `size: ${r.size} bytes`];
  if (m.license) out.push(`license: ${m.license}`);
  for (const o of m.objects) {
    out.push('', `object ${o.name} ${o.digest} ${o.size} bytes${o.embedded ? ' (embedded in Wasm)' : ''}`);
    out.push('  programs:', ...o.programs.map((p) => `    ${p.name}: ${p.type}${p.attach ? ` ${p.attach}` : ''} [${p.section}]${defaultTarget(p)}`));
    out.push(
      '  maps:',
      ...o.maps.map(
        (x) =>
          `    ${x.name}: ${x.type} key ${x.keySize} value ${x.valueSize} max ${x.maxEntries}${x.sample ? ` sample ${x.sample.type} every ${x.sample.interval}ms${x.sample.unit ? ` (${x.sample.unit})` : ''}` : ''}`,
      ),
    );
    if (o.parameters.length) {
      out.push(
        '  parameters:',
        ...o.parameters.map(
          (p) =>
            `    --${p.flag.long}${p.flag.short ? `, -${p.flag.short}` : ''}  ${p.type} = ${JSON.stringify(p.default)}${p.description ? `  ${p.description}` : ''}`,
        ),
      );
    }
    for (const e of o.exports) out.push(`  events on ${e.map}: ${layoutLine(e.type)}`, ...fieldLines(e.type));
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
  return out.join('\n') + '\n';
}

function layoutLine(l: TypeLayout): string {
  return `${l.kind === 'struct' || l.kind === 'union' ? `${l.kind} ${l.name ?? ''}` : (l.name ?? l.kind)} (${l.size} bytes)`;
}

function fieldLines(l: TypeLayout): string[] {
  if (l.kind !== 'struct' && l.kind !== 'union') return [];
  return l.fields.map(
    (f) => `    +${f.offset} ${f.name}: ${f.layout.kind === 'string' ? `char[${f.layout.size}]` : (f.layout.name ?? f.layout.kind)} (${f.layout.size})`,
  );
}

export default cmd;

/** Where `run` attaches a program given no `--attach`: eunomia's `@tchook`/`@ifindex`. */
function defaultTarget(p: ProgramMeta): string {
  const t = p.defaultTarget;
  if (t === undefined) return '';
  const how = [t.direction, t.priority === undefined ? undefined : `priority ${t.priority}`].filter((x) => x !== undefined).join(', ');
  return ` default target: interface ${t.ifindex}${how ? ` (${how})` : ''}`;
}
