// `ebpm agent` put together: the supervisor, its control socket and, when asked, the metrics endpoint.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { EbpmError } from '../../core/errors.js';
import { listenControl } from './control.js';
import { renderHistograms, renderMetrics, serveMetrics } from './metrics.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';

export const DEFAULT_INSTANCES = '/etc/ebpm/instances.d';

export interface AgentOptions extends SupervisorOptions {
  readonly socket: string;
  /** The group (name or gid) whose members may use the socket. */
  readonly group: string | undefined;
  /** `host:port` to serve `/metrics` on. */
  readonly metrics: string | undefined;
}

export interface Agent {
  /** `host:port` the metrics endpoint listens on (the port the kernel chose for port 0). */
  readonly metricsAddress: string | undefined;
  rescan(): Promise<void>;
  /** `close` stops every instance (their programs detach), then the socket and the endpoint. */
  close(): Promise<void>;
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const gid = opts.group === undefined ? undefined : groupId(opts.group, readGroups());
  const supervisor = new Supervisor(opts);
  const control = await listenControl(opts.socket, supervisor, gid);
  let metrics: Server | undefined;
  let metricsAddress: string | undefined;
  try {
    if (opts.metrics !== undefined) {
      const m = await serveMetrics(opts.metrics, () => renderMetrics(supervisor.status().instances) + renderHistograms(supervisor.maps()));
      metrics = m.server;
      metricsAddress = `${m.address.family === 'IPv6' ? `[${m.address.address}]` : m.address.address}:${m.address.port}`;
    }
    await supervisor.start();
  } catch (e) {
    control.close();
    metrics?.close();
    throw e;
  }
  return {
    metricsAddress,
    rescan: () => supervisor.rescan(),
    async close() {
      await supervisor.close();
      control.close();
      metrics?.closeAllConnections();
      metrics?.close();
    },
  };
}

function readGroups(): string {
  try {
    return readFileSync('/etc/group', 'utf8');
  } catch {
    return '';
  }
}

/** `groupId` is the gid of `group` (a gid, or a name in `etcGroup`, the text of /etc/group). */
export function groupId(group: string, etcGroup: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of etcGroup.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new EbpmError('USAGE', `agent: --group ${group}: no such group`, { hint: 'create it (`groupadd ebpm`) or give a gid' });
}
