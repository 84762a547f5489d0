// Writes src/cli/snapshot-sample.ts: the OCI layout of a small BPF-only package (examples/sigsnoop
// without its Wasm program and README), which the start-up snapshot resolves when it is built so
// that the code of `ebpm run`'s resolve path is compiled in it (src/cli/snapshot-warm.ts). Run it
// again when `ebpm build`'s output changes (a new metadata field, a new layer): the snapshot's
// build fails while the sample no longer resolves. Needs what `ebpm build` needs (clang, bpftool).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const repo = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'ebpm-sample-'));
try {
  const pkg = join(work, 'sigsnoop');
  cpSync(join(repo, 'examples', 'sigsnoop'), pkg, { recursive: true, filter: (s) => !/\/(out|main\.c|README\.md)$/.test(s) });
  const manifest = JSON.parse(readFileSync(join(pkg, 'ebpm.json'), 'utf8'));
  delete manifest.wasm;
  writeFileSync(join(pkg, 'ebpm.json'), JSON.stringify(manifest));
  execFileSync(process.execPath, [join(repo, 'bin', 'ebpm.js'), 'build', pkg], { stdio: 'ignore', env: { ...process.env, HOME: work } });
  const out = join(pkg, 'out');
  const files = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
  const entries = files(out)
    .sort()
    .map((f) => `  '${relative(out, f)}':\n    '${readFileSync(f).toString('base64')}',`);
  const file = join(repo, 'src', 'cli', 'snapshot-sample.ts');
  writeFileSync(
    file,
    `/**\n * The OCI layout of a small BPF-only package, file by file (base64), that the start-up snapshot\n * resolves when it is built (snapshot-warm.ts). Written by scripts/snapshot-sample.mjs: do not edit.\n */\nexport const SAMPLE_LAYOUT: Readonly<Record<string, string>> = {\n${entries.join('\n')}\n};\n`,
  );
  execFileSync(join(repo, 'node_modules', '.bin', 'biome'), ['format', '--write', file], { stdio: 'ignore' });
} finally {
  rmSync(work, { recursive: true, force: true });
}
