// The helper and map-type tables are generated from the uapi header; a hand edit, or a header
// that says something else, fails here.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helperName } from '../../src/bpf/helpers.js';
import { mapTypeName } from '../../src/bpf/map-types.js';
import { sandboxDir } from '../helpers/cli.js';

const SCRIPT = new URL('../../scripts/gen-bpf-tables.mjs', import.meta.url).pathname;

describe('generated BPF tables', () => {
  it('match what the generator makes from /usr/include/linux/bpf.h', () => {
    expect(execFileSync(process.execPath, [SCRIPT, '--check'], { encoding: 'utf8' })).toBe('');
  });

  it('are reported stale against another header', () => {
    const dir = sandboxDir('tables-');
    const header = join(dir, 'bpf.h');
    writeFileSync(
      header,
      '#define __BPF_FUNC_MAPPER(FN)\t\\\n\tFN(unspec),\t\\\n\tFN(map_lookup_elem),\n\nenum bpf_map_type {\n\tBPF_MAP_TYPE_UNSPEC,\n\tBPF_MAP_TYPE_HASH,\n};\n',
    );
    const r = spawnSync(process.execPath, [SCRIPT, '--check', '--header', header], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'src/bpf/helpers.ts differs from what scripts/gen-bpf-tables.mjs generates; run it without --check\n' +
        'src/bpf/map-types.ts differs from what scripts/gen-bpf-tables.mjs generates; run it without --check\n',
    );
  });

  it('name helpers and map types by their uapi numbers', () => {
    expect([helperName(0), helperName(1), helperName(130), helperName(209), helperName(210)]).toEqual([
      undefined,
      'bpf_map_lookup_elem',
      'bpf_ringbuf_output',
      'bpf_user_ringbuf_drain',
      undefined,
    ]);
    expect([mapTypeName(1), mapTypeName(27), mapTypeName(31), mapTypeName(32), mapTypeName(33), mapTypeName(99)]).toEqual([
      'hash',
      'ringbuf',
      'user_ringbuf',
      'cgrp_storage',
      'arena',
      'type#99',
    ]);
  });
});
