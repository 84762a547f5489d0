// A store writer run as a child process by crash.test.ts (bundled with esbuild):
// `node writer.mjs <dir> <id> <count>` writes <count> artifacts (0: until killed), tagging each
// `w<id>-<i>`, `shared` and `common-<i % 3>`, and prints `tagged <i>` once all three are set. Every
// artifact also carries one layer all writers share.
import { randomBytes } from 'node:crypto';
import { OciLayout } from '../../src/store/layout.js';
import { pushArtifact } from '../content/fixtures.js';

const [dir, id, count] = process.argv.slice(2) as [string, string, string];
const layout = await OciLayout.open(dir);
for (let i = 0; Number(count) === 0 || i < Number(count); i++) {
  const a = await pushArtifact(layout, [randomBytes(1 + (randomBytes(2).readUInt16LE() % 65536)), 'a layer every writer shares']);
  await layout.tag(a.manifest, `w${id}-${i}`);
  await layout.tag(a.manifest, 'shared');
  await layout.tag(a.manifest, `common-${i % 3}`);
  process.stdout.write(`tagged ${i}\n`);
}
process.stdout.write('done\n');
