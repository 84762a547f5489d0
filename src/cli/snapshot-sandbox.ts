/**
 * Where the start-up snapshots' warm-ups run (snapshot-warm.ts for `ebpm run`, snapshot-ls.ts for
 * `ebpm ls`, snapshot-push.ts for `ebpm push`): a temporary directory holding the sample package's
 * layout (snapshot-sample.ts), an environment of its own there (its store and embedded registry),
 * and output captured instead of printed. Nothing of it may be kept in a snapshot but the
 * compiled code, so no timer may start while a warm-up runs: Node's timer queue is in the
 * snapshot, with its next expiry as of the build, and a later process's timer due after that
 * would never be armed (an xdp program alone, waiting for its stop on a long interval, would end
 * at once).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { copyGraph } from '../content/copy.js';
import { OciLayout } from '../store/layout.js';
import type { Io } from './command.js';
import { SAMPLE_LAYOUT } from './snapshot-sample.js';

/** The sample's name in the sandbox's store: a version tag, which the store answers without asking a registry. */
export const SAMPLE_REFERENCE = 'local.invalid/sigsnoop:1.2.0';

export interface WarmSandbox {
  readonly dir: string;
  /** The sample package's OCI layout. */
  readonly layout: string;
  readonly io: Io;
  /** What was written to stdout and stderr since the last `clear`. */
  output(): string;
  clear(): void;
  /** Copies the sample into the sandbox's store, tagged `SAMPLE_REFERENCE`. */
  storeSample(): Promise<void>;
}

/** `warmIn` runs `warm` in a new sandbox, with timers refused, and removes the sandbox after. */
export async function warmIn(warm: (sb: WarmSandbox) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ebpm-warm-'));
  const timers = { setTimeout, setInterval };
  globalThis.setTimeout = globalThis.setInterval = (() => {
    throw new Error('the start-up snapshot was built with a timer started: the warm-up must start none');
  }) as never;
  try {
    const layout = join(dir, 'sigsnoop');
    for (const [path, base64] of Object.entries(SAMPLE_LAYOUT)) {
      mkdirSync(dirname(join(layout, path)), { recursive: true });
      writeFileSync(join(layout, path), Buffer.from(base64, 'base64'));
    }
    let text = '';
    const out = new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk);
        done();
      },
    });
    const env = {
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      EBPM_CONFIG: join(dir, 'config.json'),
      EBPM_STORE: join(dir, 'store'),
      EBPM_BTF_CACHE: join(dir, 'btf'),
      EBPM_LOCAL_REGISTRY: join(dir, 'registry'),
    };
    await warm({
      dir,
      layout,
      io: { stdout: out, stderr: out, env, cwd: dir },
      output: () => text,
      clear: () => {
        text = '';
      },
      async storeSample() {
        const sample = await OciLayout.open(layout);
        const root = await sample.resolve('latest');
        const store = await OciLayout.open(env.EBPM_STORE);
        await copyGraph(sample, store, root);
        await store.tag(root, SAMPLE_REFERENCE);
      },
    });
  } finally {
    Object.assign(globalThis, timers);
    rmSync(dir, { recursive: true, force: true });
  }
}
