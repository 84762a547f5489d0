import { resolve } from 'node:path';
import { JSON_FLAG, parseFlags, type Command } from '../command.js';
import { parseBtfFor } from '../../build/kernel-btf.js';
import { build } from '../../services/build.js';

const cmd: Command = {
  name: 'build',
  summary: 'Compile a package directory (ebpm.json, *.bpf.c, optional Wasm program) into an OCI image layout in <dir>/out.',
  usage: 'ebpm build [dir] [--btf-for [<release>=]<vmlinux | BTF file | linux-image-*.deb>]... [--json]',
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, { ...JSON_FLAG, 'btf-for': { type: 'string', multiple: true, default: [] } });
    const dir = resolve(io.cwd, positionals[0] ?? '.');
    const r = await build({ dir, env: io.env, btfFor: values['btf-for'].map((a) => parseBtfFor(a, io.cwd)) });
    for (const w of r.warnings) io.stderr.write(`warning: ${w}\n`);
    if (r.inferred) {
      io.stderr.write(
        `note: no ebpm.json in ${dir}: built as ${r.metadata.name}@${r.metadata.version}; add an ebpm.json with {"name": …, "version": …} to name and version it\n`,
      );
    }
    if (values.json) {
      io.stdout.write(
        JSON.stringify({ out: r.out, digest: r.descriptor.digest, size: r.size, tags: r.tags, created: r.created, metadata: r.metadata }, null, 2) + '\n',
      );
      return 0;
    }
    const m = r.metadata;
    const programs = m.objects.reduce((n, o) => n + o.programs.length, 0);
    io.stdout.write(
      [
        `built ${m.name}@${m.version}: ${m.objects.filter((o) => o.layer).length} object(s), ${programs} program(s)${m.wasm ? `, ${m.wasm.name}` : ''}`,
        `  ${r.out} (tags ${r.tags.join(', ')})`,
        `  ${r.descriptor.digest} ${r.size} bytes`,
        ...(m.btf ?? []).map((b) => `  BTF for kernel ${b.release}: ${b.size} bytes`),
      ].join('\n') + '\n',
    );
    return 0;
  },
};

export default cmd;
