// deploy/: no cluster and no container engine can run here, so this checks what can be checked
// without one. The plain manifest and the Helm chart (rendered by test/deploy/helm-render.ts, a
// stand-in for `helm template`) give objects valid under the published Kubernetes schemas, with
// the host mounts and capabilities ebpm needs and the agent's own flags; the instance files they
// carry pass the agent's own parser, and the agent runs the chart's instances from a ConfigMap
// volume laid out as the kubelet does; the trust policy they carry loads as ebpm loads it from
// the mount; and every file the Containerfile copies exists after `npm run build` and
// `npm run build:native`.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_FLAGS } from '../../src/cli/commands/agent.js';
import { type InstanceSpec, parseInstance } from '../../src/services/agent/instance.js';
import { loadEnvPolicy } from '../../src/sign/policy-file.js';
import { cliEnv, runEbpm, sandboxDir, type Running } from '../helpers/cli.js';
import { configMapVolume } from '../helpers/configmap.js';
import { describeWith } from '../helpers/prereq.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { ebpm, ebpmSync, ownCopy, programIds, programsOf, tempDir } from '../run/spawn.js';
import { renderChart } from './helm-render.js';
import { type Container, type DaemonSetLike, type K8sObject, only, readManifest, type ServiceLike, type Volume, validateObject } from './objects.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHART = join(ROOT, 'deploy/helm/ebpm-agent');
const MANIFEST = join(ROOT, 'deploy/kubernetes/daemonset.yaml');
const RELEASE = { name: 'ebpm', namespace: 'observability' };

/** The flags `ebpm agent` defines. */
const AGENT_FLAG_NAMES = Object.keys(AGENT_FLAGS);

const CAPABILITIES = { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_RESOURCE', 'SYS_PTRACE'] };

/** The flag names in an argument list (`--x v` pairs), in order. */
function flagNames(args: readonly string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2));
}

/** Reads an instance file with the agent's own parser (which throws on any bad field) and checks it is named as its key. */
function expectInstanceFile(key: string, text: string): InstanceSpec {
  const spec = parseInstance(key, text);
  expect(`${spec.name}.json`).toBe(key);
  return spec;
}

/** The pod's container and volumes, whatever the objects are named. */
function agentPod(objects: readonly Record<string, unknown>[]) {
  const pod = only<DaemonSetLike>(objects, 'DaemonSet').spec.template.spec;
  return { pod, container: pod.containers[0]!, volumes: pod.volumes };
}

function hostPaths(volumes: readonly Volume[]): Record<string, string> {
  return Object.fromEntries(volumes.flatMap((v) => (v.hostPath ? [[v.hostPath.path, v.hostPath.type]] : [])));
}

function mounts(container: Container): Record<string, string> {
  return Object.fromEntries(container.volumeMounts.map((m) => [m.mountPath, m.readOnly ? 'ro' : 'rw']));
}

/** Writes a trust Secret's files as the kubelet mounts them and loads the policy as the agent would. */
function loadMountedPolicy(secret: { stringData: Record<string, string> }) {
  const dir = join(sandboxDir('deploy-trust'), 'etc/ebpm/trust');
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(secret.stringData)) writeFileSync(join(dir, file), text);
  return loadEnvPolicy({ EBPM_TRUST_POLICY: join(dir, 'trust-policy.json') });
}

function expectAgentPod(objects: readonly Record<string, unknown>[]) {
  const { pod, container, volumes } = agentPod(objects);
  expect(pod.hostPID).toBe(true);
  expect(pod.automountServiceAccountToken).toBe(false);
  expect(container.securityContext).toMatchObject({
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: CAPABILITIES,
  });
  expect(hostPaths(volumes)).toEqual({
    '/var/lib/ebpm': 'DirectoryOrCreate',
    '/sys/fs/bpf': 'Directory',
    '/sys/kernel/tracing': 'Directory',
    '/sys/kernel/btf': 'Directory',
  });
  expect(mounts(container)).toMatchObject({
    '/etc/ebpm/instances.d': 'ro',
    '/etc/ebpm/trust': 'ro',
    '/var/lib/ebpm': 'rw',
    '/sys/fs/bpf': 'rw',
    '/sys/kernel/tracing': 'rw',
    '/sys/kernel/btf': 'ro',
    '/run/ebpm': 'rw',
    '/tmp': 'rw',
  });
  expect(container.args).toEqual(['--instances', '/etc/ebpm/instances.d', '--socket', '/run/ebpm/agent.sock', '--metrics', '0.0.0.0:9464']);
  expect(flagNames(container.args).filter((f) => !AGENT_FLAG_NAMES.includes(f))).toEqual([]);
  expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
  expect(container.env).toContainEqual({ name: 'EBPM_TRUST_POLICY', value: '/etc/ebpm/trust/trust-policy.json' });
  // The instance directory is the ConfigMap, the trust directory the Secret.
  const byMount = (path: string) => volumes.find((v) => v.name === container.volumeMounts.find((m) => m.mountPath === path)?.name);
  expect(byMount('/etc/ebpm/instances.d')?.configMap?.name).toBe(only(objects, 'ConfigMap').metadata.name);
  return { pod, container, volumes, byMount };
}

