// Carving BPF objects out of the binaries that embed them (libbpf skeletons), against the real
// libbpf-tools binaries and synthetic inputs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedBpfObjects } from '../../src/bpf/embedded.js';
import { parseObject } from '../../src/bpf/object.js';
import { sandboxDir } from '../helpers/cli.js';
import { LIBBPF_TOOLS_DIR, libbpfToolObject } from '../helpers/libbpf-tools.js';
import { exampleObject } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

describe('embeddedBpfObjects', () => {
  it('finds each whole object between other bytes, and skips what only looks like one', async () => {
    const obj = await exampleObject('sigsnoop');
    const fake = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, ...new Array(58).fill(0)]); // ELF magic, no BPF header
    const host = Buffer.concat([Buffer.from('head'), fake, obj, Buffer.from('between'), obj, Buffer.from('tail')]);
    const found = embeddedBpfObjects(host);
    expect(found.map((o) => o.byteLength)).toEqual([obj.byteLength, obj.byteLength]);
    expect(Buffer.from(found[0]!).equals(Buffer.from(obj))).toBe(true);
    expect(embeddedBpfObjects(obj.subarray(0, obj.byteLength - 1))).toEqual([]);
    expect(embeddedBpfObjects(new Uint8Array(0))).toEqual([]);
  });
});

describeWith(['libbpf-tools'], 'the objects inside libbpf-tools', () => {
  it('carves exactly one parseable object out of each of execsnoop, runqlat and opensnoop', () => {
    const dir = sandboxDir('carve-');
    for (const tool of ['execsnoop', 'runqlat', 'opensnoop']) {
      expect(embeddedBpfObjects(readFileSync(join(LIBBPF_TOOLS_DIR, tool)))).toHaveLength(1);
      const spec = parseObject(readFileSync(libbpfToolObject(tool, dir)));
      expect(spec.programs.length).toBeGreaterThan(0);
    }
  });
});
