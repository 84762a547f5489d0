// package.json's "install" script, which npm runs where the packed package is installed
// (`npm install -g ./ebpm-<v>.tgz`, `npm rebuild -g ebpm`): it builds the native addon with
// npm's node-gyp, then the start-up snapshot for the installing node. ebpm builds, pushes and
// pulls without either, so a failure is explained and the install still succeeds; `run` and
// `check` then refuse with the same advice (src/kernel/native.ts). In a checkout (src/ is not
// packed) scripts/bootstrap.sh builds both, only when their sources change.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
if (existsSync(join(root, 'src'))) process.exit(0);

/** Where the reason an install did not build the addon is kept (read by src/kernel/native.ts `installFailure`). */
const NOT_BUILT = 'native/not-built.txt';
const say = (line) => process.stderr.write(`ebpm: ${line}\n`);

/** What node-gyp and native/binding.gyp need, with the packages that provide it. */
const NEEDS = [
  { what: 'make', has: () => onPath('make'), debian: 'make', fedora: 'make' },
  { what: 'gcc', has: () => onPath('cc') || onPath('gcc'), debian: 'gcc', fedora: 'gcc' },
  // gyp's Makefile links with $(CXX), g++ by default, even an addon written in C.
  { what: 'g++', has: () => onPath('c++') || onPath('g++'), debian: 'g++', fedora: 'gcc-c++' },
  { what: 'python3', has: () => onPath('python3'), debian: 'python3', fedora: 'python3' },
  { what: 'pkg-config', has: () => onPath('pkg-config'), debian: 'pkg-config', fedora: 'pkgconf-pkg-config' },
  { what: 'libbpf', has: () => pkgConfig('libbpf'), debian: 'libbpf-dev', fedora: 'libbpf-devel' },
  { what: 'libelf', has: () => pkgConfig('libelf'), debian: 'libelf-dev', fedora: 'elfutils-libelf-devel' },
  { what: 'zlib', has: () => pkgConfig('zlib'), debian: 'zlib1g-dev', fedora: 'zlib-devel' },
];

function onPath(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir || '.', command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function pkgConfig(library) {
  return onPath('pkg-config') && spawnSync('pkg-config', ['--exists', library]).status === 0;
}

/**
 * The installing node's own headers, when it has them (official tarballs, Debian's libnode-dev):
 * node-gyp otherwise downloads them from nodejs.org, which an offline machine cannot reach.
 */
function nodedir() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(realpathSync(process.execPath)));
  return existsSync(join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/** Why the addon was not built (`why`) and what to tell the installing user, or undefined once it is built. */
function buildAddon() {
  const missing = NEEDS.filter((need) => !need.has());
  if (missing.length > 0) {
    const names = (distro) => missing.map((need) => need[distro]).join(' ');
    const why = `${missing.map((need) => need.what).join(', ')} not found`;
    return {
      why,
      lines: [
        `the native addon was not built: ${why}`,
        `install them (Debian, Ubuntu: apt-get install ${names('debian')}; Fedora: dnf install ${names('fedora')}), then run: npm rebuild -g ebpm`,
      ],
    };
  }
  // npm names its own node-gyp to install scripts; npm rebuild and npm install put it on PATH too.
  const gyp = process.env.npm_config_node_gyp;
  const [command, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
  const made = spawnSync(command, [...args, 'rebuild', '-C', 'native', ...nodedir()], { cwd: root, encoding: 'utf8' });
  if (made.status === 0) return undefined;
  const why = `node-gyp rebuild failed (${made.error ? made.error.message : `exit code ${made.status}`})`;
  const output = `${made.stdout ?? ''}${made.stderr ?? ''}`.trim().split('\n').slice(-15);
  return { why, lines: [`the native addon was not built: ${why}:`, ...output.map((line) => `  ${line}`), 'fix what it says, then run: npm rebuild -g ebpm'] };
}

// npm shows an install script's output only with --foreground-scripts: the reason is also kept
// beside the addon, where src/kernel/native.ts reads it when run or check cannot load the addon.
const notBuilt = join(root, NOT_BUILT);
const failed = buildAddon();
if (failed === undefined) rmSync(notBuilt, { force: true });
else {
  writeFileSync(notBuilt, `${failed.why} at install\n`);
  for (const line of failed.lines) say(line);
  say('meanwhile build, push, pull and the other registry commands work; run and check do not');
}

const snapshot = spawnSync(process.execPath, [join(root, 'scripts/snapshot.mjs')], { encoding: 'utf8' });
if (snapshot.status !== 0) {
  say(`the start-up snapshot was not built (exit code ${snapshot.status}); ebpm starts without it, more slowly:`);
  for (const line of `${snapshot.stderr ?? ''}`.trim().split('\n').slice(-5)) say(`  ${line}`);
}
