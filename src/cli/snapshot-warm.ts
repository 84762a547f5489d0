/**
 * Warms `ebpm run`'s path while the start-up snapshot is built: resolving, planning and running
 * a small package (snapshot-sample.ts) there compiles the code a run calls first (layout and
 * index reads, digest checks, metadata validation, the trust policy, flag specs, the run plan,
 * the machine checks, the BTF cache, open, load, attach, the event reader and printers), and the
 * snapshot keeps what was compiled: a run's resolve then takes about 3 ms instead of 10, and its
 * way from there to the first event less too. The package is resolved in a warm-up sandbox
 * (snapshot-sandbox.ts) with `ebpm run <dir> --help`, which loads nothing into the kernel, then
 * stored there and resolved by reference, and run against a stand-in for the addon
 * (snapshot-native.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { btfCache, btfCacheKey } from '../kernel/btf-cache.js';
import { addonPath } from '../kernel/native.js';
import type { Io } from './command.js';
import { main } from './main.js';
import { prepare, runBpf } from './commands/run.js';
import { parseRunLine } from './commands/run-args.js';
import { openPackage, type OpenedPackage } from './package-sources.js';
import { standInNative } from './snapshot-native.js';
import { SAMPLE_REFERENCE, warmIn } from './snapshot-sandbox.js';
import { terminalOutput } from './views/run-terminal.js';

/** `warmRun` resolves the sample package as `ebpm run` does; it throws when that fails (the sample is out of date). */
export async function warmRun(): Promise<void> {
  await warmIn(async ({ dir, layout, io, output, clear, storeSample }) => {
    const code = await main(['run', layout, '--help'], io);
    if (code !== 0 || !output().startsWith('usage: ebpm run'))
      throw new Error(`the snapshot's sample package did not resolve (exit code ${code}): ${output()}`);
    // Stored, as an operator runs it by reference: the context, the store's answer and the trust policy's look for signatures.
    await storeSample();
    clear();
    const stored = await main(['run', SAMPLE_REFERENCE, '--help'], io);
    if (stored !== 0 || !output().includes('usage: ebpm run'))
      throw new Error(`the snapshot's stored sample did not resolve (exit code ${stored}): ${output()}`);
    // Then run, as `ebpm run` runs it next, against a stand-in for the addon (snapshot-native.ts).
    await warmBpfRun(await openPackage(layout, 'missing', io), layout, dir, io, output);
    // And where the addon is, as a run finds it next (it is loaded only by the run).
    addonPath();
  });
}

/** The boot id of the warm run's BTF cache: the build machine's is not to be kept. */
const STAND_IN_BOOT = '00000000-0000-0000-0000-000000000000';

/** The clock of the warm run's rows: midnight wherever the snapshot is built, so that neither its time nor its time zone is kept. */
const midnight = () => new Date(0).getTimezoneOffset() * 60_000;

/**
 * `warmBpfRun` runs `pkg` as `ebpm run <layout> --filtered-pid 1 --max-events 1` does when piped
 * (`runBpf`: its flags, the stops, the attach summary, one event printed, the end summary)
 * against the stand-in addon, with its minimal BTF cached in `dir`; then prints one event as a
 * terminal shows it. The BPF code on the way to a run's first event is then compiled in the
 * snapshot. Its one event is delivered by an immediate and ends the run: no timer starts.
 */
async function warmBpfRun(opened: OpenedPackage, layout: string, dir: string, io: Io, printed: () => string): Promise<void> {
  const { pkg } = opened;
  const line = parseRunLine([layout, '--filtered-pid', '1', '--max-events', '1'], dir);
  const { plan, format } = await prepare(pkg, line);
  const [object] = pkg.metadata.objects;
  const size = plan.events?.layout?.size;
  if (object === undefined || size === undefined || format === undefined) throw new Error(`the snapshot's sample package has no object or no typed events`);
  const record = new Uint8Array(size);
  // A hit in the BTF cache, as the runs after the first of a boot have (a miss would read the
  // kernel's BTF at the run's end), in a boot of its own. The stand-in addon does not read the file.
  const boot = join(io.env.EBPM_BTF_CACHE!, STAND_IN_BOOT);
  mkdirSync(boot, { recursive: true, mode: 0o700 });
  for (const bytes of pkg.objects.values()) {
    const key = btfCacheKey(bytes);
    if (key !== undefined) writeFileSync(join(boot, `${key}.btf`), new Uint8Array(0), { mode: 0o600 });
  }
  // Only a cache every object hits (a temporary directory others may write misses).
  const cache = btfCache(io.env, process.geteuid?.(), STAND_IN_BOOT);
  const hits = cache !== undefined && [...pkg.objects.values()].every((b) => cache.lookup(b) !== undefined);
  const code = await runBpf(pkg, line, io, opened, {
    native: standInNative(object, record),
    // A machine that runs the sample (its architecture, every capability, kernel BTF): nothing of the one building the snapshot.
    machine: { architecture: pkg.metadata.architecture, procStatus: 'CapEff:\t000001ffffffffff\n', kernelBtf: true, release: '0.0.0' },
    btfCache: hits ? cache : undefined,
    now: midnight,
  });
  if (code !== 0 || !printed().includes(`${pkg.metadata.name}: 1 events, 0 lost (stopped: max-events)`))
    throw new Error(`the snapshot's warm run did not print its event (exit code ${code}): ${printed()}`);
  // And as a terminal shows it, before its live view would take over (the run ends first).
  const terminal = Object.assign(new Writable({ write: (_chunk, _encoding, done) => done() }), { columns: 80, rows: 24 }) as NodeJS.WriteStream;
  const shown = terminalOutput({ stdout: terminal, format, title: pkg.metadata.name, counts: () => ({ events: 1, lost: 0 }), color: false, now: midnight });
  shown.start();
  shown.events([record]);
  shown.end();
}
