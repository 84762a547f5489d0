import { resolve } from 'node:path';
import { JSON_FLAG, parseFlags, platformsFlag, type Command, type Flags } from '../command.js';
import { parseBtfFor } from '../../build/kernel-btf.js';
import { build } from '../../api/build.js';
import { writeNotices } from '../format.js';

const FLAGS = {
  ...JSON_FLAG,
  platform: {
    type: 'string',
    valueName: '<os/arch>,...',
    description: 'build for these platforms (linux/amd64, linux/arm64): one package per architecture under an OCI image index',
  },
  'btf-for': {
    type: 'string',
    multiple: true,
    default: [],
    valueName: '[<release>=]<file>',
    description:
      "carry this kernel's BTF (a vmlinux, a BTF file or a linux-image-*.deb), minimized to what the package uses, for kernels without /sys/kernel/btf/vmlinux",
  },
} as const satisfies Flags;

const cmd: Command = {
  name: 'build',
  summary: 'Compile a package directory (ebpm.json, *.bpf.c, optional Wasm program) into an OCI image layout in <dir>/out.',
  usage: 'ebpm build [dir] [--platform linux/amd64,linux/arm64] [--btf-for [<release>=]<vmlinux | BTF file | linux-image-*.deb>]... [--json]',
  flags: FLAGS,
  examples: ['ebpm build examples/sigsnoop', 'ebpm build . --platform linux/amd64,linux/arm64', 'ebpm build . --btf-for 5.15.0-91-generic=./vmlinux-5.15'],
  async run(args, io) {
    const { values, positionals } = parseFlags(cmd, args, FLAGS);
    const dir = resolve(io.cwd, positionals[0] ?? '.');
    const architectures = platformsFlag(cmd, values.platform)?.map((p) => p.architecture);
    const btfFor = values['btf-for'].map((a) => parseBtfFor(a, io.cwd));
    const r = await build({ dir, env: io.env, btfFor, ...(architectures ? { architectures } : {}) });
    writeNotices(io.stderr, r.notices);
    if (values.json) {
      io.stdout.write(
        JSON.stringify(
          { out: r.out, digest: r.descriptor.digest, size: r.size, tags: r.tags, created: r.created, platforms: r.platforms, metadata: r.metadata },
          null,
          2,
        ) + '\n',
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
        ...r.platforms.map((p) => `  ${p.platform} ${p.digest}`),
        ...(m.btf ?? []).map((b) => `  BTF for kernel ${b.release}: ${b.size} bytes`),
      ].join('\n') + '\n',
    );
    return 0;
  },
};

export default cmd;
