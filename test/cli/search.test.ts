// `ebpm search` against a real docker-registry behind a proxy that refuses and logs every write:
// packages in nested namespaces (their own index, or none) are found beside the location's
// index through the catalog; search sends no write; descriptions are cut to fit a terminal,
// to 60 characters in a pipe, and never with --no-trunc.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copy } from '../../src/content/copy.js';
import { Registry } from '../../src/registry/client.js';
import { OciLayout } from '../../src/store/layout.js';
import { runEbpm, ttyEbpm } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { describeWith } from '../helpers/prereq.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { packageLayout, sandbox, writeConfig, type Sandbox } from './helpers.js';

/** CSI sequences (ESC [ … letter). */
const ESCAPES = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');
const LONG = 'Trace signals sent between processes, with the sender, the target, the signal and the result';

describeWith(['registry', 'clang'], 'ebpm search', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let pusher: Sandbox;
  let sb: Sandbox;
  const search = (args: string[]) => runEbpm(['search', ...args], { env: sb.env });
  const writes = () => proxy.log.filter((l) => l.method !== 'GET' && l.method !== 'HEAD').map((l) => `${l.method} ${l.path}`);

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    for (const method of ['PUT', 'POST', 'PATCH', 'DELETE']) proxy.add({ method, times: Number.POSITIVE_INFINITY, fault: { kind: 'status', status: 405 } });
    pusher = sandbox({ EBPM_REGISTRY: `${reg.host}/ebpm` });
    const dir = (n: string) => join(pusher.root, 'src', n);
    // ebpm/sigsnoop in the location's index; ebpm/team/execsnoop in ebpm/team's; ebpm/team/tools/opensnoop in none.
    const sig = await packageLayout(dir('sigsnoop'), { version: '1.2.0', description: LONG });
    expect((await runEbpm(['push', sig.dir], { env: pusher.env })).code).toBe(0);
    const exec = await packageLayout(dir('execsnoop'), { name: 'execsnoop', version: '0.3.0', description: 'Trace exec() calls' });
    expect((await runEbpm(['push', exec.dir, '--to', `${reg.host}/ebpm/team/execsnoop`], { env: pusher.env })).code).toBe(0);
    const open = await packageLayout(dir('opensnoop'), { name: 'opensnoop', version: '2.0.0', description: 'Trace open() calls' });
    await copy(await OciLayout.open(open.dir), '2.0.0', new Registry(reg.host).repository('ebpm/team/tools/opensnoop'), '2.0.0');
    sb = sandbox();
    writeConfig(sb, { defaultRegistry: proxy.host, registries: [`${proxy.host}/ebpm`] });
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  const table = (description: string) =>
    [
      'NAME       VERSION  DESCRIPTION' + ' '.repeat(Math.max(0, description.length - 11)) + '  REFERENCE',
      `execsnoop  0.3.0    ${'Trace exec() calls'.padEnd(Math.max(11, description.length))}  ${proxy.host}/ebpm/team/execsnoop`,
      `opensnoop  2.0.0    ${'Trace open() calls'.padEnd(Math.max(11, description.length))}  ${proxy.host}/ebpm/team/tools/opensnoop`,
      `sigsnoop   1.2.0    ${description}  ${proxy.host}/ebpm/sigsnoop`,
      '',
    ].join('\n');

  it('finds packages in nested namespaces beside the index, without writing to the registry', async () => {
    const r = await search(['snoop', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sources: [{ location: `${proxy.host}/ebpm`, source: 'index', packages: 3 }], failed: [] });
    // In a pipe, cells are cut at 60 characters.
    expect(await search(['snoop', '--refresh'])).toEqual({ code: 0, signal: null, stderr: '', stdout: table(`${LONG.slice(0, 59)}…`) });
    expect(await search(['snoop', '--no-trunc'])).toEqual({ code: 0, signal: null, stderr: '', stdout: table(LONG) });
    expect(writes()).toEqual([]);
    expect(proxy.log.some((l) => l.path.startsWith('/v2/_catalog'))).toBe(true);
  });

  it('sees a nested package pushed since, at the next check of the registry', async () => {
    const late = await packageLayout(join(pusher.root, 'src', 'bindsnoop'), { name: 'bindsnoop', version: '1.0.0', description: 'Trace bind() calls' });
    await copy(await OciLayout.open(late.dir), '1.0.0', new Registry(reg.host).repository('ebpm/team/bindsnoop'), '1.0.0');
    const r = await search(['bind', '--refresh', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({
      hits: [{ name: 'bindsnoop', version: '1.0.0', reference: `${proxy.host}/ebpm/team/bindsnoop` }],
      sources: [{ source: 'index', packages: 4 }],
    });
    expect(writes()).toEqual([]);
  });

  it('cuts descriptions so that each line fits the terminal', async () => {
    const tty = ttyEbpm(['search', 'sigsnoop'], { env: { ...sb.env, NO_COLOR: '1' }, columns: 80 });
    expect(await tty.exited()).toBe(0);
    // What the terminal shows, without its escape sequences (cursor hiding).
    const lines = tty.screen().replace(ESCAPES, '').split('\r\n');
    const reference = `${proxy.host}/ebpm/sigsnoop`;
    const description = 80 - 'sigsnoop  1.2.0    '.length - 2 - reference.length;
    expect(lines).toEqual([
      `NAME      VERSION  ${'DESCRIPTION'.padEnd(description)}  REFERENCE`,
      `sigsnoop  1.2.0    ${LONG.slice(0, description - 1)}…  ${reference}`,
      '',
    ]);
    expect(lines[1]!.length).toBe(80);
  });
});
