/**
 * The proof that a minimal BTF relocates exactly as the kernel's own: every object the tests
 * have (the examples, the test fixtures, Debian's libbpf-tools) is loaded once against
 * /sys/kernel/btf/vmlinux and once against its minimal BTF, and each program's tag (the hash of
 * its instructions after relocation, bpf_prog_info.tag) must be the same.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { coreRoots, minimalBtf } from '../../src/bpf/btf-min.js';
import { parseObject } from '../../src/bpf/object.js';
import { BpfObject, setBpfLog } from '../../src/kernel/loader.js';
import { libbpfToolObject } from '../helpers/libbpf-tools.js';
import { cachedObject, EXAMPLES, exampleObject, REPO } from '../helpers/objects.js';
import { describeWith } from '../helpers/prereq.js';

/** libbpf-tools whose objects relocate against vmlinux types only (the others use fentry or tp_btf). */
const TOOLS = [
  'bashreadline',
  'biotop',
  'execsnoop',
  'exitsnoop',
  'filelife',
  'filetop',
  'gethostlatency',
  'javagc',
  'ksnoop',
  'llcstat',
  'mountsnoop',
  'oomkill',
  'opensnoop',
  'sigsnoop',
  'slabratetop',
  'statsnoop',
  'syscount',
  'tcpconnect',
  'tcplife',
  'tcpstates',
  'tcptop',
  'tcptracer',
];
/** Objects minimalBtf must refuse, and why. */
const REFUSED: Record<string, string> = {
  runqlat: "program sched_wakeup (tp_btf/sched_wakeup) makes libbpf read the kernel's BTF",
  'tools/runqlat': "program sched_wakeup (tp_btf/sched_wakeup) makes libbpf read the kernel's BTF",
  'tools/biopattern': "not in the kernel's vmlinux BTF (libbpf would look in modules): trace_event_raw_block_rq_complete",
  'tools/vfsstat': "program fentry_vfs_read (fentry/vfs_read) makes libbpf read the kernel's BTF",
};

let dir: string;
const objects = new Map<string, Uint8Array>();

/** Each program's tag, from the fdinfo of its fd, after a load against `btfPath` (the kernel's own when undefined); or the load's error. */
function tags(bytes: Uint8Array, btfPath: string | undefined): Record<string, string> | { error: string } {
  const o = BpfObject.open(bytes, { name: 'btfmin', btfPath });
  try {
    o.load();
    const out: Record<string, string> = {};
    for (const p of o.programs()) {
      if (p.fd >= 0) out[p.name] = /^prog_tag:\s*([0-9a-f]{16})$/m.exec(readFileSync(`/proc/self/fdinfo/${p.fd}`, 'utf8'))![1]!;
    }
    return out;
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    o.close();
  }
}

describeWith(['root', 'btf', 'native', 'clang', 'libbpf-tools'], 'minimal BTF: the same relocated programs as the kernel BTF', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ebpm-btfmin-'));
    setBpfLog(null);
    for (const name of EXAMPLES) objects.set(name, await exampleObject(name));
    for (const fixtures of ['test/bpf/fixtures', 'test/run/fixtures']) {
      for (const f of readdirSync(join(REPO, fixtures)).filter((n) => n.endsWith('.bpf.c'))) {
        const name = f.replace(/\.bpf\.c$/, '');
        objects.set(`fixtures/${name}`, await cachedObject(join(REPO, fixtures, f), `btfmin-${name}.bpf.o`));
      }
    }
    for (const tool of [...TOOLS, 'runqlat', 'biopattern', 'vfsstat']) objects.set(`tools/${tool}`, readFileSync(libbpfToolObject(tool, dir)));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each object that relocates against the kernel a minimal BTF, and refuses the others with the reason', () => {
    const verdicts = Object.fromEntries(
      [...objects].map(([name, bytes]) => {
        const roots = coreRoots(parseObject(bytes));
        if ('refused' in roots) return [name, roots.refused];
        const min = minimalBtf(readFileSync('/sys/kernel/btf/vmlinux'), roots);
        return [name, 'refused' in min ? min.refused : 'minimal'];
      }),
    );
    const noCore = 'no CO-RE relocations against kernel types';
    expect(verdicts).toEqual({
      sigsnoop: 'minimal',
      opensnoop: 'minimal',
      execsnoop: 'minimal',
      runqlat: REFUSED.runqlat,
      bootstrap: 'minimal',
      'fixtures/kinds': "program on_newtask (tp_btf/task_newtask) makes libbpf read the kernel's BTF",
      'fixtures/map-extra': noCore,
      'fixtures/maps': 'minimal',
      'fixtures/records': 'minimal',
      'fixtures/broken': noCore,
      'fixtures/helper': noCore,
      'fixtures/notp': noCore,
      ...Object.fromEntries(TOOLS.map((t) => [`tools/${t}`, 'minimal'])),
      'tools/runqlat': REFUSED['tools/runqlat'],
      'tools/biopattern': REFUSED['tools/biopattern'],
      'tools/vfsstat': REFUSED['tools/vfsstat'],
    });
  });

  it('loads every program of those objects with the same tag against the minimal BTF as against the kernel BTF', () => {
    const kernel = readFileSync('/sys/kernel/btf/vmlinux');
    const compared: string[] = [];
    for (const [name, bytes] of objects) {
      const roots = coreRoots(parseObject(bytes));
      if ('refused' in roots) continue;
      const min = minimalBtf(kernel, roots);
      if ('refused' in min) continue;
      const path = join(dir, `${name.replace('/', '-')}.btf`);
      writeFileSync(path, min.btf);
      const own = tags(bytes, undefined);
      expect({ name, tags: tags(bytes, path) }).toEqual({ name, tags: own });
      if (!('error' in own)) compared.push(name);
    }
    // Every one of them loaded here (a load that failed would have had to fail the same way both times).
    expect(compared).toEqual(['sigsnoop', 'opensnoop', 'execsnoop', 'bootstrap', 'fixtures/maps', 'fixtures/records', ...TOOLS.map((t) => `tools/${t}`)]);
  });
});
