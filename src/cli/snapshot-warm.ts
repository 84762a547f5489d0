/**
 * Warms `ebpm run`'s resolve and plan path while the start-up snapshot is built: resolving and
 * planning a small package (snapshot-sample.ts) there compiles the code a run calls first
 * (layout and index reads, digest checks, metadata validation, the trust policy, flag specs,
 * the run plan, the event printer and the BTF cache's key), and the snapshot keeps what was
 * compiled: a run's resolve then takes about 3 ms instead of 10. The package is written to a
 * temporary directory and resolved with `ebpm run <dir> --help`, which loads nothing into the
 * kernel, then stored there, resolved by reference and listed (`ebpm ls`), under an environment of its own in that
 * directory; nothing of it is kept but the compiled code.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { eventPrinter, planPackage } from '../api/run.js';
import { btfCacheKey } from '../kernel/btf-cache.js';
import { addonPath } from '../kernel/native.js';
import { copyGraph } from '../content/copy.js';
import { OciLayout } from '../store/layout.js';
import type { Io } from './command.js';
import { main } from './main.js';
import { openPackage } from './package-sources.js';
import { SAMPLE_LAYOUT } from './snapshot-sample.js';

/** The sample's name in the store: a version tag, which the store answers without asking a registry. */
const SAMPLE_REFERENCE = 'local.invalid/sigsnoop:1.2.0';

/** `warmRun` resolves the sample package as `ebpm run` does; it throws when that fails (the sample is out of date). */
export async function warmRun(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ebpm-warm-'));
  // No timer may start here: Node's timer queue is in the snapshot, with its next expiry as of the
  // build, and a run's timer due later than that would never be armed (an xdp program alone,
  // waiting for its stop on a long interval, would end at once).
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
    const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), EBPM_CONFIG: join(dir, 'config.json'), EBPM_STORE: join(dir, 'store') };
    const io: Io = { stdout: out, stderr: out, env, cwd: dir };
    const code = await main(['run', layout, '--help'], io);
    if (code !== 0 || !text.startsWith('usage: ebpm run')) throw new Error(`the snapshot's sample package did not resolve (exit code ${code}): ${text}`);
    // Stored, as an operator runs it by reference: the context, the store's answer and the trust policy's look for signatures.
    const sample = await OciLayout.open(layout);
    const root = await sample.resolve('latest');
    const store = await OciLayout.open(env.EBPM_STORE);
    await copyGraph(sample, store, root);
    await store.tag(root, SAMPLE_REFERENCE);
    text = '';
    const stored = await main(['run', SAMPLE_REFERENCE, '--help'], io);
    if (stored !== 0 || !text.includes('usage: ebpm run')) throw new Error(`the snapshot's stored sample did not resolve (exit code ${stored}): ${text}`);
    // And listed, as `ebpm ls` lists the store.
    text = '';
    const listed = await main(['ls'], io);
    if (listed !== 0 || !text.includes(SAMPLE_REFERENCE)) throw new Error(`the snapshot's store did not list its sample (exit code ${listed}): ${text}`);
    // Then planned, as a run plans it next, still without the kernel, and a record of zeros printed.
    const { pkg } = await openPackage(layout, 'missing', io);
    const plan = await planPackage(pkg, {}, []);
    const size = plan.events?.layout?.size ?? 0;
    eventPrinter(pkg, plan)?.line(new DataView(new ArrayBuffer(size)), 0, size, '00:00:00');
    // Its objects named in the BTF cache, as the load looks them up next (reading their ELF sections).
    for (const bytes of pkg.objects.values()) btfCacheKey(bytes);
    // And where the addon is, as a run finds it next (it is loaded only by the run).
    addonPath();
  } finally {
    Object.assign(globalThis, timers);
    rmSync(dir, { recursive: true, force: true });
  }
}
