// Prints, as a Markdown table, what `ebpm run` does here with the BPF object of each of Debian's
// libbpf-tools: the programs it attaches and how it reads their events (a BTF struct, a record
// inferred from the instructions, or hex), or its one-line refusal and exit code. Each object is
// carved out of /usr/sbin/<tool> with src/bpf/embedded.ts and run with --max-events 0 --verbose
// (attach, then stop). Run as root after `npm run build` and `npm run build:native`:
//   sudo node scripts/libbpf-tools-table.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

const REPO = new URL('..', import.meta.url).pathname;

/** The project's own carver, bundled in memory (it is TypeScript). */
async function carver() {
  const { outputFiles } = await build({ entryPoints: [join(REPO, 'src/bpf/embedded.ts')], bundle: true, write: false, format: 'esm', platform: 'node' });
  const mod = await import(`data:text/javascript;base64,${Buffer.from(outputFiles[0].text).toString('base64')}`);
  return mod.embeddedBpfObjects;
}

const tools = execFileSync('dpkg', ['-L', 'libbpf-tools'], { encoding: 'utf8' })
  .split('\n')
  .filter((p) => p.startsWith('/usr/sbin/') && !lstatSync(p).isSymbolicLink())
  .map((p) => p.slice('/usr/sbin/'.length))
  .sort();
const embeddedBpfObjects = await carver();
const work = mkdtempSync(join(tmpdir(), 'ebpm-libbpf-tools-'));
const env = { ...process.env, HOME: work, EBPM_CONFIG: join(work, 'config.json'), EBPM_STORE: join(work, 'store'), EBPM_CACHE_DIR: join(work, 'cache') };
const cell = (s) => s.replaceAll('|', '\\|');
try {
  console.log('| tool | exit | what ebpm run does here | events |\n|---|---|---|---|');
  for (const tool of tools) {
    const objects = embeddedBpfObjects(readFileSync(join('/usr/sbin', tool)));
    if (objects.length !== 1) {
      console.log(`| ${tool} | - | ${objects.length} BPF objects inside | |`);
      continue;
    }
    const file = join(work, `${tool}.bpf.o`);
    writeFileSync(file, objects[0]);
    const r = spawnSync(process.execPath, [join(REPO, 'bin', 'ebpm.js'), 'run', file, '--max-events', '0', '--verbose'], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = r.stderr.split('\n');
    const line = lines.find((l) => l.startsWith('error: ') || / attached /.test(l)) ?? r.stderr.trim();
    const events = lines.find((l) => l.startsWith('  events from '))?.replace(/^ {2}events from [\w.]+: /, '') ?? '';
    console.log(`| ${tool} | ${r.status} | ${cell(line.replace(/^error: run [\w-]+: /, '').replace(/^[\w-]+ 0\.0\.0: /, ''))} | ${cell(events)} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