describe('the schema check', () => {
  it('rejects fields the schema does not know, as strict field validation does', () => {
    const ds = only<DaemonSetLike>(readManifest(MANIFEST), 'DaemonSet');
    Object.assign(ds.spec.template.spec, { hostPid: true });
    Object.assign(ds.spec.template.spec.containers[0]!.securityContext, { readOnlyRootFileSystem: true });
    expect(() => validateObject(ds as unknown as K8sObject)).toThrow(
      'DaemonSet: unknown fields /spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem, /spec/template/spec/hostPid',
    );
  });

  it('rejects a DaemonSet the API server would reject', () => {
    const ds = only<DaemonSetLike>(readManifest(MANIFEST), 'DaemonSet');
    const c = ds.spec.template.spec.containers[0]!;
    c.securityContext.privileged = 'no';
    c.volumeMounts[0] = { name: 'instances' } as Container['volumeMounts'][0];
    expect(() => validateObject(ds as unknown as K8sObject)).toThrow(
      'data/spec/template/spec/containers/0/securityContext/privileged must be boolean, data/spec/template/spec/containers/0/volumeMounts/0 must have required property mountPath',
    );
  });
});

describe('deploy/kubernetes/daemonset.yaml', () => {
  const objects = readManifest(MANIFEST);

  it('holds valid Kubernetes objects', () => {
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(['v1 Namespace', 'v1 ServiceAccount', 'v1 ConfigMap', 'v1 Secret', 'apps/v1 DaemonSet']);
    for (const o of objects) validateObject(o);
    expect(only(objects, 'Namespace').metadata).toEqual({ name: 'ebpm', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } });
  });

  it('runs the agent with least privilege and the host mounts it needs', () => {
    const { volumes, byMount } = expectAgentPod(objects);
    expect(byMount('/etc/ebpm/trust')?.secret?.secretName).toBe(only(objects, 'Secret').metadata.name);
    expect(volumes.find((v) => v.name === 'registry-auth')?.secret).toEqual({
      secretName: 'ebpm-registry',
      optional: true,
      items: [{ key: '.dockerconfigjson', path: 'config.json' }],
    });
  });

  it('carries instance files the agent reads', () => {
    const data = only(objects, 'ConfigMap').data;
    expect(Object.keys(data)).toEqual(['sigsnoop.json', 'opensnoop.json']);
    expect(expectInstanceFile('sigsnoop.json', data['sigsnoop.json']!)).toEqual({
      name: 'sigsnoop',
      ref: 'registry.example/ebpm/sigsnoop@^1',
      params: {},
      args: [],
      follow: true,
      output: { kind: 'stdout' },
      duration: undefined,
    });
    expect(expectInstanceFile('opensnoop.json', data['opensnoop.json']!)).toEqual({
      name: 'opensnoop',
      ref: 'registry.example/ebpm/opensnoop@1.0',
      params: { failed: true },
      args: [],
      follow: false,
      output: { kind: 'file', path: '/var/lib/ebpm/logs/opensnoop.jsonl', maxBytes: 10485760, keep: 3 },
      duration: undefined,
    });
  });

  it("names only parameters the example packages define, as run's flags", async () => {
    // The instances name the published examples: each parameter must be a flag of
    // `ebpm run examples/<name>`, which is how the agent passes it on.
    for (const text of Object.values(only(objects, 'ConfigMap').data)) {
      const doc = JSON.parse(text) as { name: string; params?: Record<string, unknown> };
      const help = await runEbpm(['run', `examples/${doc.name}`, '--help'], { cwd: ROOT, env: cliEnv(sandboxDir('deploy-help')) });
      expect(help.code).toBe(0);
      for (const param of Object.keys(doc.params ?? {})) expect(help.stdout).toContain(`--${param}`);
    }
  });

  it('carries a trust policy ebpm loads from the mount, requiring signatures', () => {
    const policy = loadMountedPolicy(only(objects, 'Secret'));
    expect(policy.scopes.map((s) => [s.pattern, s.require, s.keys.map((k) => k.label)])).toEqual([['*', 'require-signature', ['release']]]);
  });
});

