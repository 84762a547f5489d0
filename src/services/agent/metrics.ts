// `ebpm agent --metrics`: the instances' counters in the Prometheus text exposition format
// (version 0.0.4, https://prometheus.io/docs/instrumenting/exposition_formats/).
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EbpmError } from '../../core/errors.js';
import type { InstanceStatus, MapSnapshot } from './supervisor.js';

const COUNTERS: readonly { name: string; help: string; value: (s: InstanceStatus) => number }[] = [
  { name: 'ebpm_instance_events_total', help: 'Events the instance delivered.', value: (s) => s.events },
  { name: 'ebpm_instance_lost_total', help: 'Events the kernel dropped before the instance read them.', value: (s) => s.lost },
  { name: 'ebpm_instance_restarts_total', help: 'Restarts of the instance after it failed.', value: (s) => s.restarts },
  { name: 'ebpm_instance_updates_total', help: 'Versions the instance swapped in (run --follow).', value: (s) => s.updates },
  { name: 'ebpm_instance_refusals_total', help: 'Updates the instance refused (trust policy, preflight, load).', value: (s) => s.refusals },
];

/** `renderMetrics` writes the counters of every instance, one family per counter, labelled by instance name. */
export function renderMetrics(instances: readonly InstanceStatus[]): string {
  let out = '';
  for (const c of COUNTERS) {
    out += `# HELP ${c.name} ${c.help}\n# TYPE ${c.name} counter\n`;
    for (const s of instances) out += `${c.name}{instance="${escapeLabel(s.name)}"} ${c.value(s)}\n`;
  }
  out += '# HELP ebpm_instance_up Whether the instance has a running child.\n# TYPE ebpm_instance_up gauge\n';
  for (const s of instances) out += `ebpm_instance_up{instance="${escapeLabel(s.name)}"} ${s.state === 'running' ? 1 : 0}\n`;
  return out;
}

/** `slotsOf` is the log2 slots of a histogram entry's value: `{"slots":[…]}` or the array itself; undefined for other maps. */
export function slotsOf(value: unknown): number[] | undefined {
  const slots = Array.isArray(value) ? value : typeof value === 'object' && value !== null ? (value as { slots?: unknown }).slots : undefined;
  return Array.isArray(slots) && slots.length > 0 && slots.every((c) => Number.isSafeInteger(c) && c >= 0) ? slots : undefined;
}

/**
 * `renderHistograms` writes the log2 histogram maps of the instances as one Prometheus histogram
 * family, a series per instance, map (`""` for a package's `@sample` map, which run does not
 * name) and key. Slot i is the bucket up to 2^(i+1)-1 (the bcc convention run draws), counts
 * summed over the slots below. It only grows as long as the package keeps its map (runqlat
 * does). The values' sum is not in the map, so `_sum` is left out (Prometheus takes a
 * histogram without it; rate() of the buckets and of `_count` works).
 */
export function renderHistograms(snapshots: readonly MapSnapshot[]): string {
  const name = 'ebpm_instance_map_histogram';
  let out = `# HELP ${name} Log2 histogram maps of the instances (the slots of their latest snapshot), cumulative per bucket.\n# TYPE ${name} histogram\n`;
  for (const s of snapshots) {
    for (const e of s.entries) {
      const slots = slotsOf(e.value);
      if (!slots) continue;
      const labels = `instance="${escapeLabel(s.instance)}",map="${escapeLabel(s.map)}",key="${escapeLabel(JSON.stringify(e.key))}"`;
      let total = 0;
      slots.forEach((c, i) => {
        total += c;
        out += `${name}_bucket{${labels},le="${2 ** (i + 1) - 1}"} ${total}\n`;
      });
      out += `${name}_bucket{${labels},le="+Inf"} ${total}\n${name}_count{${labels}} ${total}\n`;
    }
  }
  return out;
}

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** `parseAddress` reads `--metrics host:port` (`[::1]:9100` for IPv6). */
export function parseAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new EbpmError('USAGE', `agent: --metrics ${addr}: expected host:port`, { hint: 'e.g. --metrics 127.0.0.1:9464' });
  return { host: (m[1] ?? m[2])!, port };
}

/** `serveMetrics` answers `GET /metrics` on `addr` with `render()`; it resolves once listening, with the address it got. */
export async function serveMetrics(addr: string, render: () => string): Promise<{ server: Server; address: AddressInfo }> {
  const { host, port } = parseAddress(addr);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(render());
  });
  server.listen(port, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([e]) => {
      throw new EbpmError('AGENT_METRICS', `agent: --metrics ${addr}: ${(e as Error).message}`, { hint: 'give a free address' });
    }),
  ]);
  return { server, address: server.address() as AddressInfo };
}
