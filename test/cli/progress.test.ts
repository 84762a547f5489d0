// Push progress on a terminal (issue 17, item 10): the last frame lists each file once, in a
// fixed order (by label, the manifest last), with none dropped, whatever order uploads end in.
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { formatBytes } from '../../src/cli/format.js';
import { ttyEbpm } from '../helpers/cli.js';
import { describeWith } from '../helpers/prereq.js';
import { screenOf } from '../helpers/screen.js';
import { packageLayout, sandbox, type BuiltPackage, type Sandbox } from './helpers.js';

const COLUMNS = 100;
const FULL = '█'.repeat(24);
const wrapped = (line: string) => line.match(new RegExp(`.{1,${COLUMNS}}`, 'g'))!;

describeWith(['clang'], 'push progress on a terminal', () => {
  let sb: Sandbox;
  let pkg: BuiltPackage;

  beforeAll(async () => {
    sb = sandbox();
    // A payload of 3 MiB: its upload ends well after the object's and the config's.
    pkg = await packageLayout(join(sb.root, 'src'), { version: '1.0.0', payload: new Uint8Array(3 << 20).fill(7) });
  });

  it('the last frame shows every blob once, the manifest last, and the totals', async () => {
    const push = ttyEbpm(['push', pkg.dir], { env: sb.env, columns: COLUMNS });
    expect(await push.exited()).toBe(0);
    const manifest = JSON.parse(Buffer.from(pkg.blobs.get(pkg.digest)!).toString()) as {
      config: { digest: string; size: number };
      layers: { digest: string; size: number; annotations: Record<string, string> }[];
    };
    const row = (digest: string, label: string, size: number) =>
      `${digest.slice(0, 19)}  ${label.padEnd(16)}  ${FULL}  ${formatBytes(size)} / ${formatBytes(size)}`;
    const [object, payload] = manifest.layers;
    expect(screenOf(push.screen(), COLUMNS)).toEqual([
      row(manifest.config.digest, 'application/vnd…', manifest.config.size),
      row(object!.digest, 'sigsnoop.bpf.o', object!.size),
      row(payload!.digest, 'source.tar.gz', payload!.size),
      row(pkg.digest, 'application/vnd…', pkg.blobs.get(pkg.digest)!.byteLength),
      `pushing local.invalid/sigsnoop:1.0.0  ${FULL}  ${formatBytes(pkg.size)} / ${formatBytes(pkg.size)}`,
      // The terminal wraps what is longer than its width.
      ...wrapped(`pushed local.invalid/sigsnoop:1.0.0 ${pkg.digest} (4 blobs, ${pkg.size} bytes)`),
      'tags: 1.0.0, 1.0, 1, latest',
    ]);
  });
});
