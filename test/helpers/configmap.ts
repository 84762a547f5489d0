// A ConfigMap volume as the kubelet lays it out (its AtomicWriter): the files in a timestamped
// directory `..<time>/`, a link `..data` to the current one, and per key a link `<key>` →
// `..data/<key>`. An update writes a new timestamped directory, renames a new `..data` link over
// the old one (the one atomic step), adds links for new keys, removes those of gone keys, and
// removes the old directory.
import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ConfigMapVolume {
  /** `update` replaces the volume's data, as the kubelet does when the ConfigMap changes. */
  update(data: Readonly<Record<string, string>>): void;
}

/** `configMapVolume` makes `dir` a ConfigMap volume holding `data`. */
export function configMapVolume(dir: string, data: Readonly<Record<string, string>>): ConfigMapVolume {
  mkdirSync(dir, { recursive: true });
  let generation = 0;
  let keys: string[] = [];
  const update = (next: Readonly<Record<string, string>>) => {
    // The kubelet names them by the time of the write; a counter keeps them distinct here.
    const stamp = `..2026_12_06_13_00_00.${String(++generation).padStart(9, '0')}`;
    mkdirSync(join(dir, stamp));
    for (const [key, text] of Object.entries(next)) writeFileSync(join(dir, stamp, key), text);
    const old = generation > 1 ? readlinkSync(join(dir, '..data')) : undefined;
    symlinkSync(stamp, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const key of Object.keys(next)) if (!keys.includes(key)) symlinkSync(join('..data', key), join(dir, key));
    for (const key of keys) if (!(key in next)) rmSync(join(dir, key));
    keys = Object.keys(next);
    if (old !== undefined) rmSync(join(dir, old), { recursive: true });
  };
  update(data);
  return { update };
}