describe('deploy/helm/ebpm-agent', () => {
  it('renders valid Kubernetes objects from its default values', () => {
    const objects = renderChart(CHART, RELEASE);
    expect(objects.map((o) => `${o.apiVersion} ${o.kind} ${(o.metadata as { name: string }).name}`)).toEqual([
      'v1 ConfigMap ebpm-ebpm-agent-instances',
      'apps/v1 DaemonSet ebpm-ebpm-agent',
      'v1 Secret ebpm-ebpm-agent-trust',
      'v1 ServiceAccount ebpm-ebpm-agent',
    ]);
    for (const o of objects) {
      validateObject(o as K8sObject);
      expect((o.metadata as { namespace: string }).namespace).toBe('observability');
    }
    const { pod, container, volumes, byMount } = expectAgentPod(objects);
    expect(container.image).toBe('registry.example/ebpm/agent:0.1.0');
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(byMount('/etc/ebpm/trust')?.secret?.secretName).toBe('ebpm-ebpm-agent-trust');
    expect(volumes.map((v) => v.name)).not.toContain('registry-auth');
    expect(container.env.map((e) => e.name)).toEqual(['EBPM_TRUST_POLICY', 'EBPM_CACHE_DIR']);
    expect(only(objects, 'ServiceAccount').automountServiceAccountToken).toBe(false);
  });

  it('renders the values given: image, placement, registry, credentials, trust, metrics', () => {
    const objects = renderChart(CHART, RELEASE, {
      image: { repository: 'harbor.example/ebpm/agent', tag: '0.2.0', pullPolicy: 'Always' },
      defaultRegistry: 'harbor.example/tools',
      nodeSelector: { 'ebpm.example/trace': 'yes' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }],
      registryCredentials: { existingSecret: 'harbor-pull' },
      trust: { existingSecret: 'fleet-trust' },
      metrics: { port: 9500, service: { enabled: true, port: 80 } },
    });
    expect(objects.map((o) => o.kind)).toEqual(['ConfigMap', 'DaemonSet', 'Service', 'ServiceAccount']);
    for (const o of objects) validateObject(o as K8sObject);
    const { pod, container, volumes } = agentPod(objects);
    expect(container.image).toBe('harbor.example/ebpm/agent:0.2.0');
    expect(container.imagePullPolicy).toBe('Always');
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', 'ebpm.example/trace': 'yes' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }]);
    expect(container.env).toEqual([
      { name: 'EBPM_TRUST_POLICY', value: '/etc/ebpm/trust/trust-policy.json' },
      { name: 'EBPM_CACHE_DIR', value: '/var/lib/ebpm/cache' },
      { name: 'DOCKER_CONFIG', value: '/etc/ebpm/registry-auth' },
      { name: 'EBPM_REGISTRY', value: 'harbor.example/tools' },
    ]);
    expect(volumes.find((v) => v.name === 'trust')?.secret).toEqual({ secretName: 'fleet-trust' });
    expect(volumes.find((v) => v.name === 'registry-auth')?.secret).toEqual({
      secretName: 'harbor-pull',
      items: [{ key: '.dockerconfigjson', path: 'config.json' }],
    });
    expect(mounts(container)['/etc/ebpm/registry-auth']).toBe('ro');
    expect(container.args.at(-1)).toBe('0.0.0.0:9500');
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9500, protocol: 'TCP' }]);
    const svc = only<ServiceLike>(objects, 'Service');
    expect(svc.spec.selector).toEqual(only<DaemonSetLike>(objects, 'DaemonSet').spec.selector.matchLabels);
    expect(svc.spec.ports).toEqual([{ name: 'metrics', port: 80, targetPort: 'metrics', protocol: 'TCP' }]);
  });

  it('writes each instance of the values as an instance file the agent reads', () => {
    const instances = [
      { name: 'sigsnoop', ref: 'harbor.example/tools/sigsnoop@^1', follow: true, output: 'stdout' },
      {
        name: 'opensnoop',
        ref: 'opensnoop:1',
        params: { pid: 1, failed: true },
        args: ['-v'],
        duration: 3600,
        output: { file: '/var/lib/ebpm/logs/o.jsonl', maxBytes: 1048576, keep: 2 },
      },
    ];
    const data = only(renderChart(CHART, RELEASE, { instances }), 'ConfigMap').data;
    expect(Object.keys(data)).toEqual(['sigsnoop.json', 'opensnoop.json']);
    expect(expectInstanceFile('sigsnoop.json', data['sigsnoop.json']!)).toEqual({ ...instances[0], params: {}, args: [], output: { kind: 'stdout' } });
    expect(expectInstanceFile('opensnoop.json', data['opensnoop.json']!)).toEqual({
      ...instances[1],
      follow: false,
      output: { kind: 'file', path: '/var/lib/ebpm/logs/o.jsonl', maxBytes: 1048576, keep: 2 },
    });
  });

  it('carries the trust policy and keys of its values, which ebpm loads from the mount', () => {
    const policy = loadMountedPolicy(only(renderChart(CHART, RELEASE), 'Secret'));
    expect(policy.scopes.map((s) => [s.pattern, s.require, s.keys.map((k) => k.label)])).toEqual([['*', 'require-signature', ['release']]]);
  });

  it('keeps the plain manifest and the chart on the same pod', () => {
    const plain = agentPod(readManifest(MANIFEST));
    const chart = agentPod(renderChart(CHART, RELEASE, { registryCredentials: { existingSecret: 'ebpm-registry' } }));
    expect(chart.container.securityContext).toEqual(plain.container.securityContext);
    expect(chart.container.resources).toEqual(plain.container.resources);
    expect(mounts(chart.container)).toEqual(mounts(plain.container));
    expect(hostPaths(chart.volumes)).toEqual(hostPaths(plain.volumes));
  });
});

describeWith(['root', 'btf', 'clang', 'native', 'bpftool'], "the agent on the chart's rendered instances", () => {
  const objects = renderChart(CHART, RELEASE);
  const data = only(objects, 'ConfigMap').data;
  const names = Object.entries(data).map(([key, text]) => expectInstanceFile(key, text).name);
  /** Each example's programs under names of their own: other test files load the same examples. */
  const PROGRAMS: Record<string, { from: string; to: string; names: string[] }> = {
    sigsnoop: { from: 'sig_trace', to: 'dp_sig_trace', names: ['dp_sig_trace'] },
    opensnoop: { from: 'trace_openat', to: 'dp_openat', names: ['dp_openat_enter', 'dp_openat_exit'] },
  };
  let dir = '';
  let socket = '';
  let agent: Running;
  let metrics = '';

  beforeAll(async () => {
    dir = tempDir();
    const local: Record<string, string> = {};
    for (const [key, text] of Object.entries(data)) {
      const doc = JSON.parse(text) as Record<string, unknown> & { name: string; output?: unknown };
      const pkg = ownCopy(doc.name, dir, PROGRAMS[doc.name]!.from, PROGRAMS[doc.name]!.to);
      expect(ebpmSync(['build', pkg]).code).toBe(0);
      // The chart's refs name a registry (registry.example) that does not exist here: each runs
      // the example it names, built into a local layout. `follow` goes with them (run follows
      // registry references only), and a file output moves from the node's /var/lib/ebpm into
      // the temp dir; name, params, args and output kind stay the chart's.
      const { follow: _, ...rest } = doc;
      local[key] = JSON.stringify({
        ...rest,
        ref: join(pkg, 'out'),
        ...(typeof doc.output === 'object' ? { output: { ...doc.output, file: join(dir, 'logs', `${doc.name}.jsonl`) } } : {}),
      });
    }
    configMapVolume(join(dir, 'instances.d'), local);
    socket = join(dir, 'agent.sock');
    // The pod's own arguments, its paths mapped into the temp dir and its metrics port to a free one.
    const paths = { '/etc/ebpm/instances.d': join(dir, 'instances.d'), '/run/ebpm/agent.sock': socket, '0.0.0.0:9464': '127.0.0.1:0' };
    const args = agentPod(objects).container.args.map((a) => paths[a as keyof typeof paths] ?? a);
    expect(args).toEqual(['--instances', join(dir, 'instances.d'), '--socket', socket, '--metrics', '127.0.0.1:0']);
    agent = ebpm(['agent', ...args], { env: cliEnv(join(dir, 'home')) });
    await agent.waitFor(/agent: listening on \S+, metrics on http:\/\/\S+\/metrics\n/);
    metrics = /metrics on http:\/\/(\S+)\/metrics\n/.exec(agent.stderr())![1]!;
    for (const name of names) await agent.waitFor(new RegExp(`\n${name}: ${name} \\S+: attached `));
  }, 180_000);
  afterAll(async () => {
    if (agent && agent.child.exitCode === null) {
      agent.child.kill('SIGTERM');
      await agent.exited();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs exactly the chart's instances: ebpm ps lists them running, each with its programs loaded", async () => {
    const r = await runEbpm(['ps', '--json', '--socket', socket], { env: cliEnv(join(dir, 'home')) });
    expect([r.code, r.stderr]).toEqual([0, '']);
    const status = JSON.parse(r.stdout) as { instances: { name: string; state: string; pid: number }[]; problems: unknown[] };
    expect(status.problems).toEqual([]);
    expect(status.instances.map((i) => [i.name, i.state])).toEqual([...names].sort().map((n) => [n, 'running']));
    for (const i of status.instances) {
      const ids = PROGRAMS[i.name]!.names.flatMap(programIds).sort((a, b) => a - b);
      expect(ids).toHaveLength(PROGRAMS[i.name]!.names.length);
      expect(programsOf(i.pid)).toEqual(ids);
    }
  });

  it('/metrics has ebpm_instance_up 1 for each of them', async () => {
    const families = parsePrometheus(await (await fetch(`http://${metrics}/metrics`)).text());
    expect(Object.fromEntries(families.get('ebpm_instance_up')!.samples)).toEqual(
      Object.fromEntries(names.map((n) => [`ebpm_instance_up{instance="${n}"}`, 1])),
    );
  });
});

describe('deploy/Containerfile', () => {
  const lines = readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const instruction = (name: string) => lines.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  it('copies only what exists after npm run build and npm run build:native', () => {
    const sources = instruction('COPY').flatMap((args) => args.split(/\s+/).slice(0, -1));
    expect(sources).toEqual(['package.json', 'dist', 'bin', 'native/build/Release/ebpm_native.node', 'scripts/snapshot.mjs']);
    expect(sources.filter((s) => !existsSync(join(ROOT, s)))).toEqual([]);
  });

  it('builds on Node 20 and bookworm with the addon libraries, and a start-up snapshot for its node', () => {
    expect(instruction('FROM')).toEqual(['docker.io/library/node:20-bookworm-slim']);
    expect(instruction('RUN').find((r) => r.includes('apt-get install'))).toContain('libbpf1 libelf1 zlib1g');
    expect(instruction('RUN')).toContain('node scripts/snapshot.mjs');
  });

  it('starts the agent with flags it defines', () => {
    const entrypoint = JSON.parse(instruction('ENTRYPOINT')[0]!) as string[];
    const cmd = JSON.parse(instruction('CMD')[0]!) as string[];
    expect(entrypoint).toEqual(['ebpm', 'agent']);
    // `ebpm` on the PATH is a link to bin/ebpm.js, which runs through its #! line.
    expect(instruction('RUN')).toContain('ln -s /opt/ebpm/bin/ebpm.js /usr/local/bin/ebpm');
    expect(statSync(join(ROOT, 'bin/ebpm.js')).mode & 0o111).toBe(0o111);
    expect(cmd).toEqual(['--instances', '/etc/ebpm/instances.d', '--socket', '/run/ebpm/agent.sock', '--metrics', '0.0.0.0:9464']);
    expect(flagNames(cmd).filter((f) => !AGENT_FLAG_NAMES.includes(f))).toEqual([]);
  });
});
